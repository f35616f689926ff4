"""The end-of-day summary of the review list: its figures, the texts that carry them (robot markdown, mail,
workbook), the summary kept with its date, and its deliveries, retried until sent and never dropped.

``compose`` returns plain JSON (the page, the kept summary, the markdown, the mail and the workbook all read
the same dict). Buyers' words in it are data: the markdown escapes them with ``notify.escape_markdown``,
the HTML goes through Jinja's autoescape, the workbook writes them as plain string cells.

Deliveries (one per channel: the mail, each robot) are an outbox. ``create`` keeps the summary and its
deliveries as pending; ``deliver`` first takes a delivery in its own committed transaction (a conditional
UPDATE: two schedulers, or the scheduler and the resend button, never send it both), then sends, then
commits the outcome. A retryable failure waits 5, 15, 30, 60 minutes, then every 2 hours (``retry_due``);
one that cannot pass with time (a wrong secret, no mail server) waits for a person to fix the settings and
press resend. A process that dies after sending but before recording it sends once more when its lease
runs out: a summary arrives twice rather than never. No request in here.
"""

from __future__ import annotations

import urllib.parse
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app, render_template_string
from flask_babel import force_locale
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

import notify
from models import Review, ReviewContact, ReviewSummary, SummaryDelivery, User, db, get_setting, record
from reviews import worklist
from reviews.labels import NEGATIVE_MAX_RATING, REACHED, REVIEW_STATES
from spreadsheets import xlsx_cell

CLEAR_RATE_TARGET = 0.8  # DOMAIN.md §4
FOLLOW_UP_RATE_TARGET = 0.5
EXCERPT_CHARS = 80
ITEMS_KEPT = 1000  # left and notable items kept in the figures; the counts are always whole
MARKDOWN_LIMITS = (10, 8, 6, 4, 3, 2, 1, 0)  # items per list, tried in turn until the robot message fits
MAIL_ITEMS = 500
BACKOFF = (timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=30), timedelta(minutes=60))
BACKOFF_AFTER = timedelta(hours=2)  # after the fourth failure, every two hours until it goes
SENDING_LEASE = timedelta(minutes=15)  # longer than a send can take (20 robot messages x 10 s timeouts)
NO_MAIL_SERVER = "no mail server configured (set SMTP_HOST and SMTP_SENDER)"
REDACTED = "***"
SECRET_QUERY_KEYS = {"key", "access_token", "token", "secret"}  # WeCom: key; DingTalk: access_token

NOTABLE_KINDS = ("one_star_pictures", "flagged_reply", "case", "follow_up", "late")


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def rate_text(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.0f}%"


# --- the figures ------------------------------------------------------------------------------------------

def _rates(part: worklist.Figures) -> dict:
    return {"due": part.due, "handled": part.handled, "handled_same_day": part.handled_same_day, "left": part.left,
            "late": part.late, "contacted_negative": part.contacted_negative, "followed_up": part.followed_up,
            "clear_rate": part.clear_rate, "follow_up_rate": part.follow_up_rate}


def _item(review: Review) -> dict:
    return {"id": review.id, "ref": review.reference, "shop": review.shop.name, "rating": review.rating,
            "assignee": review.assignee.display_name if review.assignee else None, "state": review.state}


