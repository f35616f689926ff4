"""Sync runs: each connected shop's changed after-sales requests and reviews, fetched page by page and applied
as the rows of an export would be.

A page of records goes through the same plan as an imported file (cases/importing.plan_import,
reviews/importing.plan_import): the same checks, the same matching with stored cases, the same rules
(cases/platform.py: a platform status moves the case as the manual step would; triage a person set is kept
and a difference is shown, not settled). A record the plan refuses, or that the connector cannot read, is
logged with its id (SyncProblem) and skipped; the rest of the page lands.

Cursors and claims
------------------
A shop's records of one kind are in up to ``SyncCursor.since``. A run pages the window [since - OVERLAP,
end) and commits each page together with the cursor's next page, so a run that dies resumes at the first
page it had not committed, and one that finishes moves ``since`` to the window's end. A first sync starts
``first_sync_days`` back. The overlap takes in what the platform indexed late; records seen twice are
simply unchanged.

A run holds the shop's lease (``ShopConnection.lease_until``), taken by a conditional UPDATE that only
one server can win, so two app servers on one database (or a "sync now" during a scheduled run) never sync
one shop at the same time. The lease is renewed after every page and released at the end.

Errors
------
The platform's rate limit and transient errors are retried after the wait it asks for (or 1, 2, 4 … s),
up to RETRIES times; a run that still fails ends as "retry" and the shop's next run backs off. A permanent
error (a refused signature, an expired token) stops the shop and says why, until an admin acts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

import spreadsheets
from cases import importing as case_import
from cases import sla
from models import ShopConnection, SyncCursor, SyncProblem, SyncRun, User, db, get_setting, record, utcnow
from reviews import importing as review_import
from scheduler import who_am_i
from spreadsheets import CREATE, REFUSED, UPDATE, ImportTable
from sync.connectors import connector_class
from sync.connectors.base import KINDS, BadRecord, Connector, ConnectorError, PermanentError, TransientError
from sync.credentials import SealError, credentials_of

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)          # renewed after every page; a run that died frees the shop after this
OVERLAP = timedelta(minutes=2)         # each window starts this far before the cursor: late-indexed records
MAX_PAGES = 500                        # per kind and run: a first sync of a big shop goes on at the next run
RETRIES = 4                            # transient errors retried per call before the run gives up
LONGEST_WAIT = 60.0                    # seconds: a longer wait the platform asks for ends the run instead
LONGEST_BACKOFF = timedelta(hours=1)   # between runs after failures in a row
HISTORY_KEPT = timedelta(days=30)      # a shop's runs and skipped records older than this are dropped


def interval() -> timedelta:
    """How often each shop is synced: ``sync_minutes``, or ``sync_promo_minutes`` in big-promotion mode."""
    minutes = get_setting("sync_promo_minutes") if get_setting("promo_mode") else get_setting("sync_minutes")
    return timedelta(minutes=float(minutes))


# --- claiming a shop ------------------------------------------------------------------------------------

def due_shops(now: datetime) -> list[int]:
    """Connections to sync now: active, not stopped, due, and not held by a run."""
    return list(db.session.scalars(sa.select(ShopConnection.id).where(
        ShopConnection.active, ShopConnection.state == "ok",
        sa.or_(ShopConnection.next_run_at.is_(None), ShopConnection.next_run_at <= now),
        sa.or_(ShopConnection.lease_until.is_(None), ShopConnection.lease_until < now),
    ).order_by(ShopConnection.next_run_at, ShopConnection.id)))


def claim(connection_id: int, now: datetime, who: str) -> bool:
    """Take the shop's lease in its own committed transaction; False when another run holds it.

    The UPDATE's condition is checked by the database at write time: of two servers claiming together,
    PostgreSQL makes the second wait for the first's commit and then finds the lease taken (0 rows);
    SQLite serialises the writes. Commits the session: call it first.
    """
    taken = db.session.execute(
        sa.update(ShopConnection)
        .where(ShopConnection.id == connection_id,
               sa.or_(ShopConnection.lease_until.is_(None), ShopConnection.lease_until < now))
        .values(lease_until=now + LEASE, leased_by=who)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return taken.rowcount == 1


def _renew(connection_id: int, who: str, clock: Callable[[], datetime]) -> None:
    db.session.execute(sa.update(ShopConnection).where(ShopConnection.id == connection_id,
                                                       ShopConnection.leased_by == who)
                       .values(lease_until=clock() + LEASE).execution_options(synchronize_session=False))


# --- runs ---------------------------------------------------------------------------------------------

def run_due(now: datetime | None = None, **options) -> list[SyncRun]:
    """Sync every shop that is due and that no other run holds (the scheduler's job)."""
    now = now or utcnow()
    who = who_am_i()
    runs = []
    for connection_id in due_shops(now):
        if claim(connection_id, now, who):
            runs.append(sync_shop(connection_id, now, who=who, **options))
    return runs


def whole_second_after(moment: datetime) -> datetime:
    """The platforms keep times to the second: a window ending at the next whole second holds what changed up to
    ``moment`` (what changes later in that second comes again in the next run's overlap)."""
    return moment.replace(microsecond=0) + (timedelta(seconds=1) if moment.microsecond else timedelta(0))


def request_run(connection: ShopConnection, user: User, now: datetime) -> None:
    """"Sync now": the shop becomes due at once; the scheduler's next pass (every few seconds) runs it."""
    connection.next_run_at = now
    record(user, "shop", connection.shop_id, "sync_requested")


def sync_shop(connection_id: int, now: datetime | None = None, *, who: str | None = None,
              connector: Connector | None = None, sleep: Callable[[float], None] = time.sleep,
              clock: Callable[[], datetime] = utcnow) -> SyncRun:
    """One run for a shop whose lease the caller holds (``claim``); returns it, committed.

    ``connector`` replaces the one the connection names (a test); ``sleep`` and ``clock`` too.
    """
    now = now or clock()
    who = who or who_am_i()
    connection = db.session.get(ShopConnection, connection_id)
    run = SyncRun(shop_id=connection.shop_id, started_at=now, run_by=who)
    db.session.add(run)
    db.session.commit()
    session = _Session(connection, run, who, sleep, clock)
    try:
        if connector is None:
            connector = connector_class(connection.shop.platform)(credentials_of(connection))
        for kind in KINDS if connection.sync_reviews else ("cases",):
            session.sync_kind(connector, kind, end=whole_second_after(now))
        run.outcome = "ok"
        connection.failures = 0
        connection.next_run_at = now + interval()
    except (PermanentError, SealError) as error:
        db.session.rollback()
        message = said(error)
        run.outcome, run.error = "stopped", message[:500]
        connection.state, connection.stop_reason = "stopped", message[:500]
        connection.token_refused = isinstance(error, PermanentError) and error.token
        record(None, "shop", connection.shop_id, "sync_stopped", reason=message, token=connection.token_refused)
    except Exception as error:  # noqa: BLE001 - a transient error, or anything unforeseen: the next run tries again
        db.session.rollback()
        if not isinstance(error, ConnectorError):
            logger.exception("sync of shop %s failed", connection.shop_id)
        message = said(error)
        run.outcome, run.error = "retry", message[:500]
        connection.failures += 1
        connection.next_run_at = now + min(interval() * 2 ** connection.failures, LONGEST_BACKOFF)
    run.retries = session.retries  # a rollback took back the count of a page that failed, not the waits made
    run.finished_at = clock()
    if connection.leased_by == who:
        connection.lease_until = None
    if run.created or run.updated or run.skipped or run.outcome != "ok":
        record(None, "shop", connection.shop_id, "synced", run=run.id, created=run.created, updated=run.updated,
               skipped=run.skipped, outcome=run.outcome, error=run.error)
    prune(connection.shop_id, now)
    db.session.commit()
    logger.info("sync of shop %s: %s, %d pages, %d created, %d updated, %d skipped", connection.shop_id,
                run.outcome, run.pages, run.created, run.updated, run.skipped)
    return run


def said(error: Exception) -> str:
    """What the panel says of an error, in the shop's language; the connector's own words (the platform's code
    and message, in English or the platform's Chinese) follow as the detail."""
    if isinstance(error, PermanentError) and error.token:
        return _("The platform refused the shop's authorisation: authorise the app again on the platform and "
                 "enter the new token on the shops page. (%(detail)s)", detail=error.message)
    if isinstance(error, PermanentError):
        return _("The platform refused the call; the sync of this shop stopped until an admin checks its "
                 "connection. (%(detail)s)", detail=error.message)
    if isinstance(error, SealError):
        return _("The shop's secrets cannot be opened: the encryption key changed. Enter the app secret and the "
                 "token again on the shops page.")
    if isinstance(error, TransientError):
        return _("The platform is busy or did not answer; the sync tries again later. (%(detail)s)",
                 detail=error.message)
    return _("The sync failed and tries again later. (%(detail)s)", detail=f"{type(error).__name__}: {error}")


def prune(shop_id: int, now: datetime) -> None:
    """Drop the shop's runs (288 a day at 5 minutes) and skipped records older than HISTORY_KEPT."""
    old_runs = sa.select(SyncRun.id).where(SyncRun.shop_id == shop_id, SyncRun.started_at < now - HISTORY_KEPT)
    db.session.execute(sa.delete(SyncProblem).where(SyncProblem.run_id.in_(old_runs)))
    db.session.execute(sa.delete(SyncRun).where(SyncRun.id.in_(old_runs.scalar_subquery()))
                       .execution_options(synchronize_session=False))


class _Session:
    """The state of one run: its shop, its counts, how it waits."""

    def __init__(self, connection: ShopConnection, run: SyncRun, who: str, sleep, clock):
        self.connection, self.run, self.who, self.sleep, self.clock = connection, run, who, sleep, clock
        self.shop = connection.shop
        self.zone: tzinfo = current_app.config["SHOP_TZ"]
        self.rules = sla.load_rules()
        self.retries = 0

    def sync_kind(self, connector: Connector, kind: str, end: datetime) -> None:
        """Page through what changed since the cursor, committing each page with the cursor's next page."""
        cursor = db.session.get(SyncCursor, (self.shop.id, kind))
        if cursor is None:
            cursor = SyncCursor(shop_id=self.shop.id, kind=kind, next_page=1,
                                since=end - timedelta(days=self.connection.first_sync_days))
            db.session.add(cursor)
        windows = 0 if cursor.window_end is None else 1  # a window a failed run left half-paged counts as this run's look
        for _page in range(MAX_PAGES):
            if cursor.window_end is None:
                # Every run looks at least once (its window starts OVERLAP back), then stops at ``end``.
                if windows and cursor.since >= end:
                    return
                windows += 1
                span = timedelta(seconds=connector.window) if connector.window else end - cursor.since
                cursor.window_end, cursor.next_page = max(min(end, cursor.since + span), cursor.since), 1
            window = (cursor.since - OVERLAP, cursor.window_end, cursor.next_page)
            page = self.call(lambda window=window: connector.fetch(kind, *window))
            self.apply_page(connector, kind, page.records)
            self.run.pages += 1
            if page.has_more and page.records:
                cursor.next_page += 1
            else:
                cursor.since, cursor.window_end, cursor.next_page = cursor.window_end, None, 1
            _renew(self.connection.id, self.who, self.clock)
            db.session.commit()

    def call(self, fetch):
        """A platform call, retried on transient errors after the wait the platform asked for."""
        for attempt in range(RETRIES + 1):
            try:
                return fetch()
            except TransientError as error:
                wait = error.retry_after if error.retry_after is not None else float(2 ** attempt)
                if attempt == RETRIES or wait > LONGEST_WAIT:
                    raise
                self.retries += 1
                logger.info("shop %s: %s, retrying in %.0f s", self.shop.id, error.message, wait)
                self.sleep(wait)
        raise AssertionError("unreachable")

    # --- one page --------------------------------------------------------------------------------------

    def problem(self, kind: str, record_id: str, message, *, skipped: bool = True) -> None:
        """Log a record on the panel: skipped (the default), or taken with a note."""
        self.run.skipped += skipped
        db.session.add(SyncProblem(run_id=self.run.id, shop_id=self.shop.id, kind=kind, record_id=str(record_id)[:64],
                                   message=str(message)[:500], skipped=skipped, at=self.clock()))

    def readable(self, connector: Connector, kind: str, records: list[dict]) -> list[tuple[str, dict]]:
        """(record id, our fields) of each record that can be read; the others are logged and skipped. A record
        met twice in one page is the importers' repeated key: their plan refuses the later one."""
        rows = []
        for record_ in records:
            try:
                record_id = str(connector.record_id(kind, record_) or "")
                owner = connector.shop_of(kind, record_)
                fields = connector.row(kind, record_) if record_id else None
            except BadRecord as error:
                self.problem(kind, error.record_id, _("The record cannot be read: %(detail)s", detail=error.message))
                continue
            except Exception as error:  # noqa: BLE001 - a record shaped like nothing the definition shows
                self.problem(kind, "", _("The record cannot be read: %(detail)s",
                                         detail=f"{type(error).__name__}: {error}"))
                continue
            if not record_id:
                self.problem(kind, "", _("The record has no id."))
            elif owner is not None and str(owner) != self.connection.shop_ref:
                self.problem(kind, record_id, _("The record belongs to the platform's shop %(owner)s, not to this "
                                                "shop (%(ours)s).", owner=owner, ours=self.connection.shop_ref))
            else:
                rows.append((record_id, fields))
        return rows

    def apply_page(self, connector: Connector, kind: str, records: list[dict]) -> None:
        self.run.fetched += len(records)
        readable = self.readable(connector, kind, records)
        if not readable:
            return
        headers = list(dict.fromkeys(name for _id, fields in readable for name in fields))
        table = ImportTable(filename=f"{self.shop.platform_label} API", file_format="api", encoding=None,
                            headers=headers, rows=[(number, [fields.get(name) for name in headers])
                                                   for number, (_id, fields) in enumerate(readable, start=1)])
        importer = case_import if kind == "cases" else review_import
        plan = importer.plan_import(table, platform=self.shop.platform, shops=[self.shop], now=self.clock(),
                                    zone=self.zone, default_shop_id=self.shop.id)
        if plan.problems:  # a field every record lacks: each is refused for it
            for record_id, _fields in readable:
                self.problem(kind, record_id, "；".join(map(str, plan.problems)))
            return
        todo = []
        for (record_id, _fields), row in zip(readable, plan.rows, strict=True):
            if row.action == REFUSED:
                self.problem(kind, record_id, "；".join(map(str, row.reasons)))
            elif row.action in (CREATE, UPDATE):
                todo.append((record_id, row))
                for note in row.notes:  # a status we do not know is kept as written and moves nothing: say so
                    self.problem(kind, record_id, note, skipped=False)
        if not todo:
            return
        try:
            with db.session.begin_nested():
                self.count(self.apply_rows(kind, [row for _id, row in todo]))
        except Exception:  # noqa: BLE001 - one record broke a rule half-way: apply them one by one
            for record_id, row in todo:
                try:
                    with db.session.begin_nested():
                        self.count(self.apply_rows(kind, [row]))
                except Exception as error:  # noqa: BLE001 - that record is skipped, whole; the others land
                    self.problem(kind, record_id, getattr(error, "message", None) or f"{type(error).__name__}: {error}")

    def apply_rows(self, kind: str, rows: list[spreadsheets.RowPlan]):
        now = self.clock()
        if kind == "cases":
            return case_import.apply_rows(rows, self.shop.platform, None, self.rules, now, via="sync")
        return review_import.apply_rows(rows, self.shop.platform, None, now, zone=self.zone, origin={"via": "sync"})

    def count(self, result) -> None:
        self.run.created += len(result.created)
        self.run.updated += len(result.updated)
