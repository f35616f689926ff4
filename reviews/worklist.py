"""The review worklist's rules: the day's list, sharing it out, contacting the buyer, handling, the
follow-up review and whom it is credited to, the cause, the marketplace's reply window, and the day's figures.

Plain functions over models, the acting person and ``now`` (aware UTC); days are the shop's dates
(``zone``). Every change lands in the timeline (subject "review"). The caller commits.

The day's list
--------------
At the list time (default 10:00 shop time) of day D, the negative and middle reviews (1–3 stars) written
on D-1 form D's list, a dated snapshot: ``ReviewDay.snapshot_count`` is its size then. Reviews of D-2 …
D-CATCH_UP_DAYS whose own list never formed (the scheduler was down that morning) are swept in too.
A review imported after its list formed joins that list marked ``late``. Clear rate of D = reviews of D's
list handled on D (shop date) / reviews of D's list (the snapshot and the late joins: both were due that day).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

import scheduler
from cases import sla
from models import Case, Review, ReviewContact, ReviewDay, User, UserError, db, get_setting, record
from reviews.labels import (
    CATCH_UP_DAYS,
    CHANNELS,
    CONTACT_OUTCOMES,
    DEFAULT_CAUSES,
    DEFAULT_WINDOW,
    DEFAULT_WINDOWS,
    FORBIDDEN_PHRASES,
    LIST_MAX_RATING,
    NEGATIVE_MAX_RATING,
    OTHER_CAUSE,
    OUTCOMES,
)


class ReviewRefused(UserError):
    """A step the worklist's rules do not allow; the message is for the person who tried."""


class ListAlreadyFormed(ReviewRefused):
    def __init__(self, day: date):
        super().__init__(_l("The list of %(day)s is formed already.", day=day.isoformat()))


# --- days and settings -------------------------------------------------------------------------------

def shop_date(moment: datetime, zone: tzinfo) -> date:
    return moment.astimezone(zone).date()


def list_forms_at(day: date, zone: tzinfo) -> datetime:
    """When the list of ``day`` forms (aware)."""
    return datetime.combine(day, scheduler.clock_setting("review_list_time"), zone)


def day_bounds(day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), zone)


def causes() -> list[str]:
    """The cause list in force: the lead's, else the default nine."""
    return list(get_setting("review_causes") or DEFAULT_CAUSES)


def goes_on_list(review: Review) -> bool:
    return review.rating <= LIST_MAX_RATING


def is_negative(review: Review) -> bool:
    return review.rating <= NEGATIVE_MAX_RATING


# --- forming the list and sharing it out ------------------------------------------------------------

def reviewers() -> list[User]:
    """Who shares the list: the lead's choice, else every active review specialist."""
    chosen = [int(user_id) for user_id in get_setting("review_reviewers") or []]
    statement = sa.select(User).where(User.active).order_by(User.id)
    statement = statement.where(User.id.in_(chosen)) if chosen else statement.where(User.role == "reviewer")
    return list(db.session.scalars(statement))


def share_out(reviews: list[Review], day: date, actor: User | None) -> None:
    """Round-robin over the reviewers, always to whoever has the fewest of the day's list (off: a lead shares by hand)."""
    if get_setting("review_assignment") != "round_robin":
        return
    people = reviewers()
    if not people:
        return
    load = Counter({person.id: 0 for person in people})
    for user_id, count in db.session.execute(
            sa.select(Review.assignee_id, sa.func.count()).where(Review.list_date == day, Review.assignee_id.is_not(None))
            .group_by(Review.assignee_id)):
        if user_id in load:
            load[user_id] = count
    order = {person.id: position for position, person in enumerate(people)}
    for review in sorted(reviews, key=lambda item: (item.reviewed_at, item.id or 0)):
        if review.assignee_id is not None:
            continue
        chosen = min(load, key=lambda user_id: (load[user_id], order[user_id]))
        review.assignee_id = chosen
        load[chosen] += 1


