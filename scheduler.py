"""Scheduled jobs: one scheduler process beside the web servers, each run claimed once in the database.

An area registers its jobs in its ``jobs`` module (``reviews/jobs.py``), which app.py imports::

    @scheduler.job("reviews.summary", daily_at="review_summary_time")
    def send_summary(now, zone): ...

    @scheduler.job("reviews.retry_deliveries", every=timedelta(minutes=5))
    def retry_deliveries(now, zone): ...

A job takes ``now`` (aware UTC) and the shop's ``zone`` and returns a short dict saying what it did, or None.

Slots and the once-only claim
-----------------------------
Every job run belongs to a slot: a daily job's slot is the shop date (``2026-11-30``), an interval job's the
start of the current period in UTC (``2026-11-30T09:35:00Z``). Before running, a scheduler inserts
(job, slot) into ``job_runs`` in its own committed transaction; the pair is the primary key, so when two app
servers (two schedulers) on one database try together, the database lets exactly one in and the other gets
an IntegrityError and skips. A claim that never finished (its process died) may be taken over after
``CLAIM_STALE_AFTER`` by a conditional UPDATE that only one taker can win.

A daily job is due from its time until the end of the shop's day: a scheduler started at 18:00 still sends
that day's 17:30 summary. A day whose time passed while no scheduler ran is not caught up the next day
(yesterday's summary is not sent automatically; a lead can send one from the summary page). The review
list catches up on its own: the next list sweeps in the reviews of the days whose list never formed.

Run it with ``flask --app app scheduler`` (``make run`` starts it beside gunicorn), or one pass with
``flask --app app scheduler --once`` (cron, tests).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from models import JobRun, db, get_setting, utcnow

logger = logging.getLogger(__name__)

CLAIM_STALE_AFTER = timedelta(minutes=30)  # a run claimed this long ago and never finished died mid-way
INTERVAL_RUNS_KEPT = timedelta(days=7)  # an interval job's finished runs are pruned after this (288 a day at 5 min)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

JobFunction = Callable[[datetime, tzinfo], "dict | None"]


@dataclass(frozen=True)
class Job:
    name: str
    function: JobFunction
    daily_at: str | None = None  # a setting key holding "HH:MM" shop time
    every: timedelta | None = None

    def __post_init__(self):
        if (self.daily_at is None) == (self.every is None):
            raise ValueError(f"job {self.name}: give exactly one of daily_at and every")
        if self.every is not None and self.every <= timedelta(0):
            raise ValueError(f"job {self.name}: every must be positive")
        if len(self.name) > 40:
            raise ValueError(f"job {self.name}: a name has at most 40 characters (job_runs.job)")


JOBS: dict[str, Job] = {}  # in registration order, which is the order a pass runs them in


def job(name: str, *, daily_at: str | None = None, every: timedelta | None = None):
    """Register the decorated ``function(now, zone)`` as a scheduled job."""

    def register(function: JobFunction) -> JobFunction:
        registered = Job(name, function, daily_at, every)
        known = JOBS.get(name)
        if known is not None and _origin(known.function) != _origin(function):
            raise ValueError(f"two jobs named {name}")
        JOBS[name] = registered
        return function

    return register


def _origin(function: JobFunction) -> str:
    # The same function imported again (a reloaded module) registers again; another one under a used name is a mistake.
    return f"{function.__module__}.{function.__qualname__}"


# --- when a job is due ------------------------------------------------------------------------------

def clock_setting(key: str) -> time:
    """A "HH:MM" setting as a time of day."""
    hours, _, minutes = str(get_setting(key)).partition(":")
    return time(int(hours), int(minutes or 0))


def due_slot(job: Job, now: datetime, zone: tzinfo) -> str | None:
    """The slot ``job`` is due for at ``now``, or None (a daily job before its time)."""
    if job.every is not None:
        start = EPOCH + (now - EPOCH) // job.every * job.every
        return start.strftime("%Y-%m-%dT%H:%M:%SZ")
    local = now.astimezone(zone)
    if local < datetime.combine(local.date(), clock_setting(job.daily_at), zone):
        return None
    return local.date().isoformat()


# --- claiming a run once ------------------------------------------------------------------------------

def who_am_i() -> str:
    """host:pid (and the thread, when it is not the main one), to tell which server ran what."""
    thread = threading.current_thread()
    name = f"{socket.gethostname()}:{os.getpid()}"
    return (name if thread is threading.main_thread() else f"{name}:{thread.name}")[:100]


def claim(job: str, slot: str, now: datetime, who: str) -> JobRun | None:
    """Claim (job, slot) in its own committed transaction; None when another scheduler has it.

    The pair is the primary key: of two schedulers inserting it at once, the database lets exactly one in
    (PostgreSQL makes the second wait for the first's commit, then refuses it; SQLite serialises the writes).
    A claim older than CLAIM_STALE_AFTER that never finished is taken over by an UPDATE conditional on the
    claim time seen, so of two schedulers taking it over, one wins. Commits the session: call it first.
    """
    run = db.session.get(JobRun, (job, slot))
    if run is not None:
        if run.finished_at is None and now - run.claimed_at > CLAIM_STALE_AFTER:
            taken = db.session.execute(
                sa.update(JobRun)
                .where(JobRun.job == job, JobRun.slot == slot, JobRun.claimed_at == run.claimed_at,
                       JobRun.finished_at.is_(None))
                .values(claimed_at=now, claimed_by=who, error="")
                .execution_options(synchronize_session=False))
            db.session.commit()
            if taken.rowcount == 1:
                db.session.refresh(run)
                logger.warning("job %s slot %s: took over a claim that never finished", job, slot)
                return run
        db.session.rollback()  # end the read: nothing of it is needed
        return None
    run = JobRun(job=job, slot=slot, claimed_at=now, claimed_by=who)
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    return run


def finish(run: JobRun, now: datetime, error: str = "") -> None:
    """Mark the run done (the caller commits, with the job's own work when it has any)."""
    run.finished_at, run.error = now, error[:500]


# --- running what is due ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ran:
    """One run this scheduler made: what the job said it did, or its error."""

    job: str
    slot: str
    result: dict | None = None
    error: str = ""


def run_due(now: datetime | None = None, jobs: Iterable[Job] | None = None) -> list[Ran]:
    """Run every due job whose slot nobody has claimed; return the runs made here.

    A job's exception is logged and kept on its JobRun (``error``); it never stops the other jobs. The
    job's work and the end of its run are committed together (a job that sends something commits before
    sending, see reviews.jobs). Needs an app context.
    """
    now = now or utcnow()
    zone = current_app.config["SHOP_TZ"]
    who = who_am_i()
    done = []
    for job in JOBS.values() if jobs is None else jobs:
        try:
            slot = due_slot(job, now, zone)
        except (ValueError, TypeError):  # a time setting that is not HH:MM: say so, run the others
            logger.exception("job %s: its time setting %s is not HH:MM", job.name, job.daily_at)
            continue
        if slot is None or claim(job.name, slot, now, who) is None:
            continue
        try:
            result = job.function(now, zone)
        except Exception as exception:  # noqa: BLE001 - any failure of one job is recorded, and the others run
            db.session.rollback()
            logger.exception("job %s slot %s failed", job.name, slot)
            error = f"{type(exception).__name__}: {exception}"
            finish(db.session.get(JobRun, (job.name, slot)), now, error)
            db.session.commit()
            done.append(Ran(job.name, slot, error=error[:500]))
            continue
        finish(db.session.get(JobRun, (job.name, slot)), now)
        db.session.commit()
        # A run that did nothing (None) is not worth a line every pass of a short-interval job.
        logger.log(logging.INFO if result is not None else logging.DEBUG, "job %s slot %s: %s", job.name, slot, result)
        done.append(Ran(job.name, slot, result=result))
    prune(now)
    return done


def prune(now: datetime) -> int:
    """Drop interval jobs' finished runs older than INTERVAL_RUNS_KEPT (daily runs stay as the record of each day)."""
    interval_jobs = [job.name for job in JOBS.values() if job.every is not None]
    if not interval_jobs:
        return 0
    deleted = db.session.execute(sa.delete(JobRun).where(
        JobRun.job.in_(interval_jobs), JobRun.finished_at.is_not(None), JobRun.claimed_at < now - INTERVAL_RUNS_KEPT))
    db.session.commit()
    return deleted.rowcount


def run_forever(interval: float = 10, stop: threading.Event | None = None) -> None:
    """A pass every ``interval`` seconds until ``stop`` is set; a pass that fails is logged and the next one runs."""
    stop = stop or threading.Event()
    logger.info("scheduler %s: %d jobs (%s), a pass every %ss", who_am_i(), len(JOBS), ", ".join(JOBS), interval)
    while not stop.is_set():
        try:
            run_due()
        except Exception:  # noqa: BLE001 - the database was away, say: try again next pass
            logger.exception("scheduler pass failed")
        finally:
            db.session.remove()  # a fresh session each pass: nothing stale carries over
        stop.wait(interval)