def compose(day: date, zone: tzinfo, now: datetime) -> dict:
    """The figures of ``day``'s list as JSON: rates overall and per reviewer (worklist.day_figures), counts by
    cause and shop, what was done, what is left, and the notable reviews. The same few queries whatever the list's size."""
    figures = worklist.day_figures(day, zone)
    start, end = worklist.day_bounds(day, zone)
    listed = list(db.session.scalars(
        sa.select(Review).options(so.joinedload(Review.shop), so.joinedload(Review.assignee))
        .where(Review.list_date == day).order_by(Review.rating, Review.reviewed_at, Review.id)))
    followed_today = list(db.session.scalars(
        sa.select(Review).options(so.joinedload(Review.shop), so.joinedload(Review.assignee))
        .where(Review.follow_up_at >= start, Review.follow_up_at < end).order_by(Review.rating, Review.id)))
    contacts = db.session.execute(
        sa.select(ReviewContact.outcome, sa.func.count()).join(Review, Review.id == ReviewContact.review_id)
        .where(Review.list_date == day).group_by(ReviewContact.outcome)).all()
    people = {user.id: user.display_name for user in db.session.scalars(
        sa.select(User).where(User.id.in_([key for key in figures.by_reviewer if key is not None])))}
    shops = {review.shop_id: review.shop.name for review in listed}

    notable: dict[int, dict] = {}

    def mark(review: Review, kind: str, **detail) -> None:
        entry = notable.setdefault(review.id, {**_item(review), "kinds": [], "excerpt": excerpt(review.text)})
        entry["kinds"].append(kind)
        entry.update(detail)

    for review in listed:
        if review.rating == 1 and review.picture_count > 0:
            mark(review, "one_star_pictures")
        if review.reply_flagged:
            mark(review, "flagged_reply", reply=excerpt(review.reply_text))
        if review.case_id is not None:
            mark(review, "case", case=review.case_id)
    for review in followed_today:
        mark(review, "follow_up", follow_up=excerpt(review.follow_up_text))
    for review in listed:
        if review.late:
            mark(review, "late")
    notable_items = sorted(notable.values(), key=lambda item: (item["rating"], NOTABLE_KINDS.index(item["kinds"][0]), item["id"]))

    left = [_item(review) for review in listed if review.state != "handled"]
    outcomes = Counter(review.outcome for review in listed if review.state == "handled")
    reviewers = [{"name": people.get(user_id), **_rates(part)} for user_id, part in figures.by_reviewer.items()]
    reviewers.sort(key=lambda row: (row["name"] is None, row["name"] or ""))
    return {
        "day": day.isoformat(),
        "composed_at": now.isoformat(),
        "listed": figures.listed is not None,
        "formed_at": figures.listed.formed_at.isoformat() if figures.listed else None,
        "snapshot_count": figures.listed.snapshot_count if figures.listed else 0,
        "targets": {"clear_rate": CLEAR_RATE_TARGET, "follow_up_rate": FOLLOW_UP_RATE_TARGET},
        "overall": _rates(figures.overall),
        "by_reviewer": reviewers,
        "by_cause": [{"cause": cause, "count": count} for cause, count in figures.by_cause.most_common()],
        "by_shop": sorted(({"shop": shops.get(shop_id, str(shop_id)), "count": count}
                           for shop_id, count in figures.by_shop.items()), key=lambda row: (-row["count"], row["shop"])),
        "done": {
            "handled": sum(outcomes.values()),
            "replied": outcomes["replied"], "case": outcomes["case"], "no_action": outcomes["no_action"],
            "contacts": sum(count for _outcome, count in contacts),
            "reached": sum(count for outcome, count in contacts if outcome in REACHED),
            "negative": sum(review.rating <= NEGATIVE_MAX_RATING for review in listed),
        },
        "left": {"count": len(left), "items": left[:ITEMS_KEPT]},
        "notable": {"count": len(notable_items), "items": notable_items[:ITEMS_KEPT]},
    }


# --- the texts: robot markdown, mail, workbook --------------------------------------------------------------

@contextmanager
def shop_language():
    """Texts that leave the app are in the shop's language, whoever pressed the button."""
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        yield


def title(figures: dict) -> str:
    return _("Review summary %(day)s", day=figures["day"])


def notable_labels() -> dict:
    return {"one_star_pictures": _("1 star with pictures"), "flagged_reply": _("reply flagged"),
            "case": _("case"), "follow_up": _("follow-up review today"), "late": _("joined late")}


@dataclass(frozen=True)
class Style:
    """How the one report is written: robot markdown (escaped data, bold) or plain mail text."""

    data: Callable[[str], str]
    strong: Callable[[str], str]
    heading: str


MARKDOWN = Style(notify.escape_markdown, lambda text: f"**{text}**", "## ")
PLAIN = Style(lambda text: text, lambda text: text, "")


def _capped(lines: list[str], total: int, limit: int) -> list[str]:
    shown = lines[:limit]
    if total > len(shown):
        shown.append(_("… and %(count)s more", count=total - len(shown)))
    return shown


