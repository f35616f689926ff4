"""The board's deadline: ours or the platform's, whichever comes first (issue #13 point 3); durations typed and
read in hours and minutes; priorities with their own defaults."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from flask_migrate import upgrade

from app import create_app
from cases import board as case_board
from cases import flow as caseflow
from cases import importing as case_import
from cases import sla
from cases.sla import AT_RISK, ON_TIME, OVERDUE, Override, Rules
from models import Case, Shop, SlaPolicy, db, utcnow
from spreadsheets import read_table
from tests.conftest import MIGRATIONS, base_config, in_english, user_named
from tests.test_migrations import empty_database  # noqa: F401 - the fixture

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN = timedelta(minutes=1)


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield


def case_at(**values):
    facts = {"kind": "return_refund", "category": "other", "priority": 2, "state": "new", "received_at": T0,
             "platform_deadline_at": None, "pauses": []}
    facts.update(values)
    return sla.CaseFacts(**{k: v for k, v in facts.items() if k != "platform_deadline_at"}), facts["platform_deadline_at"]


class Row:
    """A case as the clocks read it, with a platform deadline."""

    def __init__(self, **values):
        facts, deadline = case_at(**values)
        self.__dict__.update(facts.__dict__)
        self.platform_deadline_at = deadline
        self.platform_status = values.get("platform_status")


# --- the platform's clock --------------------------------------------------------------------------------

def test_platform_clock_turns_at_risk_in_the_last_share_and_overdue_at_the_deadline():
    case = Row(platform_deadline_at=T0 + 100 * MIN)
    assert sla.platform_clock(Row(), T0) is None
    assert sla.platform_clock(Row(state="closed", platform_deadline_at=T0 + MIN), T0) is None
    early = sla.platform_clock(case, T0 + 70 * MIN)
    assert (early.status, early.risk_at, early.remaining, early.changes_at) == (ON_TIME, T0 + 75 * MIN, 30 * MIN, T0 + 75 * MIN)
    late = sla.platform_clock(case, T0 + 80 * MIN)
    assert (late.status, late.changes_at) == (AT_RISK, T0 + 100 * MIN)
    past = sla.platform_clock(case, T0 + 101 * MIN)
    assert (past.status, past.remaining, past.changes_at) == (OVERDUE, -MIN, None)
    assert Rules(at_risk_percent=50).platform_clock(case, T0 + 60 * MIN).status == AT_RISK  # the lead's share


def test_platform_clock_ignores_pauses_the_marketplace_does_not_know():
    waiting = Row(state="waiting", pauses=[[T0.isoformat(), None]], platform_deadline_at=T0 + 60 * MIN)
    due, risk = Rules().deadlines(waiting, T0 + 10 * MIN)
    assert (due, risk) == (T0 + 60 * MIN, T0 + 45 * MIN)  # our reply clock is paused; the platform's is not


def test_stored_deadlines_take_the_earlier_of_ours_and_the_platforms():
    rules = Rules()
    ours_first = Row(platform_deadline_at=T0 + 5 * 60 * MIN)
    platform_first = Row(platform_deadline_at=T0 + 60 * MIN)
    assert rules.deadlines(ours_first, T0) == (T0 + 180 * MIN, T0 + 135 * MIN)
    assert rules.deadlines(platform_first, T0) == (T0 + 60 * MIN, T0 + 45 * MIN)
    assert sla.status_at(*rules.deadlines(platform_first, T0 + 50 * MIN), T0 + 50 * MIN) == AT_RISK
    closed = Row(state="closed", closed_at=T0, platform_deadline_at=T0 + MIN)
    assert rules.deadlines(closed, T0)[0] == T0 + 72 * 60 * MIN  # closed: the satisfaction follow-up only


# --- the order on the board and in the list ---------------------------------------------------------------

def test_the_p0_case_due_soonest_on_the_platform_comes_first(app, login_as, make_case):
    with app.app_context():
        now = utcnow()
    ours = [make_case(minutes_ago=minutes) for minutes in (175, 170, 165)]  # our reply clocks: 5, 10, 15 min left
    platform = make_case(minutes_ago=0, priority=0, platform_deadline_at=now + 2 * MIN)
    no_clock = make_case(minutes_ago=0)
    with app.app_context():
        db.session.get(Case, no_clock).next_due_at = None  # as a case with nothing running
        db.session.commit()
        order = db.session.scalars(sa.select(Case.id).where(Case.state == "new").order_by(*case_board.deadline_order())).all()
    assert order == [platform, *ours, no_clock]
    html = login_as("lead").get("/cases/list").get_data(as_text=True)
    listed = [int(x) for x in re.findall(r'href="/cases/(\d+)"', html)]
    assert [case for case in listed if case in order] == order


def test_a_column_is_read_in_index_order_without_a_sort(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's plan is the one checked here")
        stmt = sa.select(Case.id).where(Case.state == "new").order_by(*case_board.deadline_order()).limit(20)
        sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
        plan = " ".join(row[-1] for row in db.session.execute(sa.text("EXPLAIN QUERY PLAN " + sql)))
    assert "ix_cases_state_due_order" in plan and "TEMP B-TREE" not in plan


# --- kept current wherever the platform deadline or the case changes ---------------------------------------

def test_next_due_at_follows_an_edited_platform_deadline(ctx, make_case):
    case = db.session.get(Case, make_case(minutes_ago=0))
    rules, agent, now = sla.load_rules(), user_named("agent"), utcnow()
    assert case.next_due_at == case.received_at + 3 * 60 * MIN
    caseflow.update_fields(case, {"platform_deadline_at": now + 30 * MIN}, agent, rules, now)
    assert case.next_due_at == now + 30 * MIN and case.next_risk_at == now + 30 * MIN - (now + 30 * MIN - case.received_at) / 4
    caseflow.update_fields(case, {"platform_deadline_at": None}, agent, rules, now)
    assert case.next_due_at == case.received_at + 3 * 60 * MIN


def test_next_due_at_follows_state_changes(ctx, make_case):
    now = utcnow()
    case = db.session.get(Case, make_case(minutes_ago=0, platform_deadline_at=now + 10 * 60 * MIN))
    rules, agent = sla.load_rules(), user_named("agent")
    assert case.next_due_at == case.received_at + 3 * 60 * MIN  # ours first
    caseflow.change_state(case, "waiting", agent, rules, now, waiting_for="buyer")  # our clock pauses
    assert case.next_due_at == now + 10 * 60 * MIN
    caseflow.change_state(case, "resolved", agent, rules, now)
    caseflow.change_state(case, "closed", agent, rules, now, closure={"responsibility": "none", "cause": "好意"})
    assert case.next_due_at == now + 72 * 60 * MIN  # closed: the satisfaction follow-up, not the platform


def test_an_import_sets_and_moves_the_platform_deadline(ctx):
    shops = db.session.scalars(sa.select(Shop)).all()
    header = ["订单号", "买家昵称", "售后类型", "店铺", "申请时间", "超时时间"]

    def run(deadline: str):
        rows = [header, ["1001", "小林", "仅退款", "测试天猫店", "2026-11-20 10:00", deadline]]
        table = read_table("\n".join(",".join(row) for row in rows).encode("utf-8"), "f.csv")
        plan = case_import.plan_import(table, platform="tmall", shops=shops, now=T0 + 60 * MIN, zone=SHANGHAI)
        assert plan.ready, plan.problems
        case_import.apply_import(plan, user_named("agent"), sla.load_rules(), T0 + 60 * MIN)
        db.session.commit()
        return db.session.scalar(sa.select(Case).where(Case.order_no == "1001"))

    case = run("2026-11-20 11:30")  # Shanghai: 03:30 UTC, before our reply at 05:00
    assert case.next_due_at == datetime(2026, 11, 20, 3, 30, tzinfo=UTC)
    case = run("2026-11-20 16:00")  # moved past ours: ours comes first again
    assert case.next_due_at == datetime(2026, 11, 20, 5, 0, tzinfo=UTC)


def test_an_overdue_platform_deadline_counts_as_overdue_on_the_board(ctx, make_case):
    now = utcnow()
    late = make_case(minutes_ago=10, assignee="agent", platform_deadline_at=now - MIN)
    make_case(minutes_ago=10, assignee="agent")
    overdue = db.session.scalars(sa.select(Case.id).where(*case_board.CaseFilter(clock="overdue").where(user_named("agent"), now))).all()
    assert overdue == [late]
    assert case_board.overdue_for(user_named("agent"), now)[0] == 1


# --- the migration's back-fill ------------------------------------------------------------------------------

def test_migration_backfills_the_platform_deadline_into_stored_deadlines(empty_database):  # noqa: F811
    app = create_app(base_config(empty_database))
    naive = {name: datetime(2026, 11, 20, hour, minute) for name, (hour, minute) in
             {"received": (10, 0), "ours": (13, 0), "our_risk": (12, 15), "platform": (11, 0), "later": (15, 0)}.items()}
    cases = sa.table("cases", sa.column("id"), sa.column("order_no"), sa.column("next_due_at", sa.DateTime()),
                     sa.column("next_risk_at", sa.DateTime()))
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0009_daily_figures")
        with db.engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO shops (platform, name, active) VALUES ('tmall', '老店', true)"))
            shop_id = connection.execute(sa.text("SELECT id FROM shops")).scalar()
            rows = [("A", "new", naive["ours"], naive["our_risk"], naive["platform"]),
                    ("B", "in_progress", naive["ours"], naive["our_risk"], naive["later"]),
                    ("C", "closed", None, None, naive["platform"]),
                    ("D", "new", naive["ours"], naive["our_risk"], None),
                    ("E", "waiting", None, None, naive["platform"])]
            for order_no, state, due, risk, deadline in rows:
                connection.execute(sa.text(
                    "INSERT INTO cases (shop_id, platform, order_no, buyer_nick, kind, category, priority, state, summary,"
                    " order_amount, flag_note, responsible_person, cause, result, buyer_feedback, platform_deadline_note,"
                    " received_at, routed_to, pauses, reopen_count, created_at, updated_at, version, next_due_at, next_risk_at,"
                    " platform_deadline_at) VALUES (:shop, 'tmall', :order_no, '小林', 'refund_only', 'other', 2, :state, '',"
                    " 10, '', '', '', '', '', '', :received, '', '[]', 0, :received, :received, 1, :due, :risk, :deadline)"),
                    {"shop": shop_id, "order_no": order_no, "state": state, "received": naive["received"], "due": due,
                     "risk": risk, "deadline": deadline})
        upgrade(directory=MIGRATIONS, revision="0010_board")
        with db.engine.connect() as connection:
            stored = {row.order_no: (row.next_due_at, row.next_risk_at) for row in connection.execute(sa.select(cases))}
            assert connection.execute(sa.text("SELECT count(*) FROM users WHERE on_duty")).scalar() == 0
        db.engine.dispose()
    assert stored["A"] == (naive["platform"], datetime(2026, 11, 20, 10, 45))  # 11:00 less a quarter of the hour
    assert stored["B"] == (naive["ours"], naive["our_risk"])  # the platform's comes later: unchanged
    assert stored["C"] == (None, None)  # closed
    assert stored["D"] == (naive["ours"], naive["our_risk"])  # no platform deadline
    assert stored["E"] == (naive["platform"], datetime(2026, 11, 20, 10, 45))  # ours paused, the platform's runs


# --- durations in hours and minutes ---------------------------------------------------------------------------

@pytest.mark.parametrize("typed,minutes", [
    ("2小时30分", 150), ("2 小时 30 分", 150), ("2 h 30 min", 150), ("2h30m", 150), ("2:30", 150), ("150", 150),
    ("1.5小时", 90), ("半小时", 30), ("2小时半", 150), ("1个半小时", 90), ("2小时30", 150), ("45分钟", 45),
    ("３小时", 180), ("1天", 1440), ("48 h", 2880),
])
def test_durations_are_read_in_hours_and_minutes(ctx, typed, minutes):
    assert sla.parse_duration(typed) == minutes


@pytest.mark.parametrize("typed,words", [
    ("abc", "Not a duration"), ("2:75", "After the colon come minutes"), ("0", "At least 1 minute"),
    ("31天", "At most 30 days"), ("1.01h", "whole minutes"), ("2h 3h", "Not a duration"), ("", "Enter a duration"),
])
def test_bad_durations_are_refused_in_words(ctx, typed, words):
    with force_locale("en"), pytest.raises(sla.DurationError) as refused:
        sla.parse_duration(typed)
    with force_locale("en"):
        assert words in str(refused.value.message)


def test_durations_are_written_in_hours_and_minutes(ctx):
    with force_locale("en"):
        assert [sla.duration_text(m) for m in (150, 180, 45, 2880)] == ["2 h 30 min", "3 h", "45 min", "48 h"]
        assert sla.parse_duration(sla.duration_text(150)) == 150  # what the page shows can be typed back


def test_the_rules_page_takes_and_shows_hours_and_minutes(app, login_as):
    lead = in_english(login_as("lead"))
    page = lead.get("/cases/rules").get_data(as_text=True)
    assert re.search(r"P0 urgent</td>\s*<td class=\"num\">30 min</td><td class=\"num\">20 min</td>", page)
    assert re.search(r"\(other priorities\)</td>\s*<td class=\"num\">3 h</td><td class=\"num\">2 h</td>", page)
    saved = lead.post_form("/cases/rules/clocks", {"clock": "reply", "kind": "complaint", "priority": "",
                                                  "minutes": "2小时30分", "promo_minutes": "1:30"})
    assert saved.status_code == 302
    with app.app_context():
        policy = db.session.scalar(sa.select(SlaPolicy))
        assert (policy.minutes, policy.promo_minutes) == (150, 90)
    page = lead.get("/cases/rules").get_data(as_text=True)
    assert '<td class="num">2 h 30 min</td><td class="num">1 h 30 min</td>' in page
    refused = lead.post_form("/cases/rules/clocks", {"clock": "reply", "kind": "", "priority": "", "minutes": "soon",
                                                    "promo_minutes": "1:75"}).get_data(as_text=True)
    assert "Not a duration: write hours and minutes" in refused and "After the colon come minutes, from 00 to 59." in refused
    assert 'value="soon"' in refused  # what was typed stays in the box
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SlaPolicy)) == 1


# --- priorities differ by default -------------------------------------------------------------------------------

def test_p0_is_tighter_than_p3_by_default():
    rules = Rules()
    reply = [rules.policy_for("return_refund", priority).minutes["reply"] for priority in range(4)]
    progress = [rules.policy_for("return_refund", priority).minutes["progress"] for priority in range(4)]
    assert reply == [30, 60, 180, 180] and progress == [120, 240, 480, 480]
    assert Rules(promo=True).policy_for("return_refund", 0).minutes["reply"] == 20
    assert rules.policy_for("return_refund", 0).minutes["refund"] == rules.policy_for("return_refund", 3).minutes["refund"]


def test_a_leads_override_wins_over_the_priority_defaults():
    rules = Rules([Override("reply", None, None, 240, 200)])
    assert rules.policy_for("return_refund", 0).minutes["reply"] == 240
    assert Rules([Override("reply", None, 3, 360, 240)]).policy_for("return_refund", 3).minutes["reply"] == 360


def test_a_new_p0_case_must_be_answered_within_30_minutes(ctx, make_case):
    case = db.session.get(Case, make_case(minutes_ago=0, priority=0))
    assert case.next_due_at - case.received_at == 30 * MIN
