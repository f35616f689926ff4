"""The worklist's scheduled jobs (see scheduler.py): the day's list at the list time, the end-of-day summary
at the summary time, and the summary deliveries' retries every five minutes. app.py imports this module."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

import sqlalchemy as sa
from flask import current_app

import scheduler
from models import ReviewSummary, db
from reviews import summary, worklist


@scheduler.job("reviews.form_list", daily_at="review_list_time")
def form_list(now: datetime, zone: tzinfo) -> dict:
    """Form today's list from yesterday's reviews (a lead who formed it by hand already: nothing to do).
    The scheduler commits the list together with the end of its run."""
    day = worklist.shop_date(now, zone)
    try:
        listed = worklist.form_list(day, now, zone)
    except worklist.ListAlreadyFormed:
        return {"day": day.isoformat(), "formed": False}
    return {"day": day.isoformat(), "formed": True, "count": listed.snapshot_count}


@scheduler.job("reviews.summary", daily_at="review_summary_time")
def send_summary(now: datetime, zone: tzinfo) -> dict:
    """Make today's summary and send it to every channel.

    A summary a lead sent by hand earlier today does not replace this one: the automatic summary is still
    made and sent once, at the summary time, with the figures as they stand then. Once: a run taken over
    after its scheduler died sends the summary that run kept instead of making a second one. The summary
    and its deliveries are committed before anything is sent, so a delivery that fails stays to be retried.
    """
    day = worklist.shop_date(now, zone)
    kept = db.session.scalar(sa.select(ReviewSummary).where(ReviewSummary.day == day, ReviewSummary.created_by_id.is_(None))
                             .order_by(ReviewSummary.id).limit(1))
    made = kept is None
    if made:
        kept = summary.create(day, None, now, zone)
        db.session.commit()
    smtp = summary.smtp_settings(current_app.config)
    for delivery in kept.deliveries:
        summary.deliver(delivery, now, smtp)
    statuses = [delivery.status for delivery in kept.deliveries]
    return {"summary": kept.id, "made": made, "sent": statuses.count("sent"), "not_sent": len(statuses) - statuses.count("sent")}


@scheduler.job("reviews.retry_deliveries", every=timedelta(minutes=5))
def retry_deliveries(now: datetime, zone: tzinfo) -> dict:
    """Send again the summary deliveries whose wait after a failure is over."""
    return summary.retry_due(now, summary.smtp_settings(current_app.config))