def report_blocks(figures: dict, limit: int, style: Style) -> list[list[str]]:
    """The summary as blocks of lines (paragraphs, lists), lists cut to ``limit`` items with "and K more"."""
    data, strong = style.data, style.strong
    overall, targets, done = figures["overall"], figures["targets"], figures["done"]
    blocks = [[f"{style.heading}{title(figures)}"]]
    if not figures["listed"]:
        blocks.append([_("The list of %(day)s has not formed.", day=figures["day"])])
        return blocks
    blocks.append([_("Clear rate %(rate)s (target %(target)s) · follow-up rate %(follow_up)s (target %(follow_up_target)s)",
                     rate=strong(rate_text(overall["clear_rate"])), target=rate_text(targets["clear_rate"]),
                     follow_up=strong(rate_text(overall["follow_up_rate"])),
                     follow_up_target=rate_text(targets["follow_up_rate"]))])
    blocks.append([_("%(due)s on the list · %(handled)s handled · %(left)s left · %(late)s joined late",
                     due=overall["due"], handled=overall["handled"], left=strong(str(overall["left"])), late=overall["late"])])
    blocks.append([_("Done: public replies %(replied)s · cases %(case)s · no action %(no_action)s · %(contacts)s contacts with buyers",
                     replied=done["replied"], case=done["case"], no_action=done["no_action"], contacts=done["contacts"])])
    if figures["by_cause"]:
        causes = " · ".join(f"{data(row['cause'])} {row['count']}" for row in figures["by_cause"])
        blocks.append([_("By cause: %(counts)s", counts=causes)])
    if figures["by_shop"]:
        shops = _capped([f"{data(row['shop'])} {row['count']}" for row in figures["by_shop"]], len(figures["by_shop"]),
                        max(limit, 3))
        blocks.append([_("By shop: %(counts)s", counts=" · ".join(shops))])
    if figures["by_reviewer"]:
        rows = ["- " + _("%(name)s: %(handled)s of %(due)s handled, clear rate %(clear)s, follow-ups %(followed)s of %(contacted)s",
                         name=data(row["name"] or _("Nobody yet")), handled=row["handled"], due=row["due"],
                         clear=rate_text(row["clear_rate"]), followed=row["followed_up"], contacted=row["contacted_negative"])
                for row in figures["by_reviewer"]]
        blocks.append([strong(_("Per reviewer")), *_capped(rows, len(rows), max(limit, 3))])
    notable = figures["notable"]
    if notable["count"]:
        labels = notable_labels()
        rows = []
        for item in notable["items"][:limit]:
            row = f"- {item['ref']} {data(item['shop'])} {item['rating']}★ [{' · '.join(labels[kind] for kind in item['kinds'])}]"
            if item.get("case"):
                row += f" #{item['case']}"
            if item["excerpt"]:
                row += f"：{data(item['excerpt'])}"
            if item.get("reply"):
                row += " " + _("Reply: %(text)s", text=data(item["reply"]))
            if item.get("follow_up"):
                row += " " + _("Follow-up: %(text)s", text=data(item["follow_up"]))
            rows.append(row)
        blocks.append([strong(_("Notable (%(count)s)", count=notable["count"])), *_capped(rows, notable["count"], limit)])
    left = figures["left"]
    if left["count"]:
        rows = [f"- {item['ref']} {data(item['shop'])} {item['rating']}★ {data(item['assignee'] or _('Nobody yet'))} "
                f"{REVIEW_STATES.get(item['state'], item['state'])}" for item in left["items"][:limit]]
        blocks.append([strong(_("Left (%(count)s)", count=left["count"])), *_capped(rows, left["count"], limit)])
    return blocks


def report_text(figures: dict, limit: int, style: Style) -> str:
    # A blank line between blocks: markdown joins the lines of one paragraph, and the robots follow it.
    return "\n\n".join("\n".join(block) for block in report_blocks(figures, limit, style)) + "\n"


def markdown(figures: dict) -> str:
    """One robot message: lists shortened until it fits 4,096 bytes (send_robot splits only what still does not)."""
    with shop_language():
        return notify.fitting(lambda limit: report_text(figures, limit, MARKDOWN), MARKDOWN_LIMITS)


