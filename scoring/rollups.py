"""The daily monitor's per-day counts (models.DailyFigure), kept current as cases and reviews change.

How they stay current
---------------------
- Every flush notes the (shop, day) pairs it touches: for a case, the days of its received, refunded and
  closed times, before (``before_flush``, from the attribute history) and after (``after_flush``) the change;
  for a review, the day of its list before and after; for a contact, its review. Noting costs no query.
- A bulk ``session.execute(sa.insert(Case), rows)`` (demo data, benches) never flushes, so
  ``do_orm_execute`` notes the days of its rows; a bulk UPDATE or DELETE of cases or reviews, whose rows
  are unknown, marks everything for a rebuild.
- Before the commit, ``refresh`` recomputes exactly the noted rows from the raw cases and reviews: one
  query for the cases, one for the reviews, one delete and one insert, however many cases the transaction
  changed (an import of thousands flushes thousands of times but refreshes once).

Days are grouped in Python with the shop's zone (app.config["SHOP_TZ"]) rather than in SQL: a zone with
summer time has no portable SQL expression on both SQLite and PostgreSQL, and the rows of the touched days
are few. The definitions are the monitor's (scoring/monitor.py) and the worklist's (reviews/worklist.py).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app
from sqlalchemy import event

from models import Case, DailyFigure, Review, ReviewContact, db
from reviews.labels import NEGATIVE_MAX_RATING
from reviews.worklist import day_bounds, shop_date

REFUND_KINDS = ("refund_only", "return_refund")
CASE_DAYS = ("received_at", "refunded_at", "closed_at")  # the dates a case's counts go by
CASE_FIELDS = ("shop_id", "kind", "outcome", "platform_intervened", *CASE_DAYS)  # what the counts read
REVIEW_FIELDS = ("shop_id", "list_date", "state", "handled_at", "rating", "follow_up_contact_id")
COUNTERS = tuple(column.key for column in DailyFigure.__table__.columns if column.key not in ("shop_id", "day"))
MAX_RANGES = 200  # more separate runs of days than this: one range per shop from its first to its last day
CHUNK = 5000


@dataclass
class Pending:
    """What the transaction touched so far, kept in ``session.info`` until the commit."""

    days: set = field(default_factory=set)  # {(shop_id, date)}
    review_ids: set = field(default_factory=set)  # reviews whose contacts changed: their list's day, read at refresh
    everything: bool = False


def zone() -> tzinfo:
    return current_app.config["SHOP_TZ"]


def pending(session: so.Session) -> Pending:
    return session.info.setdefault("daily_figures", Pending())


# --- the counts of one day, from raw rows ---------------------------------------------------------------

def empty_counts() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)


def count_cases(rows: Iterable, zone: tzinfo, into: dict) -> None:
    """Add cases (with .shop_id, .kind, .outcome, .platform_intervened and the three dates) to ``into``
    ({(shop_id, day): counts}), each count on the day of the date it goes by."""
    for row in rows:
        if row.received_at is not None:
            counts = into.setdefault((row.shop_id, shop_date(row.received_at, zone)), empty_counts())
            counts["cases_received"] += 1
            counts["returns_received"] += row.kind == "return_refund"
        if row.refunded_at is not None and row.kind in REFUND_KINDS:
            counts = into.setdefault((row.shop_id, shop_date(row.refunded_at, zone)), empty_counts())
            counts[f"{row.kind}_done"] += 1
            counts[f"{row.kind}_seconds"] += max(0, int((row.refunded_at - row.received_at).total_seconds()))
            counts["refunds_self_completed"] += not row.platform_intervened
        if row.closed_at is not None:
            counts = into.setdefault((row.shop_id, shop_date(row.closed_at, zone)), empty_counts())
            if row.kind == "dispute":
                counts["disputes_closed"] += 1
                counts["disputes_upheld"] += row.outcome == "upheld"
            elif row.kind == "complaint":
                counts["complaints_closed"] += 1
                counts["complaints_upheld"] += row.outcome == "upheld"
            elif row.kind == "return_refund":
                counts["returns_closed"] += 1
                counts["returns_retained"] += row.outcome == "retained"


def count_reviews(rows: Iterable, zone: tzinfo, into: dict) -> None:
    """Add listed reviews (with .shop_id, .list_date, .state, .handled_at, .rating, .follow_up_contact_id and
    .contacted) to ``into``, as reviews/worklist.day_figures counts them: the list's size, handled on the
    list's day, contacted negative reviews and those whose follow-up review is credited to a contact."""
    bounds: dict[date, tuple[datetime, datetime]] = {}
    for row in rows:
        counts = into.setdefault((row.shop_id, row.list_date), empty_counts())
        if row.list_date not in bounds:
            bounds[row.list_date] = day_bounds(row.list_date, zone)
        start, end = bounds[row.list_date]
        counts["reviews_due"] += 1
        counts["reviews_handled_same_day"] += (row.state == "handled" and row.handled_at is not None
                                               and start <= row.handled_at < end)
        if row.rating <= NEGATIVE_MAX_RATING and row.contacted:
            counts["reviews_contacted_negative"] += 1
            counts["reviews_followed_up"] += row.follow_up_contact_id is not None


