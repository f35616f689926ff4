"""The scheduler with a controlled ``now``: when a job is due, the once-only claim (two schedulers on one
database send one summary), a stale claim taken over, a failing job that stops no other, the command line."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

import scheduler
from models import JobRun, ReviewDay, ReviewSummary, SummaryDelivery, TimelineEvent, db, set_setting
from reviews import summary
from tests.conftest import DINGTALK_SECRET, LOCALHOST, dingtalk_url, wecom_url

ZONE = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 30)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


def never(now, zone):
    raise AssertionError("not called")


@pytest.fixture
def app(make_app, mailbox):
    """Every app here sends mail to the local aiosmtpd server."""
    _handler, port = mailbox
    return make_app(SMTP_HOST=LOCALHOST, SMTP_PORT=port, SMTP_SENDER="service@shop.example")


def runs() -> dict[tuple[str, str], JobRun]:
    return {(run.job, run.slot): run for run in db.session.scalars(sa.select(JobRun))}


def test_the_review_jobs_are_registered():
    assert {"reviews.form_list", "reviews.summary", "reviews.retry_deliveries"} <= set(scheduler.JOBS)
    assert scheduler.JOBS["reviews.summary"].daily_at == "review_summary_time"
    assert scheduler.JOBS["reviews.retry_deliveries"].every == timedelta(minutes=5)


def test_a_job_has_one_kind_of_schedule_and_one_function_per_name():
    with pytest.raises(ValueError):
        scheduler.Job("both", never, daily_at="review_summary_time", every=timedelta(minutes=5))
    with pytest.raises(ValueError):
        scheduler.Job("neither", never)
    with pytest.raises(ValueError):
        scheduler.job("reviews.summary", every=timedelta(minutes=5))(never)


def test_a_daily_job_is_due_from_its_time_to_the_end_of_the_shop_day(app):
    summary_job = scheduler.JOBS["reviews.summary"]
    with app.app_context():
        assert scheduler.due_slot(summary_job, at(TODAY, 17, 29), ZONE) is None
        assert scheduler.due_slot(summary_job, at(TODAY, 17, 30), ZONE) == "2026-11-30"
        assert scheduler.due_slot(summary_job, at(TODAY, 23, 59), ZONE) == "2026-11-30"  # started late: still today's
        assert scheduler.due_slot(summary_job, at(TODAY + timedelta(days=1), 0, 5), ZONE) is None  # not yesterday's
        set_setting("review_summary_time", "16:00")
        assert scheduler.due_slot(summary_job, at(TODAY, 16, 0), ZONE) == "2026-11-30"


def test_an_interval_job_is_due_once_per_period():
    every_five = scheduler.Job("test.every", never, every=timedelta(minutes=5))
    now = datetime(2026, 11, 30, 9, 37, 12, tzinfo=UTC)
    assert scheduler.due_slot(every_five, now, ZONE) == "2026-11-30T09:35:00Z"
    assert scheduler.due_slot(every_five, now + timedelta(minutes=2, seconds=47), ZONE) == "2026-11-30T09:35:00Z"
    assert scheduler.due_slot(every_five, now + timedelta(minutes=2, seconds=48), ZONE) == "2026-11-30T09:40:00Z"


def test_nothing_daily_runs_before_its_time_and_both_run_after(app):
    with app.app_context():
        early = scheduler.run_due(at(TODAY, 9, 59))
        assert sorted(ran.job for ran in early) == ["limits.prune", "reviews.retry_deliveries", "scoring.monthly_report",
                                                    "sync.shops"]
        ran = scheduler.run_due(at(TODAY, 18))  # the scheduler came up late: the list and the summary both go
        assert [item.job for item in ran] == ["limits.prune", "reviews.form_list", "reviews.summary", "reviews.retry_deliveries",
                                             "sync.shops"]
        assert ran[1].result == {"day": "2026-11-30", "formed": True, "count": 0}
        assert db.session.get(ReviewDay, TODAY) is not None
        assert scheduler.run_due(at(TODAY, 18)) == []  # every slot of this moment is claimed
        assert all(run.finished_at is not None and run.error == "" for run in runs().values())


def test_two_schedulers_on_one_database_send_the_summary_once(app, mailbox, robots):
    handler, _port = mailbox
    with app.app_context():
        set_setting("review_summary_emails", ["head@shop.example"])
        set_setting("review_summary_robots", [{"kind": "wecom", "url": wecom_url(robots), "secret": ""},
                                              {"kind": "dingtalk", "url": dingtalk_url(robots), "secret": DINGTALK_SECRET}])
        db.session.commit()
    now = at(TODAY, 17, 31)
    start = threading.Barrier(2)
    made, failures = {}, []

    def one_server(name: str) -> None:
        try:
            with app.app_context():  # its own context, so its own session and connection
                start.wait(timeout=10)
                made[name] = scheduler.run_due(now)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    servers = [threading.Thread(target=one_server, args=(f"server-{n}",), name=f"server-{n}") for n in (1, 2)]
    for thread in servers:
        thread.start()
    for thread in servers:
        thread.join(timeout=60)
    assert failures == []
    ran = [item.job for items in made.values() for item in items]
    assert sorted(ran) == ["limits.prune", "reviews.form_list", "reviews.retry_deliveries", "reviews.summary",
                           "scoring.monthly_report", "sync.shops"]  # each by one server
    assert all(item.error == "" for items in made.values() for item in items)

    with app.app_context():
        [kept] = db.session.scalars(sa.select(ReviewSummary)).all()
        deliveries = db.session.scalars(sa.select(SummaryDelivery).order_by(SummaryDelivery.id)).all()
        assert [(d.channel, d.status, d.attempts) for d in deliveries] == [
            ("email", "sent", 1), ("wecom", "sent", 1), ("dingtalk", "sent", 1)]
        assert kept.day == TODAY and kept.created_by_id is None
        assert runs()[("reviews.summary", "2026-11-30")].claimed_by.endswith(("server-1", "server-2"))
        sent = db.session.scalars(sa.select(TimelineEvent.action).where(TimelineEvent.action == "review_summary_sent")).all()
        assert len(sent) == 3
    assert len(handler.messages) == 1
    assert sorted(request.path for request in robots.requests) == ["/cgi-bin/webhook/send", "/robot/send"]


def test_a_claim_that_never_finished_is_taken_over_after_30_minutes(app, mailbox):
    handler, _port = mailbox
    now = at(TODAY, 18)
    with app.app_context():
        set_setting("review_summary_emails", ["head@shop.example"])
        db.session.add(JobRun(job="reviews.summary", slot="2026-11-30", claimed_at=now - timedelta(minutes=20), claimed_by="dead:1"))
        db.session.commit()
        assert scheduler.claim("reviews.summary", "2026-11-30", now, "me:2") is None  # 20 minutes: maybe still running
        assert "reviews.summary" not in [ran.job for ran in scheduler.run_due(now)]

        later = now + timedelta(minutes=11)
        ran = {item.job: item for item in scheduler.run_due(later)}
        assert ran["reviews.summary"].result["made"] is True and ran["reviews.summary"].result["sent"] == 1
        run = runs()[("reviews.summary", "2026-11-30")]
        assert (run.claimed_at, run.finished_at, run.error) == (later, later, "")
        assert run.claimed_by != "dead:1"
        assert scheduler.claim("reviews.summary", "2026-11-30", later + timedelta(hours=2), "me:2") is None  # finished
    assert len(handler.messages) == 1


def test_a_run_taken_over_sends_the_summary_its_dead_run_kept_instead_of_a_second_one(app, mailbox):
    handler, _port = mailbox
    now = at(TODAY, 17, 30)
    with app.app_context():
        set_setting("review_summary_emails", ["head@shop.example"])
        db.session.add(JobRun(job="reviews.summary", slot="2026-11-30", claimed_at=now, claimed_by="dead:1"))
        summary.create(TODAY, None, now, ZONE)  # the dead run kept its summary, then died before sending
        db.session.commit()
        ran = {item.job: item for item in scheduler.run_due(now + timedelta(minutes=31))}
        assert ran["reviews.summary"].result["made"] is False
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewSummary)) == 1
    assert len(handler.messages) == 1


def test_two_takers_of_a_stale_claim_get_it_once(app):
    now = at(TODAY, 18)
    with app.app_context():
        db.session.add(JobRun(job="test.job", slot="s", claimed_at=now - timedelta(hours=1), claimed_by="dead:1"))
        db.session.commit()
        first = scheduler.claim("test.job", "s", now, "a:1")
        second = scheduler.claim("test.job", "s", now + timedelta(seconds=1), "b:1")
        assert first is not None and second is None
        assert runs()[("test.job", "s")].claimed_by == "a:1"


def test_a_failing_job_records_its_error_and_stops_no_other(app, caplog, monkeypatch):
    # Alembic's logging setup (the test database's migrations) disables loggers that existed before it.
    monkeypatch.setattr(scheduler.logger, "disabled", False)

    def boom(now, zone):
        db.session.add(TimelineEvent(subject_type="test", subject_id=1, action="half_done", detail={}))
        db.session.flush()
        raise RuntimeError("the robot ate the list")

    def fine(now, zone):
        return {"ok": True}

    jobs = [scheduler.Job("test.boom", boom, every=timedelta(minutes=5)), scheduler.Job("test.fine", fine, every=timedelta(minutes=5))]
    now = at(TODAY, 12)
    with app.app_context():
        ran = scheduler.run_due(now, jobs)
        assert [(item.job, item.result, item.error) for item in ran] == [
            ("test.boom", None, "RuntimeError: the robot ate the list"), ("test.fine", {"ok": True}, "")]
        recorded = runs()
        boom_run, fine_run = recorded[("test.boom", ran[0].slot)], recorded[("test.fine", ran[1].slot)]
        assert boom_run.error == "RuntimeError: the robot ate the list" and boom_run.finished_at == now
        assert fine_run.error == "" and fine_run.finished_at == now
        # the failed job's own work was rolled back with it
        assert db.session.scalar(sa.select(TimelineEvent).where(TimelineEvent.action == "half_done")) is None
        assert scheduler.run_due(now, jobs) == []  # its slot is done: it runs again in the next period
        assert [item.job for item in scheduler.run_due(now + timedelta(minutes=5), jobs)] == ["test.boom", "test.fine"]
    assert "test.boom" in caplog.text and "the robot ate the list" in caplog.text


def test_a_bad_time_setting_skips_that_job_only(app):
    with app.app_context():
        set_setting("review_list_time", "ten o'clock")
        db.session.commit()
        ran = [item.job for item in scheduler.run_due(at(TODAY, 18))]
    assert sorted(ran) == ["limits.prune", "reviews.retry_deliveries", "reviews.summary", "scoring.monthly_report",
                           "sync.shops"]


def test_old_interval_runs_are_pruned(app):
    now = at(TODAY, 12)
    with app.app_context():
        old = now - scheduler.INTERVAL_RUNS_KEPT - timedelta(minutes=1)
        db.session.add_all([
            JobRun(job="reviews.retry_deliveries", slot="old", claimed_at=old, finished_at=old),
            JobRun(job="reviews.summary", slot="2026-01-01", claimed_at=old, finished_at=old),  # a day's record stays
        ])
        db.session.commit()
        scheduler.run_due(now)
        assert ("reviews.retry_deliveries", "old") not in runs() and ("reviews.summary", "2026-01-01") in runs()


def test_run_forever_passes_until_stopped(app):
    stop = threading.Event()

    def serve():
        with app.app_context():
            scheduler.run_forever(interval=0.05, stop=stop)

    thread = threading.Thread(target=serve, name="forever")
    thread.start()
    try:
        with app.app_context():
            for _attempt in range(200):
                if any(job == "reviews.retry_deliveries" for job, _slot in runs()):
                    break
                db.session.remove()
                stop.wait(0.05)
            assert any(job == "reviews.retry_deliveries" for job, _slot in runs())
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_the_command_runs_one_pass(make_app, mailbox):
    # The app's clock says 18:00 shop time today: both daily jobs are due.
    moment = datetime.now(ZONE).replace(hour=18, minute=0, second=0, microsecond=0)
    app = make_app(CLOCK_OFFSET=moment - datetime.now(UTC))
    result = app.test_cli_runner().invoke(args=["scheduler", "--once"])
    assert result.exit_code == 0, result.output
    assert "reviews.form_list" in result.output and "reviews.summary" in result.output
    with app.app_context():
        assert {job for job, _slot in runs()} == {"reviews.form_list", "reviews.summary", "reviews.retry_deliveries",
                                                  "scoring.monthly_report", "sync.shops", "limits.prune"}
        assert db.session.get(ReviewDay, moment.date()) is not None
    again = app.test_cli_runner().invoke(args=["scheduler", "--once"])
    assert again.exit_code == 0 and "reviews.summary" not in again.output