def form_list(day: date, now: datetime, zone: tzinfo, actor: User | None = None) -> ReviewDay:
    """Form ``day``'s list once; raises ListAlreadyFormed when it exists (the day is the key: two servers
    forming it at once leave one list). The caller commits."""
    if db.session.get(ReviewDay, day) is not None:
        raise ListAlreadyFormed(day)
    formed_days = set(db.session.scalars(sa.select(ReviewDay.day).where(
        ReviewDay.day >= day - timedelta(days=CATCH_UP_DAYS), ReviewDay.day < day)))
    review_days = [day - timedelta(days=1)]
    review_days += [day - timedelta(days=back) for back in range(2, CATCH_UP_DAYS + 1)
                    if day - timedelta(days=back - 1) not in formed_days]
    start = day_bounds(min(review_days), zone)[0]
    end = day_bounds(day - timedelta(days=1), zone)[1]
    members = [review for review in db.session.scalars(
        sa.select(Review).where(Review.list_date.is_(None), Review.rating <= LIST_MAX_RATING,
                                Review.reviewed_at >= start, Review.reviewed_at < end))
               if shop_date(review.reviewed_at, zone) in review_days]
    listed = ReviewDay(day=day, formed_at=now, formed_by_id=actor.id if actor else None, snapshot_count=len(members))
    db.session.add(listed)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise ListAlreadyFormed(day) from None
    for review in members:
        review.list_date, review.late = day, False
    share_out(members, day, actor)
    record(actor, "review_day", int(day.strftime("%Y%m%d")), "review_list_formed", day=day.isoformat(), count=len(members))
    return listed


def list_for(review: Review, zone: tzinfo) -> date:
    """The day whose list a review belongs on: the day after it was written."""
    return shop_date(review.reviewed_at, zone) + timedelta(days=1)


def place_new(reviews: list[Review], zone: tzinfo) -> int:
    """Reviews just imported or added: those whose list formed already join it, marked late. Returns how many joined."""
    candidates = [review for review in reviews if goes_on_list(review) and review.list_date is None]
    if not candidates:
        return 0
    days = {list_for(review, zone) for review in candidates}
    formed = set(db.session.scalars(sa.select(ReviewDay.day).where(ReviewDay.day.in_(days))))
    joined: dict[date, list[Review]] = defaultdict(list)
    for review in candidates:
        day = list_for(review, zone)
        if day in formed:
            review.list_date, review.late = day, True
            joined[day].append(review)
    for day, members in joined.items():
        share_out(members, day, None)
    return sum(len(members) for members in joined.values())


def assign(review: Review, assignee: User | None, actor: User) -> None:
    if assignee is not None and (not assignee.active or not assignee.can("work_reviews")):
        raise ReviewRefused(_l("%(name)s cannot work on reviews.", name=assignee.display_name))
    if review.assignee_id == (assignee.id if assignee else None):
        return
    before = review.assignee.display_name if review.assignee else ""
    review.assignee = assignee
    record(actor, "review", review.id, "review_assigned", before=before, after=assignee.display_name if assignee else "")


# --- working a review ------------------------------------------------------------------------------

def record_contact(review: Review, actor: User, channel: str, outcome: str, note: str, contacted_at: datetime,
                   now: datetime) -> ReviewContact:
    """One attempt to reach the buyer; several are allowed. A to-do review becomes contacted."""
    if channel not in CHANNELS or outcome not in CONTACT_OUTCOMES:
        raise ReviewRefused(_l("Choose the channel and the outcome from the lists."))
    if contacted_at > now + timedelta(minutes=5):
        raise ReviewRefused(_l("The contact time is in the future."))
    if contacted_at < review.reviewed_at:
        raise ReviewRefused(_l("The contact time is before the review was written."))
    contact = ReviewContact(review_id=review.id, user_id=actor.id, channel=channel, outcome=outcome,
                            note=note.strip()[:500], contacted_at=contacted_at)
    db.session.add(contact)
    if review.state == "todo":
        review.state = "contacted"
    db.session.flush()
    if review.follow_up_at is not None and review.follow_up_contact_id is None:
        credit_follow_up(review)
    record(actor, "review", review.id, "review_contacted", channel=channel, outcome=outcome, note=contact.note,
           at=contacted_at)
    return contact


