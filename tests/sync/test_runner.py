"""Sync runs against the fake platforms over HTTP: cases and reviews arrive, statuses move cases as the manual
step would, triage survives, pages commit with the cursor, errors retry or stop the shop, bad records are
skipped with their id, and two servers never sync one shop at the same time."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from cases import flow, sla
from models import Case, Review, ShopConnection, SyncCursor, SyncProblem, SyncRun, TimelineEvent, db, utcnow
from platforms import statuses
from sync import runner
from tests.conftest import user_named
from tests.sync.conftest import connect, connection_of


def run(app, shop_id: int, **options) -> SyncRun:
    """One run of the shop as the scheduler makes it: claim, then sync; the run's numbers as plain values."""
    with app.app_context():
        connection = connection_of(shop_id)
        assert runner.claim(connection.id, utcnow(), "test")
        done = runner.sync_shop(connection.id, who="test", sleep=options.pop("sleep", lambda seconds: None), **options)
        db.session.expunge(done)
        return done


def case_of(platform_case_id: str) -> Case:
    return db.session.scalar(sa.select(Case).where(Case.platform_case_id == platform_case_id))


def test_first_sync_creates_cases_and_reviews_with_the_platforms_deadline(app, fakes):
    taobao = fakes.platforms["taobao"]
    refunds = [taobao.new_after_sale() for _ in range(3)]
    review = taobao.new_review(content="杯子漏水，客服也不回复")
    shop_id = connect(app, fakes, "taobao")

    done = run(app, shop_id)

    assert (done.outcome, done.created, done.updated, done.skipped) == ("ok", 4, 0, 0)
    with app.app_context():
        for refund in refunds:
            case = case_of(refund["refund_id"])
            assert case.order_no == str(refund["tid"]) and case.buyer_nick == refund["buyer_nick"]
            assert case.platform_status == statuses.WAITING_SELLER
            assert str(case.refund_amount) == refund["refund_fee"]
            deadline = refund["refund_remind_timeout"]["timeout"]
            assert case.platform_deadline_at.astimezone(app.config["SHOP_TZ"]).strftime("%Y-%m-%d %H:%M:%S") == deadline
            created = db.session.scalar(sa.select(TimelineEvent).where(TimelineEvent.subject_id == case.id,
                                                                       TimelineEvent.action == "created"))
            assert created.detail["via"] == "sync" and created.actor_id is None
        stored = db.session.scalar(sa.select(Review).where(Review.text == "杯子漏水，客服也不回复"))
        assert stored.rating == 1 and stored.order_no == str(review["tid"])
        cursor = db.session.get(SyncCursor, (shop_id, "cases"))
        assert cursor.window_end is None and cursor.next_page == 1 and cursor.since > utcnow() - timedelta(minutes=1)

    again = run(app, shop_id)
    assert (again.outcome, again.created, again.updated) == ("ok", 0, 0)


def test_a_status_change_moves_the_case_and_keeps_what_an_agent_set(app, fakes):
    taobao = fakes.platforms["taobao"]
    refund = taobao.new_after_sale()
    shop_id = connect(app, fakes, "taobao")
    run(app, shop_id)
    with app.app_context():
        case = case_of(refund["refund_id"])
        rules, now = sla.load_rules(), utcnow()
        flow.update_fields(case, {"category": "fault_in_use", "priority": 0}, user_named("agent"), rules, now)
        flow.assign(case, user_named("agent2"), user_named("lead"), rules, now)
        db.session.commit()

    taobao.change_after_sale(refund["refund_id"], status="WAIT_SELLER_CONFIRM_GOODS")
    done = run(app, shop_id)

    assert (done.created, done.updated) == (0, 1)
    with app.app_context():
        case = case_of(refund["refund_id"])
        assert (case.category, case.priority, case.assignee.username) == ("fault_in_use", 0, "agent2")
        assert (case.state, case.waiting_for) == ("waiting", "warehouse")
        assert case.platform_status == statuses.RETURN_SHIPPED
        said = db.session.scalars(sa.select(TimelineEvent.action).where(TimelineEvent.subject_id == case.id)).all()
        assert "platform_status" in said and said.count("state_changed") == 1

    taobao.change_after_sale(refund["refund_id"], status="SUCCESS")
    run(app, shop_id)
    with app.app_context():
        case = case_of(refund["refund_id"])
        assert case.state == "resolved" and case.refunded_at is not None
        assert sla.platform_clock(case, utcnow()) is None
        assert (case.category, case.priority, case.assignee.username) == ("fault_in_use", 0, "agent2")


def test_a_description_a_person_wrote_is_kept_and_the_platforms_shown_as_a_difference(app, fakes):
    taobao = fakes.platforms["taobao"]
    refund = taobao.new_after_sale(reason="质量问题", desc="开机没反应")
    shop_id = connect(app, fakes, "taobao")
    run(app, shop_id)
    with app.app_context():
        case = case_of(refund["refund_id"])
        flow.update_fields(case, {"summary": "电话确认：电源适配器坏了"}, user_named("agent"), sla.load_rules(), utcnow())
        db.session.commit()

    taobao.change_after_sale(refund["refund_id"], desc="开机没反应，指示灯不亮")
    run(app, shop_id)

    with app.app_context():
        case = case_of(refund["refund_id"])
        assert case.summary == "电话确认：电源适配器坏了"
        assert [(item["field"], item["platform"]) for item in case.platform_conflicts] == [
            ("summary", "质量问题：开机没反应，指示灯不亮")]