CASE_COLUMNS = (Case.id, Case.shop_id, Case.kind, Case.outcome, Case.platform_intervened, Case.received_at, Case.refunded_at,
                Case.closed_at)


def review_columns():
    contacted = sa.exists().where(ReviewContact.review_id == Review.id)
    return (Review.shop_id, Review.list_date, Review.state, Review.handled_at, Review.rating,
            Review.follow_up_contact_id, contacted.label("contacted"))


# --- refreshing the touched days ---------------------------------------------------------------------------

def runs(days: set) -> list[tuple[int, date, date]]:
    """The touched days as (shop_id, first, last) runs of consecutive days; one run per shop when they are many."""
    by_shop: dict[int, list[date]] = defaultdict(list)
    for shop_id, day in days:
        by_shop[shop_id].append(day)
    found = []
    for shop_id, shop_days in by_shop.items():
        shop_days.sort()
        first = previous = shop_days[0]
        for day in shop_days[1:]:
            if day != previous + timedelta(days=1):
                found.append((shop_id, first, previous))
                first = day
            previous = day
        found.append((shop_id, first, previous))
    if len(found) > MAX_RANGES:
        return [(shop_id, min(shop_days), max(shop_days)) for shop_id, shop_days in by_shop.items()]
    return found


def _in_runs(shop_column, moment_column, day_runs, zone: tzinfo):
    """Cases with ``moment_column`` on the runs' days: of the run's shop, or of any shop when ``shop_column`` is
    None (closed_at has an index of its own, not one with the shop; the other shops' cases are left out later)."""
    if shop_column is None:
        spans = {(first, last) for _shop_id, first, last in day_runs}
        return sa.or_(*(sa.and_(moment_column >= day_bounds(first, zone)[0], moment_column < day_bounds(last, zone)[1])
                        for first, last in spans))
    return sa.or_(*(sa.and_(shop_column == shop_id, moment_column >= day_bounds(first, zone)[0],
                            moment_column < day_bounds(last, zone)[1]) for shop_id, first, last in day_runs))


def _days_in_runs(shop_column, day_column, day_runs):
    return sa.or_(*(sa.and_(shop_column == shop_id, day_column >= first, day_column <= last)
                    for shop_id, first, last in day_runs))


def list_days_of(review_ids: set) -> set:
    """(shop_id, list_date) of reviews, by id: one query per CHUNK ids."""
    ids, found = sorted(review_ids), set()
    for start in range(0, len(ids), CHUNK):
        found.update(db.session.execute(sa.select(Review.shop_id, Review.list_date).where(
            Review.id.in_(ids[start:start + CHUNK]), Review.list_date.is_not(None))).tuples())
    return found


def refresh(days: set, zone: tzinfo) -> None:
    """Recompute the DailyFigure rows of ``days`` ({(shop_id, date)}) from the cases and reviews: four
    statements whatever the number of days. Rows with nothing to count are not kept."""
    days = {(shop_id, day) for shop_id, day in days if shop_id is not None and day is not None}
    if not days:
        return
    day_runs = runs(days)
    counts: dict = {}
    parts = [sa.select(*CASE_COLUMNS).where(_in_runs(Case.shop_id if name != "closed_at" else None, getattr(Case, name),
                                                     day_runs, zone))
             for name in CASE_DAYS]
    # a case on two touched days is in two parts: counted once
    count_cases(db.session.execute(sa.union(*parts)), zone, counts)
    count_reviews(db.session.execute(sa.select(*review_columns()).where(
        _days_in_runs(Review.shop_id, Review.list_date, day_runs))), zone, counts)
    db.session.execute(sa.delete(DailyFigure).where(_days_in_runs(DailyFigure.shop_id, DailyFigure.day, day_runs)))
    # a case read for one touched day also counted on its other days: keep the days whose cases were all read
    shop_runs = defaultdict(list)
    for shop_id, first, last in day_runs:
        shop_runs[shop_id].append((first, last))
    _insert({(shop_id, day): values for (shop_id, day), values in counts.items()
             if any(first <= day <= last for first, last in shop_runs.get(shop_id, ()))})