MAIL_PAGE = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body>
{% include "reviews/_summary_body.html" %}
</body></html>
"""


def mail(figures: dict) -> tuple[str, str, str]:
    """(subject, plain text, HTML): the HTML is the page's own fragment, autoescaped, without links."""
    with shop_language():
        subject = _("Review summary %(day)s: %(left)s left, clear rate %(rate)s", day=figures["day"],
                    left=figures["overall"]["left"], rate=rate_text(figures["overall"]["clear_rate"]))
        text = report_text(figures, MAIL_ITEMS, PLAIN)
        # The state labels given here, in the shop's language: the template global keeps the reader's per request.
        html = render_template_string(MAIL_PAGE, figures=figures, subject=subject, for_mail=True,
                                      lang=current_app.config["BABEL_DEFAULT_LOCALE"],
                                      review_state_labels={key: str(label) for key, label in REVIEW_STATES.items()})
    return subject, text, html


def write_xlsx(figures: dict, handle) -> None:
    """The figures as a workbook of five sheets; every text is a plain string cell, neutralised like every export."""
    workbook = Workbook(write_only=True)

    def sheet(name: str, header: list[str], rows: list[list], widths: tuple[int, ...] = ()):
        target = workbook.create_sheet(title=name[:31])
        for position, width in enumerate(widths):
            target.column_dimensions[get_column_letter(position + 1)].width = width
        target.append([xlsx_cell(target, text, bold=True) for text in header])
        for row in rows:
            cells = []
            for value in row:
                cell = xlsx_cell(target, value)
                if isinstance(value, float):
                    cell.number_format = "0%"
                cells.append(cell)
            target.append(cells)

    overall, done, targets = figures["overall"], figures["done"], figures["targets"]
    states = {key: str(label) for key, label in REVIEW_STATES.items()}
    labels = notable_labels()
    nobody = _("Nobody yet")
    sheet(_("Overview"), [_("Figure"), _("Value")], [
        [_("Day"), figures["day"]],
        [_("On the list"), overall["due"]],
        [_("Handled"), overall["handled"]],
        [_("Handled the same day"), overall["handled_same_day"]],
        [_("Left"), overall["left"]],
        [_("Joined late"), overall["late"]],
        [_("Clear rate"), overall["clear_rate"]],
        [_("Clear rate target"), targets["clear_rate"]],
        [_("Contacted negative reviews"), overall["contacted_negative"]],
        [_("With a follow-up review"), overall["followed_up"]],
        [_("Follow-up rate"), overall["follow_up_rate"]],
        [_("Follow-up rate target"), targets["follow_up_rate"]],
        [_("Public replies"), done["replied"]],
        [_("Cases opened or linked"), done["case"]],
        [_("No action"), done["no_action"]],
        [_("Contacts with buyers"), done["contacts"]],
        [],
        [_("Reviewer"), _("On the list"), _("Handled"), _("Handled the same day"), _("Clear rate"),
         _("Contacted negative reviews"), _("With a follow-up review"), _("Follow-up rate")],
        *[[row["name"] or nobody, row["due"], row["handled"], row["handled_same_day"], row["clear_rate"],
           row["contacted_negative"], row["followed_up"], row["follow_up_rate"]] for row in figures["by_reviewer"]],
    ], widths=(28, 14, 12, 16, 12, 18, 18, 14))
    sheet(_("By cause"), [_("Cause"), _("Reviews")], [[row["cause"], row["count"]] for row in figures["by_cause"]], (20, 10))
    sheet(_("By shop"), [_("Shop"), _("Reviews")], [[row["shop"], row["count"]] for row in figures["by_shop"]], (24, 10))
    sheet(_("Left"), [_("No."), _("Shop"), _("Rating"), _("Reviewer"), _("State")],
          [[item["ref"], item["shop"], item["rating"], item["assignee"] or nobody, states.get(item["state"], item["state"])]
           for item in figures["left"]["items"]], (10, 24, 8, 16, 12))
    sheet(_("Notable"), [_("No."), _("Shop"), _("Rating"), _("Reviewer"), _("Why"), _("Review"), _("Reply"),
                         _("Follow-up review"), _("Case")],
          [[item["ref"], item["shop"], item["rating"], item["assignee"] or nobody,
            " · ".join(labels[kind] for kind in item["kinds"]), item["excerpt"], item.get("reply", ""),
            item.get("follow_up", ""), f"#{item['case']}" if item.get("case") else ""]
           for item in figures["notable"]["items"]], (10, 20, 8, 14, 24, 50, 40, 40, 8))
    workbook.save(handle)