def test_pages_commit_with_the_cursor_and_a_failed_run_resumes_where_it_stopped(app, fakes):
    taobao = fakes.platforms["taobao"]
    base = utcnow() - timedelta(hours=2)
    made = []
    for number in range(7):
        record = taobao.new_after_sale()
        taobao.put("cases", record["refund_id"], record, base + timedelta(minutes=number))  # modified one by one
        made.append(record["refund_id"])
    shop_id = connect(app, fakes, "taobao", sync_reviews=False)
    with app.app_context():
        connector = runner.connector_class("tmall")(runner.credentials_of(connection_of(shop_id)))
    connector.page_size = 3

    # pages 1 and 2 land, then the platform keeps failing: the run ends, its two pages stay
    calls = []
    real_fetch = connector.fetch

    def failing_third(kind, start, end, page_no):
        calls.append(page_no)
        if page_no == 3 and calls.count(3) == 1:
            taobao.fail("server_error", runner.RETRIES + 1)
        return real_fetch(kind, start, end, page_no)

    connector.fetch = failing_third
    first = run(app, shop_id, connector=connector)
    assert first.outcome == "retry" and first.created == 6 and first.retries == runner.RETRIES
    with app.app_context():
        cursor = db.session.get(SyncCursor, (shop_id, "cases"))
        assert cursor.next_page == 3 and cursor.window_end is not None
        assert connection_of(shop_id).failures == 1

    before = len(calls)
    second = run(app, shop_id, connector=connector, now=utcnow() + timedelta(seconds=5))
    assert second.outcome == "ok" and second.created == 1
    # It resumed the half-paged window at page 3, not at page 1, then looked at what changed since (a new window)
    assert calls[before:] == [3, 1]
    with app.app_context():
        assert {case_of(refund_id).platform_case_id for refund_id in made} == set(made)
        assert db.session.get(SyncCursor, (shop_id, "cases")).window_end is None


def test_the_rate_limit_is_waited_out_and_the_run_succeeds(app, fakes):
    taobao = fakes.platforms["taobao"]
    taobao.new_after_sale()
    shop_id = connect(app, fakes, "taobao")
    taobao.fail("rate_limit")
    waits = []

    done = run(app, shop_id, sleep=waits.append)

    assert done.outcome == "ok" and done.created == 1 and done.retries == 1
    assert len(waits) == 1 and 0 < waits[0] <= runner.LONGEST_WAIT


def test_a_refused_token_stops_the_shop_and_says_so_until_an_admin_enters_a_new_one(app, fakes, login_as):
    taobao = fakes.platforms["taobao"]
    taobao.new_after_sale()
    shop_id = connect(app, fakes, "taobao")
    taobao.fail("bad_token")

    done = run(app, shop_id)

    assert done.outcome == "stopped"
    with app.app_context():
        connection = connection_of(shop_id)
        assert connection.state == "stopped" and connection.token_refused
        assert connection.stop_reason.startswith("平台拒绝了店铺授权")  # what to do, in the shop's language
        assert runner.due_shops(utcnow() + timedelta(hours=2)) == []
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Case).where(Case.platform_case_id.is_not(None))) == 0
    client = login_as("lead")
    counters = client.get("/counters").get_data(as_text=True)
    assert 'data-counter="sync"' in counters and "测试天猫店" in counters
    panel = client.get("/sync/").get_data(as_text=True)
    assert 'data-health="token_expired"' in panel
    with app.app_context():
        before = connection_of(shop_id).next_run_at
    client.post_form(f"/sync/{shop_id}/run", {})  # "sync now" on a stopped shop is refused: nothing is due
    with app.app_context():
        assert connection_of(shop_id).next_run_at == before


def test_bad_records_are_skipped_with_their_id_and_the_rest_of_the_page_lands(app, fakes):
    taobao = fakes.platforms["taobao"]
    good = taobao.new_after_sale()
    text_amount = taobao.new_after_sale(refund_fee="三百元")
    no_status = taobao.new_after_sale()
    taobao.put("cases", no_status["refund_id"], {key: value for key, value in no_status.items() if key != "status"})
    other_shop = taobao.new_after_sale(seller_nick="别人家的店")
    unknown_status = taobao.new_after_sale(status="WAIT_SOMETHING_NEW")
    shop_id = connect(app, fakes, "taobao", sync_reviews=False)

    done = run(app, shop_id)

    assert done.outcome == "ok"
    with app.app_context():
        logged = db.session.scalars(sa.select(SyncProblem)).all()
        problems = {problem.record_id: problem.message for problem in logged if problem.skipped}
        assert set(problems) == {text_amount["refund_id"], no_status["refund_id"], other_shop["refund_id"]}
        notes = {problem.record_id: problem.message for problem in logged if not problem.skipped}
        assert list(notes) == [unknown_status["refund_id"]] and "WAIT_SOMETHING_NEW" in notes[unknown_status["refund_id"]]
        assert "别人家的店" in problems[other_shop["refund_id"]]
        assert case_of(good["refund_id"]) is not None
        kept = case_of(unknown_status["refund_id"])  # a status we do not know is kept as written, moving nothing
        assert kept.platform_status is None and kept.platform_status_text == "WAIT_SOMETHING_NEW"
        for refund_id in problems:
            assert case_of(refund_id) is None
    assert done.skipped == 3 and done.created == 2


