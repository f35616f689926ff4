"""The handoff sheet's rules, with a controlled ``now``: the loop, the clocks, routing, the shift handoff, links."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from cases import sla
from handoffs import flow
from models import Case, Handoff, Team, TimelineEvent, db, set_setting, utcnow
from tests.conftest import user_named

ACK = timedelta(minutes=120)


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield


def team(function: str) -> Team:
    return db.session.scalar(sa.select(Team).where(Team.function == function))


def raise_one(now=None, kind="warehouse", raiser="agent", owed="warehouse", **values):
    return flow.raise_handoff(kind=kind, raiser=user_named(raiser), owed_team=team(owed), request="请确认退货已入库",
                              now=now or utcnow(), order_no=values.pop("order_no", "TB1001"), **values)


def actions(item):
    return [event.action for event in db.session.scalars(TimelineEvent.for_subject("handoff", item.id))][::-1]


def test_the_whole_loop_with_both_sides(ctx):
    now = utcnow()
    item = raise_one(now)
    assert (item.state, item.raised_team.function, item.owed_team.function) == ("open", "aftersales", "warehouse")
    assert item.due_at == now + timedelta(hours=24)  # the warehouse kind's default
    with pytest.raises(flow.HandoffRefused):  # the raiser does not acknowledge their own request
        flow.acknowledge(item, user_named("agent"), None, now)
    flow.acknowledge(item, user_named("warehouse"), now + timedelta(hours=3), now + timedelta(minutes=5))
    flow.follow_up(item, user_named("agent"), "买家催了", now + timedelta(minutes=30))
    flow.follow_up(item, user_named("warehouse"), "下午入库", now + timedelta(minutes=40))
    with pytest.raises(flow.HandoffRefused):
        flow.close(item, user_named("agent"), now)  # nothing done yet
    flow.mark_done(item, user_named("warehouse"), "已入库，包裹完好", now + timedelta(hours=2))
    flow.send_back(item, user_named("agent"), "请拍照", now + timedelta(hours=3))
    assert (item.state, item.sent_back_count) == ("sent_back", 1)
    flow.mark_done(item, user_named("warehouse"), "已补照片", now + timedelta(hours=4))
    with pytest.raises(flow.HandoffRefused):
        flow.close(item, user_named("warehouse"), now)  # the owing side does not confirm its own work
    flow.close(item, user_named("agent"), now + timedelta(hours=5))
    db.session.commit()
    assert item.state == "closed" and item.acknowledged_by == "warehouse name"
    assert actions(item) == ["handoff_raised", "handoff_acknowledged", "handoff_followed_up", "handoff_followed_up", "handoff_done",
                             "handoff_sent_back", "handoff_done", "handoff_closed"]


def test_a_request_needs_what_is_asked_and_a_key(ctx):
    with pytest.raises(flow.HandoffRefused):  # neither an order number nor a case
        flow.raise_handoff(kind="warehouse", raiser=user_named("agent"), owed_team=team("warehouse"), request="x", now=utcnow())
    with pytest.raises(flow.HandoffRefused):
        flow.raise_handoff(kind="warehouse", raiser=user_named("agent"), owed_team=team("warehouse"), request="  ",
                           now=utcnow(), order_no="1")
    with pytest.raises(flow.HandoffRefused):  # an installer needs an address and an appointment
        raise_one(kind="installer", owed="installer")


def test_not_acknowledged_in_time_is_flagged_then_overdue_at_its_due_time(ctx):
    start = utcnow()
    item = raise_one(start)
    assert flow.status(item, start + timedelta(minutes=119), ACK) == "on_time"
    assert flow.next_change(item, start + timedelta(minutes=119), ACK) == start + ACK
    assert flow.status(item, start + timedelta(minutes=121), ACK) == "flagged"
    assert flow.next_change(item, start + timedelta(minutes=121), ACK) == item.due_at
    assert flow.status(item, item.due_at, ACK) == "overdue"
    flow.acknowledge(item, user_named("warehouse"), None, start + timedelta(minutes=130))
    assert flow.status(item, start + timedelta(minutes=131), ACK) == "on_time"  # acknowledged: no longer flagged
    assert flow.status(item, item.due_at + timedelta(minutes=1), ACK) == "overdue"  # but still due
    flow.mark_done(item, user_named("warehouse"), "好了", item.due_at + timedelta(minutes=2))
    assert flow.status(item, item.due_at + timedelta(hours=5), ACK) == "waiting"


def test_the_lead_edits_the_windows(ctx):
    set_setting("handoff_ack_minutes", 30)
    set_setting("handoff_due_hours", {"warehouse": 4})
    start = utcnow()
    item = raise_one(start)
    assert item.due_at == start + timedelta(hours=4)
    assert flow.status(item, start + timedelta(minutes=31), flow.ack_window()) == "flagged"


def test_a_major_complaint_late_is_counted_for_the_lead(ctx, make_case):
    case = db.session.get(Case, make_case(kind="complaint"))
    start = utcnow() - timedelta(hours=3)
    item = flow.raise_handoff(kind="warehouse", raiser=user_named("agent"), owed_team=team("warehouse"), request="查监控",
                              now=start, case=case)
    raise_one(start)  # not major: not counted
    assert item.major
    assert flow.late_for_lead(utcnow(), ACK) == 1
    flow.acknowledge(item, user_named("warehouse"), None, utcnow())
    assert flow.late_for_lead(utcnow(), ACK) == 0


def test_routing_a_case_makes_a_handoff_and_its_acknowledgement_stops_the_department_clock(ctx, make_case):
    case = db.session.get(Case, make_case())
    rules, now = sla.load_rules(), utcnow()
    item = flow.route_case(case, team("warehouse"), "请确认收到退货", user_named("agent"), rules, now)
    assert (item.kind, item.case_id, item.order_no) == ("warehouse", case.id, case.order_no)
    assert case.routed_to == team("warehouse").name and case.department_response_at is None
    assert "no_response" in {clock.key for clock in rules.clocks(case, now) if clock.status in sla.RUNNING_STATUSES}
    flow.acknowledge(item, user_named("warehouse"), None, now + timedelta(minutes=20), rules=rules)
    assert case.department_response_at == now + timedelta(minutes=20)
    db.session.commit()
    case_actions = [e.action for e in db.session.scalars(TimelineEvent.for_subject("case", case.id))]
    assert "handoff_raised" in case_actions and case_actions.count("milestone") == 2  # routed, then responded


def test_closing_a_case_with_open_handoffs_needs_a_reason(ctx, make_case):
    case = db.session.get(Case, make_case())
    raise_one(case=case)
    with pytest.raises(flow.HandoffRefused):
        flow.check_case_closing(case, "", user_named("agent"))
    flow.check_case_closing(case, "买家撤销了售后", user_named("agent"))
    db.session.commit()
    note = db.session.scalar(TimelineEvent.for_subject("case", case.id))
    assert note.action == "noted" and "买家撤销了售后" in note.detail["text"]


def test_a_shift_handoff_moves_nothing_until_accepted(ctx, make_case):
    ids = [make_case(assignee="agent") for _ in range(3)]
    closed = db.session.get(Case, make_case(assignee="agent"))
    closed.state = "closed"
    db.session.commit()
    rules, now = sla.load_rules(), utcnow()
    item = flow.hand_over_shift(user_named("agent"), user_named("agent2"), {ids[0]: "买家下午来电"}, "今天的", now)
    db.session.commit()
    assert {db.session.get(Case, case_id).assignee.username for case_id in ids} == {"agent"}
    with pytest.raises(flow.HandoffRefused):
        flow.accept_shift(item, user_named("lead"), rules, now)  # only the receiver accepts
    with pytest.raises(flow.HandoffRefused):  # one pending shift handoff at a time
        flow.hand_over_shift(user_named("agent"), user_named("agent2"), {}, "", now)
    assert flow.accept_shift(item, user_named("agent2"), rules, now + timedelta(minutes=5)) == 3
    db.session.commit()
    assert {db.session.get(Case, case_id).assignee.username for case_id in ids} == {"agent2"}
    assert closed.assignee.username == "agent"  # a finished case is not handed over
    assert item.state == "closed" and item.accepted_at == now + timedelta(minutes=5)
    note = db.session.scalar(TimelineEvent.for_subject("case", ids[0]).where(TimelineEvent.action == "noted"))
    assert "买家下午来电" in note.detail["text"]


def test_uncovered_cases_are_those_whose_owner_is_not_at_work_today(ctx, make_case, app):
    nobody = make_case()
    working = make_case(assignee="agent")
    away = make_case(assignee="agent2")
    zone = app.config["SHOP_TZ"]
    # make_case records its events as agent, so agent is at work; agent2 did nothing today
    found = {case.id for case in flow.uncovered_cases(utcnow(), zone)}
    assert nobody in found and away in found and working not in found


def test_links_open_one_item_until_expired_or_revoked(ctx):
    now = utcnow()
    item = raise_one(now, kind="installer", owed="installer", address="上海市", appointment_at=now + timedelta(days=1))
    token = flow.create_link(item, "万师傅", user_named("agent"), now, hours=2)
    assert flow.open_link(token, now + timedelta(hours=1)).handoff_id == item.id
    with pytest.raises(flow.LinkRefused, match="expired"):
        flow.open_link(token, now + timedelta(hours=2))
    with pytest.raises(flow.LinkRefused, match="unknown"):
        flow.open_link(token[:-1] + ("A" if token[-1] != "A" else "B"), now)
    link = flow.open_link(token, now)
    flow.revoke_link(link, user_named("agent"), now)
    with pytest.raises(flow.LinkRefused, match="revoked"):
        flow.open_link(token, now)
    assert db.session.scalar(sa.select(Handoff.id)) == item.id
    assert token not in str(link.token_hash) and len(token) >= 40