def contacts_of(review: Review) -> list[ReviewContact]:
    return list(db.session.scalars(sa.select(ReviewContact).where(ReviewContact.review_id == review.id)
                                   .order_by(ReviewContact.contacted_at, ReviewContact.id)))


def credit_follow_up(review: Review) -> ReviewContact | None:
    """The follow-up review is credited to the last contact before it (none: it came on its own)."""
    before = [contact for contact in contacts_of(review) if contact.contacted_at <= review.follow_up_at]
    credited = before[-1] if before else None
    review.follow_up_contact_id = credited.id if credited else None
    return credited


def record_follow_up(review: Review, text: str, at: datetime, actor: User | None, now: datetime) -> ReviewContact | None:
    """The buyer's follow-up review (追评), typed by a reviewer or brought by an import; it closes the
    Tmall reply window and is credited to the contact before it."""
    if at > now + timedelta(minutes=5):
        raise ReviewRefused(_l("The follow-up time is in the future."))
    if at < review.reviewed_at:
        raise ReviewRefused(_l("A follow-up review comes after the review."))
    review.follow_up_text, review.follow_up_at = text.strip(), at
    credited = credit_follow_up(review)
    record(actor, "review", review.id, "review_followed_up", text=review.follow_up_text, at=at,
           credited=credited.user.display_name if credited is not None and credited.user else "")
    return credited


def set_cause(review: Review, cause: str, actor: User) -> None:
    """Confirm or correct the suggested cause; corrections teach the shop's lexicon (see shop_corrections)."""
    if cause not in causes():
        raise ReviewRefused(_l("Choose a cause from the list."))
    if review.cause == cause:
        return
    before = review.shown_cause
    review.cause, review.cause_by_id = cause, actor.id
    record(actor, "review", review.id, "review_cause_set", before=before, after=cause,
           corrected=cause != review.suggested_cause)


def forbidden_in(text: str) -> list[str]:
    """The forbidden offers (好评返现, 改评, 删评 …) a text contains, in the order they appear, a phrase inside a
    longer one found (返现 in 好评返现) not repeated. Spaces are ignored (删 评 is 删评)."""
    compact = "".join(text.split())
    found: list[str] = []
    for phrase in sorted(FORBIDDEN_PHRASES, key=len, reverse=True):
        if phrase in compact and not any(phrase in longer for longer in found):
            found.append(phrase)
    return sorted(found, key=compact.index)


def handle(review: Review, actor: User, outcome: str, now: datetime, *, reply: str = "", note: str = "",
           case: Case | None = None, windows: dict | None = None) -> None:
    """Mark a review handled: a public reply or explanation posted (checked against the window and its
    length), a case opened or linked, or no action with a reason. Unconfirmed causes are confirmed as suggested."""
    if outcome not in OUTCOMES:
        raise ReviewRefused(_l("Choose what was done."))
    if review.state == "handled":
        raise ReviewRefused(_l("This review is handled already."))
    note = note.strip()
    if outcome == "replied":
        check_reply(review, reply, now, windows)
        review.reply_text, review.replied_at = reply.strip(), now
        review.reply_flagged = bool(forbidden_in(reply))
    elif outcome == "case":
        if case is None:
            raise ReviewRefused(_l("Choose the case to link, or open one from the review."))
        link_case(review, case, actor)
    elif not note:
        raise ReviewRefused(_l("Say why nothing is done."))
    if not review.cause:
        review.cause = review.suggested_cause or OTHER_CAUSE
    review.state, review.outcome, review.outcome_note = "handled", outcome, note[:500]
    review.handled_at, review.handled_by_id = now, actor.id
    record(actor, "review", review.id, "review_handled", outcome=outcome, note=review.outcome_note,
           reply=review.reply_text if outcome == "replied" else "", flagged=review.reply_flagged,
           case=case.id if case is not None else None)


def reopen(review: Review, actor: User) -> None:
    if review.state != "handled":
        raise ReviewRefused(_l("This review is not handled."))
    review.state = "contacted" if contacts_of(review) else "todo"
    review.outcome, review.handled_at, review.handled_by_id = None, None, None
    record(actor, "review", review.id, "review_reopened")


