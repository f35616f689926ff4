"""Who is on duty, and new unassigned cases shared among them in turn (issue #13 point 1, cases/duty.py)."""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

import timeline
from cases import duty, sla
from cases import flow as caseflow
from cases import importing as case_import
from models import Case, Shop, TimelineEvent, db, set_setting, utcnow
from spreadsheets import read_table
from tests.conftest import in_english, user_named

HX = {"HX-Request": "true"}


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        yield


def put_on_duty(*usernames: str) -> None:
    for username in usernames:
        user_named(username).on_duty = True


def switch_round_robin(on: bool = True) -> None:
    set_setting("round_robin_new_cases", on)


def new_case(order_no: str, **values) -> Case:
    shop = db.session.scalar(sa.select(Shop).where(Shop.platform == "tmall"))
    data = {"shop": shop, "order_no": order_no, "buyer_nick": "小林", "kind": "refund_only", "category": "other",
            "priority": 2, "order_amount": 10}
    data.update(values)
    return caseflow.create_case(data, user_named("agent"), sla.load_rules(), utcnow())


def assignees(cases) -> list[str | None]:
    return [case.assignee.username if case.assignee else None for case in cases]


# --- the rule ----------------------------------------------------------------------------------------------

def test_off_by_default_new_cases_stay_unassigned(ctx):
    put_on_duty("agent", "agent2")
    case = new_case("1001")
    assert case.assignee_id is None and case.state == "new"


def test_with_nobody_on_duty_new_cases_stay_unassigned(ctx):
    switch_round_robin()
    case = new_case("1001")
    assert case.assignee is None
    assert duty.next_agent(db.session) is None


def test_a_new_unassigned_case_goes_to_the_person_on_duty_and_the_timeline_says_the_rule_did_it(ctx):
    switch_round_robin()
    put_on_duty("agent2")
    case = new_case("1001")
    db.session.commit()
    assert case.assignee.username == "agent2"
    assert case.state == "new"  # nobody has started it
    event = db.session.scalar(TimelineEvent.for_subject("case", case.id))
    assert (event.action, event.actor_id) == ("assigned", None)
    assert event.detail == {"from": "", "to": "agent2 name", "rule": "round_robin"}
    with force_locale("en"):
        assert timeline.describe(event) == "Assigned to agent2 name in turn (new cases shared among the people on duty)."


def test_a_case_created_with_an_assignee_keeps_it(ctx):
    switch_round_robin()
    put_on_duty("agent2")
    case = new_case("1001", assignee=user_named("agent"))
    assert case.assignee.username == "agent"


def test_turns_are_fair_the_lightest_queue_first_then_the_longest_wait(ctx):
    switch_round_robin()
    for number in range(2):  # agent carries two open cases already
        new_case(f"90{number}", assignee=user_named("agent"))
    put_on_duty("agent", "agent2", "reviewer")
    cases = [new_case(f"100{number}") for number in range(6)]
    # agent2 and reviewer catch up with agent's two; then everyone takes one in turn from whoever waited longest
    assert assignees(cases) == ["agent2", "reviewer", "agent2", "reviewer", "agent", "agent2"]


def test_off_duty_or_inactive_people_get_nothing(ctx):
    switch_round_robin()
    put_on_duty("agent", "agent2")
    user_named("agent2").active = False
    user_named("admin").on_duty = True  # cannot work cases: never picked
    assert assignees([new_case("1001"), new_case("1002")]) == ["agent", "agent"]


def test_an_import_of_ten_cases_is_dealt_out_over_three_people_on_duty(ctx):
    switch_round_robin()
    put_on_duty("agent", "agent2", "lead")
    header = ["订单号", "买家昵称", "售后类型", "店铺", "申请时间"]
    rows = [header, *([f"20{number:02d}", "小林", "仅退款", "测试天猫店", f"2026-11-20 10:{number:02d}"] for number in range(10))]
    table = read_table("\n".join(",".join(row) for row in rows).encode("utf-8"), "ten.csv")
    plan = case_import.plan_import(table, platform="tmall", shops=db.session.scalars(sa.select(Shop)).all(), now=utcnow())
    assert plan.ready, plan.problems
    result = case_import.apply_import(plan, user_named("agent"), sla.load_rules(), utcnow())
    db.session.commit()
    cases = db.session.scalars(sa.select(Case).where(Case.id.in_(result.created)).order_by(Case.id)).all()
    assert sorted(Counter(assignees(cases)).values()) == [3, 3, 4]
    assert assignees(cases)[:3] == ["agent", "agent2", "lead"]  # in turn, by id when nobody has any yet
    rule_lines = db.session.scalars(sa.select(TimelineEvent).where(TimelineEvent.action == "assigned")).all()
    assert len(rule_lines) == 10 and all(line.actor_id is None and line.detail["rule"] == "round_robin" for line in rule_lines)