# --- keeping a summary and delivering it ------------------------------------------------------------------

def redact_url(url: str) -> str:
    """A robot URL fit to store and show: the values of key/access_token/secret-like query fields and any
    password in it replaced by ***."""
    parts = urllib.parse.urlsplit(url)
    query = [(name, REDACTED if name.lower() in SECRET_QUERY_KEYS else value)
             for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, urllib.parse.urlencode(query, safe="*"), ""))[:500]


def _email_target(to: list[str], cc: list[str]) -> str:
    target = ", ".join(to)
    return (target + ("; cc " + ", ".join(cc) if cc else ""))[:500]


def create(day: date, actor: User | None, now: datetime, zone: tzinfo) -> ReviewSummary:
    """Compose ``day``'s summary and keep it with one pending delivery per channel: the mail (when it has a
    recipient) and each configured robot. Robot secrets stay in the settings (``robot_index``). The caller commits."""
    figures = compose(day, zone, now)
    summary = ReviewSummary(day=day, created_at=now, created_by_id=actor.id if actor else None, figures=figures,
                            markdown=markdown(figures))
    db.session.add(summary)
    to, cc = list(get_setting("review_summary_emails") or []), list(get_setting("review_summary_cc") or [])
    if to:
        summary.deliveries.append(SummaryDelivery(channel="email", target=_email_target(to, cc), next_attempt_at=now))
    for index, robot in enumerate(get_setting("review_summary_robots") or []):
        summary.deliveries.append(SummaryDelivery(channel=robot.get("kind", ""), target=redact_url(robot.get("url", "")),
                                                  robot_index=index, next_attempt_at=now))
    db.session.flush()
    record(actor, "review_summary", summary.id, "review_summary_created", day=day.isoformat(),
           channels=[delivery.channel for delivery in summary.deliveries])
    return summary


def smtp_settings(config) -> notify.SmtpSettings | None:
    """The mail server from the app's config; None when SMTP_HOST is not set."""
    if not config.get("SMTP_HOST"):
        return None
    security = config.get("SMTP_SECURITY") or "none"
    port = config.get("SMTP_PORT") or {"none": 25, "starttls": 587, "ssl": 465}.get(security, 25)
    return notify.SmtpSettings(config["SMTP_HOST"], int(port), sender=config.get("SMTP_SENDER", ""),
                               username=config.get("SMTP_USERNAME", ""), password=config.get("SMTP_PASSWORD", ""),
                               security=security)


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    return BACKOFF[attempts - 1] if 1 <= attempts <= len(BACKOFF) else BACKOFF_AFTER