def test_two_servers_never_sync_one_shop_at_the_same_time(app, fakes):
    taobao = fakes.platforms["taobao"]
    for _ in range(4):
        taobao.new_after_sale()
    shop_id = connect(app, fakes, "taobao", sync_reviews=False)
    real_handle = taobao.handle

    def slow(request):  # each call takes a while, so the two servers' passes overlap
        time.sleep(0.2)
        return real_handle(request)

    taobao.handle = slow
    start = threading.Barrier(2)
    results: dict[str, list] = {}

    def server(name: str):
        with app.app_context():
            start.wait()
            results[name] = [(done.shop_id, done.created) for done in runner.run_due(utcnow())]
            db.session.remove()

    threads = [threading.Thread(target=server, args=(name,)) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(len(made) for made in results.values()) == [0, 1]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncRun)) == 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Case).where(Case.platform_case_id.is_not(None))) == 4
        connection = connection_of(shop_id)
        assert connection.lease_until is None and connection.next_run_at > utcnow()


def test_a_claim_is_won_once_and_a_dead_runs_lease_runs_out(app, fakes):
    shop_id = connect(app, fakes, "taobao")
    with app.app_context():
        connection_id = connection_of(shop_id).id
        now = utcnow()
        assert runner.claim(connection_id, now, "one")
        assert not runner.claim(connection_id, now, "two")
        assert runner.claim(connection_id, now + runner.LEASE + timedelta(seconds=1), "two")
        assert db.session.get(ShopConnection, connection_id).leased_by == "two"


def test_the_interval_follows_big_promotion_mode(app):
    with app.app_context():
        assert runner.interval() == timedelta(minutes=5)
        from models import set_setting
        set_setting("promo_mode", True)
        db.session.commit()
        assert runner.interval() == timedelta(minutes=2)


@pytest.mark.parametrize("family", ["jd", "douyin"])
def test_jd_and_douyin_after_sales_arrive_through_the_same_run(app, fakes, family):
    fake = fakes.platforms[family]
    records = [fake.new_after_sale() for _ in range(2)]
    fake.new_review()
    shop_id = connect(app, fakes, family)

    done = run(app, shop_id)

    assert done.outcome == "ok", done.error
    assert done.created == 3 and done.skipped == 0
    with app.app_context():
        cases = db.session.scalars(sa.select(Case).where(Case.shop_id == shop_id, Case.platform_case_id.is_not(None))).all()
        assert len(cases) == len(records)
        assert all(case.platform_status is not None for case in cases)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Review).where(Review.shop_id == shop_id)) == 1


def test_runs_and_skipped_records_older_than_a_month_are_dropped(app, fakes):
    taobao = fakes.platforms["taobao"]
    taobao.new_after_sale(refund_fee="三百元")
    shop_id = connect(app, fakes, "taobao", sync_reviews=False)
    old = run(app, shop_id)
    with app.app_context():
        stored = db.session.get(SyncRun, old.id)
        stored.started_at = utcnow() - runner.HISTORY_KEPT - timedelta(hours=1)
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SyncProblem)) == 1

    recent = run(app, shop_id)

    with app.app_context():
        assert db.session.scalars(sa.select(SyncRun.id)).all() == [recent.id]
        assert db.session.scalars(sa.select(SyncProblem.run_id)).all() == [recent.id]  # skipped again, kept once


def test_a_record_twice_in_one_page_is_taken_once_and_the_second_logged(app, fakes):
    taobao = fakes.platforms["taobao"]
    refund = taobao.new_after_sale()
    shop_id = connect(app, fakes, "taobao", sync_reviews=False)
    with app.app_context():
        connector = runner.connector_class("tmall")(runner.credentials_of(connection_of(shop_id)))
    real_fetch = connector.fetch

    def twice(kind, start, end, page_no):
        page = real_fetch(kind, start, end, page_no)
        page.records = page.records + page.records[:1]  # a platform that sends one record twice
        return page

    connector.fetch = twice
    done = run(app, shop_id, connector=connector)

    assert (done.outcome, done.created, done.skipped) == ("ok", 1, 1)
    with app.app_context():
        problem = db.session.scalar(sa.select(SyncProblem))
        assert problem.record_id == refund["refund_id"] and problem.skipped
        assert "售后单号" in problem.message  # the importers' repeated-key refusal, in the shop's language
