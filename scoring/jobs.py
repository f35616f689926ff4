"""The scoring area's scheduled job (see scheduler.py): the monthly after-sales report to the manager.
app.py imports this module."""

from __future__ import annotations

from datetime import datetime, tzinfo

import sqlalchemy as sa
from flask import current_app

import scheduler
from models import JobRun, db
from reviews.summary import smtp_settings
from scoring import reports

MONTHLY_REPORT = "scoring.monthly_report"


class ReportNotSent(Exception):
    """Some channel of the monthly report failed; the message names each one and why (kept on the JobRun)."""


@scheduler.job(MONTHLY_REPORT, daily_at="scoring_report_time")
def send_monthly_report(now: datetime, zone: tzinfo) -> dict:
    """On the 1st of a month (shop time), send the previous month's report to the manager's addresses and the
    review summary's robots; on other days, nothing.

    Once: the scheduler claims the day's run in the database, so two schedulers, or a second pass, never send it
    twice. A channel that fails does not stop the others; the run then ends with ReportNotSent, whose message
    (which targets failed, secrets masked) the scheduler keeps on the JobRun. It is not retried on its own: the
    report page shows the error and a lead sends the report again with its button. Nothing is written here.
    """
    today = now.astimezone(zone).date()
    if today.day != 1:
        return {"skipped": f"{today.isoformat()} is not the 1st"}
    month = reports.previous_month(today)
    figures = reports.report(month.start, month.end, zone)
    outcome = reports.send(figures, now, smtp_settings(current_app.config))
    if outcome["failed"]:
        raise ReportNotSent("; ".join(f"{target}: {error}" for target, error in outcome["failed"]))
    return {"month": month.start.strftime("%Y-%m"), "sent": len(outcome["sent"])}


def recent_runs(limit: int = 3) -> list[JobRun]:
    """The monthly report's latest runs on a 1st (the other days' runs did nothing), newest first."""
    return list(db.session.scalars(sa.select(JobRun).where(JobRun.job == MONTHLY_REPORT, JobRun.slot.like("%-01"))
                                   .order_by(JobRun.slot.desc()).limit(limit)))