def link_case(review: Review, case: Case, actor: User) -> None:
    """Review and case point at each other: the case's timeline says so, the review shows the case's state."""
    if review.case_id == case.id:
        return
    if case.platform != review.platform or (review.order_no and case.order_no != review.order_no):
        raise ReviewRefused(_l("Case %(ref)s is for another order.", ref=case.reference))
    review.case, review.case_id = case, case.id
    record(actor, "review", review.id, "review_case_linked", case=case.id)
    record(actor, "case", case.id, "case_review_linked", review=review.id, rating=review.rating)


def of_case(case_id: int) -> list[Review]:
    """The reviews linked to a case, for the case page."""
    return list(db.session.scalars(sa.select(Review).where(Review.case_id == case_id).order_by(Review.id)))


def matching_cases(review: Review) -> list[Case]:
    """Cases of the same order, to link instead of opening another."""
    if not review.order_no:
        return []
    return list(db.session.scalars(sa.select(Case).where(Case.platform == review.platform, Case.order_no == review.order_no)
                                   .order_by(Case.id.desc()).limit(10)))


# --- the marketplace's reply window ------------------------------------------------------------------

def window_rules(platform: str, windows: dict | None = None) -> dict:
    """The platform's reply rules: the lead's setting over the documented default."""
    stored = (get_setting("review_windows") if windows is None else windows) or {}
    return {**DEFAULT_WINDOW, **DEFAULT_WINDOWS.get(platform, {}), **stored.get(platform, {})}


@dataclass(frozen=True)
class Window:
    """Whether a reply can still be posted: the same colours as the case clocks."""

    closes_at: datetime
    status: str                 # on_time, at_risk, overdue (closed)
    closed_by_follow_up: bool
    max_chars: int
    risk_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.status != sla.OVERDUE

    def changes_at(self, now: datetime) -> datetime | None:
        return sla.next_status_change(None if self.status == sla.OVERDUE else self.closes_at, self.risk_at, now)


def reply_window(review: Review, now: datetime, windows: dict | None = None, at_risk_percent: int | None = None) -> Window:
    rules = window_rules(review.platform, windows)
    closes_at = review.reviewed_at + timedelta(days=int(rules["days"]))
    by_follow_up = bool(rules["closes_at_follow_up"]) and review.follow_up_at is not None
    percent = int(get_setting("at_risk_percent") if at_risk_percent is None else at_risk_percent)
    risk_at = closes_at - (closes_at - review.reviewed_at) * percent / 100
    if by_follow_up:
        return Window(min(closes_at, review.follow_up_at), sla.OVERDUE, True, int(rules["max_chars"]))
    return Window(closes_at, sla.status_at(closes_at, risk_at, now), False, int(rules["max_chars"]), risk_at)


def check_reply(review: Review, reply: str, now: datetime, windows: dict | None = None) -> None:
    reply = reply.strip()
    if not reply:
        raise ReviewRefused(_l("Write the reply that was posted."))
    window = reply_window(review, now, windows)
    if len(reply) > window.max_chars:
        raise ReviewRefused(_l("The reply has %(count)s characters; %(platform)s allows at most %(max)s.",
                               count=len(reply), platform=review.shop.platform_label, max=window.max_chars))
    if window.closed_by_follow_up:
        raise ReviewRefused(_l("The buyer added a follow-up review, so %(platform)s no longer takes an explanation.",
                               platform=review.shop.platform_label))
    if not window.is_open:
        raise ReviewRefused(_l("The reply window closed on %(time)s.", time=window.closes_at.strftime("%Y-%m-%d %H:%M UTC")))


# --- a shop's corrections teach the suggestion ---------------------------------------------------------

def shop_corrections(shop_id: int, limit: int = 2000) -> dict[str, str]:
    """The shop's confirmed causes, newest first ({text: cause}), for causes.learn."""
    rows = db.session.execute(sa.select(Review.text, Review.cause).where(
        Review.shop_id == shop_id, Review.cause.is_not(None), Review.text != "").order_by(Review.id.desc()).limit(limit))
    return {text: cause for text, cause in rows}


# --- the day's figures ----------------------------------------------------------------------------------

