"""The closed loop: allowed moves, what closing and reopening need, milestones, and the timeline."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from cases import flow as caseflow
from cases import sla
from cases.flow import CaseRuleError
from models import Case, TimelineEvent, db, utcnow
from tests.conftest import user_named

CLOSURE = {"responsibility": "courier", "person": "中通", "cause": "外箱在运输中压坏", "result": "补偿20元", "buyer_feedback": "满意"}


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield


def events(case_id):
    return [e.action for e in db.session.scalars(TimelineEvent.for_subject("case", case_id)).all()][::-1]


def test_the_whole_loop_lands_in_the_timeline(ctx, make_case):
    case = db.session.get(Case, make_case())
    agent, rules = user_named("agent"), sla.load_rules()
    caseflow.assign(case, agent, agent, rules, utcnow())
    assert case.state == "in_progress"  # taking a new case starts it
    caseflow.mark_milestone(case, "replied", agent, rules, utcnow())
    caseflow.change_state(case, "waiting", agent, rules, utcnow(), waiting_for="warehouse")
    caseflow.mark_milestone(case, "return_received", agent, rules, utcnow())
    caseflow.change_state(case, "in_progress", agent, rules, utcnow())
    caseflow.mark_milestone(case, "refunded", agent, rules, utcnow())
    caseflow.change_state(case, "resolved", agent, rules, utcnow())
    caseflow.change_state(case, "closed", agent, rules, utcnow(), closure=CLOSURE)
    caseflow.mark_milestone(case, "followed_up", agent, rules, utcnow())
    db.session.commit()
    assert case.responsibility == "courier" and case.responsible_person == "中通" and case.cause == "外箱在运输中压坏"
    assert events(case.id) == ["created", "assigned", "milestone", "state_changed", "milestone", "state_changed",
                               "milestone", "state_changed", "state_changed", "milestone"]
    assert case.next_due_at is None  # every clock met: nothing running


@pytest.mark.parametrize("start,target", [("new", "closed"), ("in_progress", "new"), ("in_progress", "closed"), ("closed", "resolved")])
def test_moves_outside_the_loop_are_refused(ctx, make_case, start, target):
    case = db.session.get(Case, make_case())
    case.state = start
    with pytest.raises(CaseRuleError):
        caseflow.change_state(case, target, user_named("agent"), sla.load_rules(), utcnow(), closure=CLOSURE, note="x")


def test_closing_needs_cause_and_responsibility(ctx, make_case):
    case = db.session.get(Case, make_case())
    case.state = "resolved"
    rules, agent = sla.load_rules(), user_named("agent")
    with pytest.raises(CaseRuleError, match="责任方"):
        caseflow.change_state(case, "closed", agent, rules, utcnow(), closure={"cause": "x"})
    with pytest.raises(CaseRuleError, match="原因"):
        caseflow.change_state(case, "closed", agent, rules, utcnow(), closure={"responsibility": "none", "cause": "  "})
    assert case.state == "resolved"


def test_waiting_needs_a_reason_and_the_buyer_pauses_the_clocks(ctx, make_case):
    case = db.session.get(Case, make_case(minutes_ago=60))
    agent, rules = user_named("agent"), sla.load_rules()
    with pytest.raises(CaseRuleError):
        caseflow.change_state(case, "waiting", agent, rules, utcnow())
    caseflow.change_state(case, "waiting", agent, rules, utcnow(), waiting_for="buyer")
    assert case.pauses[-1][1] is None and case.next_due_at is None
    caseflow.change_state(case, "waiting", agent, rules, utcnow(), waiting_for="platform")  # not a pausing wait
    assert case.pauses[-1][1] is not None and case.next_due_at is not None


def test_a_dissatisfied_buyer_reopens_the_loop_with_a_reason(ctx, make_case):
    case = db.session.get(Case, make_case())
    agent, rules = user_named("agent"), sla.load_rules()
    case.state = "resolved"
    caseflow.change_state(case, "closed", agent, rules, utcnow(), closure=CLOSURE)
    with pytest.raises(CaseRuleError):
        caseflow.change_state(case, "in_progress", agent, rules, utcnow(), note=" ")
    caseflow.change_state(case, "in_progress", agent, rules, utcnow(), note="买家说补偿太少")
    assert case.reopen_count == 1 and case.closed_at is None and case.state == "in_progress"
    last = db.session.scalar(TimelineEvent.for_subject("case", case.id))
    assert last.detail["reopened"] == 1 and last.detail["note"] == "买家说补偿太少"


def test_routing_and_department_response(ctx, make_case):
    case = db.session.get(Case, make_case())
    agent, rules = user_named("agent"), sla.load_rules()
    with pytest.raises(CaseRuleError):
        caseflow.mark_milestone(case, "department_responded", agent, rules, utcnow())
    with pytest.raises(CaseRuleError):
        caseflow.mark_milestone(case, "routed", agent, rules, utcnow(), "")
    caseflow.mark_milestone(case, "routed", agent, rules, utcnow(), "仓库")
    assert case.routed_to == "仓库"
    assert "no_response" in {c.key for c in rules.clocks(case, utcnow())}
    with pytest.raises(CaseRuleError):
        caseflow.mark_milestone(case, "followed_up", agent, rules, utcnow())


def test_assignment_only_to_active_case_workers(ctx, make_case):
    case = db.session.get(Case, make_case())
    rules, lead = sla.load_rules(), user_named("lead")
    with pytest.raises(CaseRuleError):
        caseflow.assign(case, user_named("admin"), lead, rules, utcnow())
    inactive = user_named("agent2")
    inactive.active = False
    with pytest.raises(CaseRuleError):
        caseflow.assign(case, inactive, lead, rules, utcnow())


def test_flag_note_and_ticks(ctx, make_case):
    case = db.session.get(Case, make_case())
    agent = user_named("agent")
    caseflow.set_flag(case, "red", "客户要求今天回电", agent)
    with pytest.raises(CaseRuleError):
        caseflow.set_flag(case, "red", "客户要求今天回电", agent)
    with pytest.raises(CaseRuleError):
        caseflow.set_flag(case, "black", "", agent)
    with pytest.raises(CaseRuleError):
        caseflow.add_note(case, "   ", agent)
    caseflow.add_note(case, "已电话联系", agent)
    steps = ["Apologise", "Ask for photos of the damage and of the box"]
    caseflow.tick_step(case, "Apologise", True, agent, steps)
    caseflow.tick_step(case, "Apologise", True, agent, steps)  # ticking twice records once
    with pytest.raises(CaseRuleError):
        caseflow.tick_step(case, "Make coffee", True, agent, steps)
    caseflow.tick_step(case, "Apologise", False, agent, steps)
    db.session.commit()
    assert events(case.id) == ["created", "flagged", "noted", "step_done", "step_undone"]


def test_edits_record_what_changed_and_never_the_phone_number(ctx, make_case):
    case = db.session.get(Case, make_case())
    changes = caseflow.update_fields(case, {"buyer_phone": "13900001111", "priority": 0, "order_no": case.order_no},
                                     user_named("agent"), sla.load_rules(), utcnow())
    db.session.commit()
    assert set(changes) == {"buyer_phone", "priority"}
    event = db.session.scalar(TimelineEvent.for_subject("case", case.id))
    assert event.detail["changes"]["buyer_phone"] == ["138****5678", "139****1111"]
    assert "13900001111" not in str(event.detail)


@pytest.mark.parametrize("phone,masked", [("13812345678", "138****5678"), ("0571-88886666", "057******6666"), ("12345", "*****"), (None, "")])
def test_phone_masking(phone, masked):
    assert caseflow.mask_phone(phone) == masked


def test_deadlines_are_stored_for_the_board(ctx, make_case):
    case = db.session.get(Case, make_case(minutes_ago=200))
    assert case.next_due_at is not None and case.next_due_at <= utcnow()  # reply overdue after 3 h
    fresh = db.session.get(Case, make_case(minutes_ago=0))
    assert fresh.next_due_at - utcnow() > timedelta(hours=2, minutes=59)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Case).where(Case.next_due_at <= utcnow())) == 1