def rebuild(zone: tzinfo) -> int:
    """Every DailyFigure row anew from all cases and reviews (after a bulk change the rollups cannot follow).
    Returns the number of rows kept."""
    counts: dict = {}
    count_cases(db.session.execute(sa.select(*CASE_COLUMNS).execution_options(yield_per=CHUNK)), zone, counts)
    count_reviews(db.session.execute(sa.select(*review_columns()).where(Review.list_date.is_not(None))
                                     .execution_options(yield_per=CHUNK)), zone, counts)
    db.session.execute(sa.delete(DailyFigure))
    return _insert(counts)


def _insert(counts: dict) -> int:
    rows = [{"shop_id": shop_id, "day": day, **values} for (shop_id, day), values in counts.items() if any(values.values())]
    for start in range(0, len(rows), CHUNK):
        db.session.execute(sa.insert(DailyFigure), rows[start:start + CHUNK])
    return len(rows)


def apply_pending(session: so.Session) -> None:
    """Refresh what the transaction touched (called before every commit)."""
    noted = session.info.pop("daily_figures", None)
    if noted is None:
        return
    if noted.everything:
        rebuild(zone())
        return
    refresh(noted.days | list_days_of(noted.review_ids), zone())


# --- noting what a transaction touches ------------------------------------------------------------------------

def _case_days(shop_id, moments, at_zone) -> set:
    return {(shop_id, shop_date(moment, at_zone)) for moment in moments if moment is not None}


def _changed(obj, names) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _before(obj, name):
    """The value an attribute had when loaded (active history makes sure it was)."""
    history = sa.inspect(obj).attrs[name].history
    if history.deleted:
        return history.deleted[0]
    return history.unchanged[0] if history.unchanged else getattr(obj, name)


@event.listens_for(so.Session, "before_flush")
def _note_old_days(session, flush_context, instances):
    noted = None
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Case) and (obj in session.deleted or _changed(obj, CASE_FIELDS)):
            noted = noted or pending(session)
            noted.days |= _case_days(_before(obj, "shop_id"), [_before(obj, name) for name in CASE_DAYS], zone())
        elif isinstance(obj, Review) and (obj in session.deleted or _changed(obj, REVIEW_FIELDS)):
            noted = noted or pending(session)
            noted.days.add((_before(obj, "shop_id"), _before(obj, "list_date")))
        elif isinstance(obj, ReviewContact) and obj in session.deleted:
            pending(session).review_ids.add(obj.review_id)


@event.listens_for(so.Session, "after_flush")
def _note_new_days(session, flush_context):
    new = session.new  # a fresh set on every access: read it once (an import flushes with thousands pending)
    for obj in list(new) + list(session.dirty):
        if isinstance(obj, Case) and (obj in new or _changed(obj, CASE_FIELDS)):
            pending(session).days |= _case_days(obj.shop_id, [getattr(obj, name) for name in CASE_DAYS], zone())
        elif isinstance(obj, Review) and (obj in new or _changed(obj, REVIEW_FIELDS)):
            pending(session).days.add((obj.shop_id, obj.list_date))
        elif isinstance(obj, ReviewContact) and obj in new:
            pending(session).review_ids.add(obj.review_id)


@event.listens_for(so.Session, "do_orm_execute")
def _note_bulk_statements(orm_execute_state):
    """Bulk statements bypass the flush: an INSERT's rows are noted, an UPDATE or DELETE rebuilds everything."""
    if not (orm_execute_state.is_insert or orm_execute_state.is_update or orm_execute_state.is_delete):
        return
    table = getattr(orm_execute_state.statement, "table", None)
    if table is None or table.name not in ("cases", "reviews", "review_contacts"):
        return
    noted = pending(orm_execute_state.session)
    rows = orm_execute_state.parameters
    rows = [rows] if isinstance(rows, dict) else list(rows or [])
    if not orm_execute_state.is_insert or not rows:
        noted.everything = True
        return
    at_zone = zone()
    for row in rows:
        if table.name == "cases":
            noted.days |= _case_days(row.get("shop_id"), [row.get(name) for name in CASE_DAYS], at_zone)
        elif table.name == "reviews":
            noted.days.add((row.get("shop_id"), row.get("list_date")))
        else:
            noted.review_ids.add(row.get("review_id"))


@event.listens_for(so.Session, "before_commit")
def _refresh_before_commit(session):
    session.flush()
    apply_pending(session)


@event.listens_for(so.Session, "after_transaction_end")
def _forget_after_rollback(session, transaction):
    if transaction.parent is None:  # the outermost transaction ended: committed (refreshed) or rolled back
        session.info.pop("daily_figures", None)


def _load_old_value(target, value, oldvalue, initiator):
    """Nothing to do: listening with active history is what loads the old value."""


# A date or shop set on a case or review whose old value was not loaded: load it, so its old day is refreshed.
for _attribute in (Case.shop_id, *(getattr(Case, name) for name in CASE_DAYS), Review.shop_id, Review.list_date):
    event.listen(_attribute, "set", _load_old_value, active_history=True)