@dataclass
class Figures:
    due: int = 0
    handled_same_day: int = 0
    handled: int = 0
    late: int = 0
    contacted_negative: int = 0
    followed_up: int = 0

    @property
    def left(self) -> int:
        return self.due - self.handled

    @property
    def clear_rate(self) -> float | None:
        return self.handled_same_day / self.due if self.due else None

    @property
    def follow_up_rate(self) -> float | None:
        return self.followed_up / self.contacted_negative if self.contacted_negative else None


@dataclass
class DayFigures:
    day: date
    listed: ReviewDay | None
    overall: Figures = field(default_factory=Figures)
    by_reviewer: dict = field(default_factory=dict)  # user id (or None) -> Figures
    by_cause: Counter = field(default_factory=Counter)
    by_shop: Counter = field(default_factory=Counter)


def day_figures(day: date, zone: tzinfo) -> DayFigures:
    """Clear rate (handled on the list's day / the list) and follow-up rate (contacted negative reviews whose
    follow-up review is credited to a contact / contacted negative reviews), overall and per reviewer.

    A review counts for its assignee; its follow-up for whoever made the contact it is credited to.
    Three queries whatever the list's size.
    """
    figures = DayFigures(day, db.session.get(ReviewDay, day))
    start, end = day_bounds(day, zone)
    contacted = set(db.session.scalars(sa.select(ReviewContact.review_id).join(Review, Review.id == ReviewContact.review_id)
                                       .where(Review.list_date == day)))
    credited = dict(db.session.execute(sa.select(ReviewContact.id, ReviewContact.user_id)
                                       .join(Review, Review.follow_up_contact_id == ReviewContact.id)
                                       .where(Review.list_date == day)).all())
    rows = db.session.execute(sa.select(Review.id, Review.assignee_id, Review.state, Review.handled_at, Review.late,
                                        Review.rating, Review.follow_up_contact_id, Review.cause, Review.suggested_cause,
                                        Review.shop_id).where(Review.list_date == day))
    for row in rows:
        targets = [figures.overall, figures.by_reviewer.setdefault(row.assignee_id, Figures())]
        for target in targets:
            target.due += 1
            target.late += row.late
            if row.state == "handled":
                target.handled += 1
                target.handled_same_day += row.handled_at is not None and start <= row.handled_at < end
        figures.by_cause[row.cause or row.suggested_cause or OTHER_CAUSE] += 1
        figures.by_shop[row.shop_id] += 1
        if row.rating <= NEGATIVE_MAX_RATING and row.id in contacted:
            figures.overall.contacted_negative += 1
            figures.by_reviewer[row.assignee_id].contacted_negative += 1
            if row.follow_up_contact_id is not None:
                figures.overall.followed_up += 1
                credited_to = credited.get(row.follow_up_contact_id, row.assignee_id)
                figures.by_reviewer.setdefault(credited_to, Figures()).followed_up += 1
    return figures


def left_today(user: User, day: date) -> int:
    """The header's number: reviews of today's list not yet handled (mine; a lead's: everyone's)."""
    statement = sa.select(sa.func.count()).select_from(Review).where(Review.list_date == day, Review.state != "handled")
    if not user.can("lead_reviews"):
        statement = statement.where(Review.assignee_id == user.id)
    return db.session.scalar(statement) or 0


def weekly_causes(today: date, weeks: int, zone: tzinfo) -> tuple[list[date], dict[str, list[int]]]:
    """Counts of listed reviews by cause per week (Monday first), the last ``weeks`` weeks up to this one."""
    this_monday = today - timedelta(days=today.weekday())
    mondays = [this_monday - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]
    start = mondays[0]
    counts: dict[str, list[int]] = {}
    rows = db.session.execute(sa.select(Review.list_date, sa.func.coalesce(Review.cause, Review.suggested_cause), sa.func.count())
                              .where(Review.list_date >= start).group_by(Review.list_date, sa.func.coalesce(Review.cause, Review.suggested_cause)))
    for day, cause, count in rows:
        week = (day - start).days // 7
        if 0 <= week < weeks:
            counts.setdefault(cause or OTHER_CAUSE, [0] * weeks)[week] += count
    return mondays, counts