# --- switching on and off duty ---------------------------------------------------------------------------

def test_only_leads_switch_others_and_only_in_their_team(ctx):
    agent, agent2, lead, manager, warehouse = (user_named(name) for name in ("agent", "agent2", "lead", "manager", "warehouse"))
    assert duty.set_on_duty(agent, True, agent) is True
    assert duty.set_on_duty(agent, True, agent) is False  # already: nothing recorded twice
    with pytest.raises(duty.DutyError):
        duty.set_on_duty(agent2, True, agent)
    assert duty.set_on_duty(agent2, True, lead) is True
    with pytest.raises(duty.DutyError):
        duty.set_on_duty(warehouse, True, lead)  # another team
    assert duty.set_on_duty(warehouse, True, manager) is True
    with pytest.raises(duty.DutyError):
        duty.set_on_duty(user_named("admin"), True, manager)  # does not work cases
    assert [person.username for person in duty.roster(lead)] == ["lead", "agent", "agent2", "manager", "reviewer"]
    assert [person.username for person in duty.roster(agent)] == ["agent"]


def test_an_agent_switches_themself_and_the_timeline_says_so(app, login_as):
    client = in_english(login_as("agent"))
    response = client.post_form("/cases/duty", {"on": "1", "next": "/cases/"})
    assert response.status_code == 302 and response.headers["Location"] == "/cases/"
    assert "agent name is on duty." in client.get("/cases/").get_data(as_text=True)
    with app.app_context():
        agent = user_named("agent")
        assert agent.on_duty is True
        event = db.session.scalar(TimelineEvent.for_subject("user", agent.id))
        assert (event.action, event.actor_id, event.detail["changes"]) == ("updated", agent.id, {"on_duty": [False, True]})


def test_an_agent_cannot_switch_a_colleague(app, login_as):
    with app.app_context():
        agent2_id = user_named("agent2").id
    assert login_as("agent").post_form(f"/cases/duty/{agent2_id}", {"on": "1"}).status_code == 403
    with app.app_context():
        assert user_named("agent2").on_duty is False


def test_a_lead_switches_a_team_member_with_htmx_and_gets_the_toggle_back(app, login_as):
    with app.app_context():
        agent_id, warehouse_id, lead_id = (user_named(name).id for name in ("agent", "warehouse", "lead"))
    lead = in_english(login_as("lead"))
    response = lead.post_form(f"/cases/duty/{agent_id}", {"on": "1"}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html and "dutyChanged" in response.headers["HX-Trigger"]
    assert f'id="duty-{agent_id}"' in html and 'aria-pressed="true"' in html and "agent name" in html
    assert 'name="on" value="0"' in html  # the next click takes them off duty
    refused = lead.post_form(f"/cases/duty/{warehouse_id}", {"on": "1"}, headers=HX).get_data(as_text=True)
    assert "Only a lead switches a colleague of their own team" in refused
    with app.app_context():
        assert user_named("agent").on_duty is True and user_named("warehouse").on_duty is False
        event = db.session.scalar(TimelineEvent.for_subject("user", agent_id))
        assert event.actor_id == lead_id and event.detail["changes"] == {"on_duty": [False, True]}


def test_a_duty_switch_needs_a_clear_wish(app, login_as):
    client = login_as("agent")
    assert client.post_form("/cases/duty", {"on": "maybe"}, headers=HX).status_code == 200
    with app.app_context():
        assert user_named("agent").on_duty is False


def test_the_rules_page_switches_the_round_robin_and_lists_who_is_on_duty(app, login_as):
    lead = in_english(login_as("lead"))
    form = {"promo_mode": "", "round_robin_new_cases": "y", "poll_seconds": "10", "promo_poll_seconds": "5",
            "at_risk_percent": "25", "pausing_waits": "buyer", "opens": "09:00", "closes": "22:00",
            "weekdays": [str(day) for day in range(7)]}
    assert lead.post_form("/cases/rules", form).status_code == 302
    page = lead.get("/cases/rules").get_data(as_text=True)
    assert 'id="round_robin_new_cases" name="round_robin_new_cases" type="checkbox" value="y"' in page
    with app.app_context():
        agent_id = user_named("agent").id
        warehouse_id = user_named("warehouse").id
    assert f'<form id="duty-{agent_id}"' in page and f'id="duty-{warehouse_id}"' not in page
    with app.app_context():
        case = new_case("3001")
        db.session.commit()
        assert case.assignee is None  # switched on, but nobody is on duty yet
        user_named("agent").on_duty = True
        assert new_case("3002").assignee.username == "agent"