def _take(delivery: SummaryDelivery, now: datetime) -> bool:
    """Lease a due delivery for one attempt, committed before anything is sent; False when it is not due
    (sent, waiting, or being sent by someone else right now)."""
    taken = db.session.execute(
        sa.update(SummaryDelivery)
        .where(SummaryDelivery.id == delivery.id, SummaryDelivery.status != "sent",
               SummaryDelivery.next_attempt_at.is_not(None), SummaryDelivery.next_attempt_at <= now)
        .values(status="pending", next_attempt_at=now + SENDING_LEASE)
        .execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(delivery)
    return taken.rowcount == 1


def _secrets(robot: dict | None, smtp: notify.SmtpSettings | None) -> list[str]:
    found = [smtp.password] if smtp is not None else []
    if robot:
        found.append(str(robot.get("secret") or ""))
        found += [value for name, value in urllib.parse.parse_qsl(urllib.parse.urlsplit(str(robot.get("url", ""))).query)
                  if name.lower() in SECRET_QUERY_KEYS]
    return [secret for secret in found if secret]


def _robot_of(delivery: SummaryDelivery) -> dict | None:
    robots = get_setting("review_summary_robots") or []
    index = delivery.robot_index
    if index is None or not 0 <= index < len(robots) or robots[index].get("kind") != delivery.channel:
        return None
    return robots[index]


def _send(delivery: SummaryDelivery, summary: ReviewSummary, robot: dict | None, smtp: notify.SmtpSettings | None,
          now: datetime) -> str:
    """Send one delivery with the settings of the moment; return the target it went to."""
    if delivery.channel == "email":
        if smtp is None:
            raise notify.NotifyError(NO_MAIL_SERVER, retryable=False)
        to, cc = list(get_setting("review_summary_emails") or []), list(get_setting("review_summary_cc") or [])
        subject, text, html = mail(summary.figures)
        notify.send_mail(smtp, to=to, cc=cc, subject=subject, text=text, html=html)
        return _email_target(to, cc)
    if robot is None:
        raise notify.NotifyError("this robot is no longer in the settings", retryable=False)
    with shop_language():
        robot_title = title(summary.figures)
    notify.send_robot(robot["kind"], robot.get("url", ""), title=robot_title, markdown=summary.markdown,
                      secret=robot.get("secret") or "", now=now)
    return redact_url(robot.get("url", ""))


def deliver(delivery: SummaryDelivery, now: datetime, smtp: notify.SmtpSettings | None) -> bool:
    """Try one delivery if it is due; record the outcome in the timeline and commit. Returns whether it was tried.

    Sent: status sent. Failed: attempts + 1 and the error (short, secrets masked); a retryable failure is due
    again after ``backoff``, another waits (next_attempt_at None) for a person to fix the settings and resend.
    """
    if not _take(delivery, now):
        return False
    summary = delivery.summary
    robot = None if delivery.channel == "email" else _robot_of(delivery)
    delivery.attempts += 1
    try:
        target = _send(delivery, summary, robot, smtp, now)
    except notify.NotifyError as error:
        message = str(error.message)
        for secret in _secrets(robot, smtp):
            message = message.replace(secret, REDACTED)
        delivery.status, delivery.last_error = "failed", message[:300]
        delivery.next_attempt_at = now + backoff(delivery.attempts) if error.retryable else None
        record(None, "review_summary", summary.id, "review_summary_failed", day=summary.day.isoformat(),
               channel=delivery.channel, target=delivery.target, error=delivery.last_error, delivery=delivery.id,
               attempt=delivery.attempts, retry_at=delivery.next_attempt_at)
    else:
        delivery.status, delivery.sent_at, delivery.next_attempt_at, delivery.last_error = "sent", now, None, ""
        delivery.target = target
        record(None, "review_summary", summary.id, "review_summary_sent", day=summary.day.isoformat(),
               channel=delivery.channel, target=target, delivery=delivery.id, attempt=delivery.attempts)
    db.session.commit()
    return True


def retry_due(now: datetime, smtp: notify.SmtpSettings | None) -> dict:
    """Try every pending or failed delivery that is due; returns how many went and how many failed again."""
    due = db.session.scalars(sa.select(SummaryDelivery.id).where(
        SummaryDelivery.status.in_(("pending", "failed")), SummaryDelivery.next_attempt_at <= now)
        .order_by(SummaryDelivery.next_attempt_at, SummaryDelivery.id)).all()
    counts = Counter()
    for delivery_id in due:
        delivery = db.session.get(SummaryDelivery, delivery_id)
        if delivery is not None and deliver(delivery, now, smtp):
            counts[delivery.status] += 1
    return {"sent": counts["sent"], "failed": counts["failed"]}


def resend(delivery: SummaryDelivery, actor: User, now: datetime) -> bool:
    """The resend button: a delivery not yet sent is due now (a failed one after its settings were fixed).
    False, changing nothing, when it was sent already or is being sent right now. The caller commits."""
    if delivery.status == "sent" or (delivery.status == "pending" and delivery.next_attempt_at is not None
                                      and delivery.next_attempt_at > now):
        return False
    delivery.next_attempt_at = now
    record(actor, "review_summary", delivery.summary_id, "review_summary_resend", day=delivery.summary.day.isoformat(),
           channel=delivery.channel, target=delivery.target, delivery=delivery.id)
    return True
