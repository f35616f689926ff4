"""The handoff sheet as its users meet it: the inbox and its counter, raising, the steps, routing, closing, export."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

import openpyxl
import sqlalchemy as sa

from handoffs import flow
from models import Case, Handoff, Team, TimelineEvent, db, utcnow
from tests.cases.test_demo_and_queries import counting_queries
from tests.conftest import user_named

HX = {"HX-Request": "true"}


def team_id(app, function: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Team.id).where(Team.function == function))


def raise_via_form(client, app, **values) -> int:
    data = {"kind": "warehouse", "owed_team_id": team_id(app, "warehouse"), "owed_user_id": "0", "order_no": "TB2001",
            "request": "请确认退货入库", **values}
    response = client.post_form("/handoffs/new", data)
    assert response.status_code == 302, re.findall(r'class="error">([^<]*)<', response.get_data(as_text=True))
    return int(response.headers["Location"].rsplit("/", 1)[1])


def counter(client) -> str:
    html = client.get("/counters", headers=HX).get_data(as_text=True)
    return re.search(r'data-counter="handoffs">.*?<span class="counter-value">([^<]*)<', html, re.S).group(1)


def test_a_request_reaches_the_owing_teams_inbox_and_counter(app, login_as, client):
    agent = login_as("agent")
    handoff_id = raise_via_form(agent, app)
    warehouse = app.test_client()
    warehouse.post_form("/auth/login", {"username": "warehouse", "password": "test-pass-123"})
    inbox = warehouse.get("/handoffs/").get_data(as_text=True)
    owed = inbox[inbox.index('id="owed-title"'):inbox.index('id="raised-title"')]
    assert f'id="owed-{handoff_id}"' in owed and "TB2001" in owed
    assert counter(warehouse) == "1"
    # the raiser sees it under what its team raised, not under what it owes
    mine = agent.get("/handoffs/").get_data(as_text=True)
    assert f'id="raised-{handoff_id}"' in mine and f'id="owed-{handoff_id}"' not in mine


def test_the_inbox_poll_is_204_until_something_changes(app, login_as):
    agent = login_as("agent")
    raise_via_form(agent, app)
    page = agent.get("/handoffs/", headers=HX)
    url = re.search(r'id="handoff-inbox"[^>]*hx-get="([^"]+)"', page.get_data(as_text=True)).group(1).replace("&amp;", "&")
    assert agent.get(url, headers=HX).status_code == 204
    raise_via_form(agent, app, order_no="TB2002")
    assert agent.get(url, headers=HX).status_code == 200


def test_the_steps_by_the_right_side_with_clear_refusals(app, login_as):
    agent = login_as("agent")
    handoff_id = raise_via_form(agent, app)
    refused = agent.post_form(f"/handoffs/{handoff_id}/acknowledge", {"expected_at": ""}, headers=HX)
    assert refused.status_code == 200 and "flash-error" in refused.get_data(as_text=True)
    warehouse = app.test_client()
    warehouse.post_form("/auth/login", {"username": "warehouse", "password": "test-pass-123"})
    acknowledged = warehouse.post_form(f"/handoffs/{handoff_id}/acknowledge", {"expected_at": "2099-01-01T10:00"}, headers=HX)
    assert json.loads(acknowledged.headers["HX-Trigger"]) == {"handoffChanged": None}
    warehouse.post_form(f"/handoffs/{handoff_id}/done", {"note": "已入库"}, headers=HX)
    agent.post_form(f"/handoffs/{handoff_id}/close", {}, headers=HX)
    with app.app_context():
        item = db.session.get(Handoff, handoff_id)
        assert item.state == "closed" and item.done_note == "已入库"
        assert item.expected_at.isoformat() == "2099-01-01T02:00:00+00:00"  # typed in shop time
    page = agent.get(f"/handoffs/{handoff_id}").get_data(as_text=True)
    assert "已入库" in page


def test_typed_text_is_shown_escaped_everywhere(app, login_as):
    agent = login_as("agent")
    handoff_id = raise_via_form(agent, app, request="<script>alert(1)</script>", order_no="<b>x</b>")
    for url in ("/handoffs/", f"/handoffs/{handoff_id}"):
        html = agent.get(url).get_data(as_text=True)
        assert "<script>alert(1)" not in html and "<b>x</b>" not in html and "&lt;script&gt;" in html


def test_routing_a_case_from_its_page(app, login_as, make_case):
    case_id = make_case()
    agent = login_as("agent")
    page = agent.get(f"/cases/{case_id}").get_data(as_text=True)
    version = re.search(rf'action="/handoffs/route/{case_id}".*?name="version" value="(\d+)"', page, re.S).group(1)
    response = agent.post_form(f"/handoffs/route/{case_id}", {"team_id": team_id(app, "warehouse"), "request": "请催取件",
                                                              "version": version}, headers=HX)
    assert "flash-success" in response.get_data(as_text=True)
    with app.app_context():
        item = db.session.scalar(sa.select(Handoff).where(Handoff.case_id == case_id))
        assert item.kind == "warehouse" and item.owed_team.function == "warehouse"
        assert db.session.get(Case, case_id).routed_at is not None
    page = agent.get(f"/cases/{case_id}").get_data(as_text=True)
    assert f'href="/handoffs/{item.id}"' in page
    # the old free-text routing is gone
    free_text = agent.post_form(f"/cases/{case_id}/milestone", {"milestone": "routed", "detail": "仓库", "version": "99"}, headers=HX)
    assert "flash-error" in free_text.get_data(as_text=True)


def test_closing_a_case_with_an_open_handoff_needs_a_reason(app, login_as, make_case):
    case_id = make_case()
    with app.app_context():
        case = db.session.get(Case, case_id)
        case.state = "resolved"
        db.session.commit()
    agent = login_as("agent")
    raise_via_form(agent, app, case_id=str(case_id), order_no="")

    def close(**extra):
        with app.app_context():
            version = db.session.get(Case, case_id).version
        return agent.post_form(f"/cases/{case_id}/state", {"target": "closed", "responsibility": "warehouse", "cause": "错发",
                                                           "version": version, **extra}, headers=HX)

    refused = close()
    assert "flash-error" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Case, case_id).state == "resolved"
    close(handoffs_reason="仓库已口头确认")
    with app.app_context():
        assert db.session.get(Case, case_id).state == "closed"


def test_export_as_the_teams_kept_it(app, login_as):
    agent = login_as("agent")
    raise_via_form(agent, app, request="补发赠品")
    response = agent.get("/handoffs/export.csv")
    assert response.status_code == 200 and response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["交接单号", "类型", "订单号"] and rows[1][2] == "TB2001" and "补发赠品" in rows[1]
    warehouse_only = agent.get(f"/handoffs/export.csv?team={team_id(app, 'finance')}")
    assert len(list(csv.reader(io.StringIO(warehouse_only.data.decode("utf-8-sig"))))) == 1  # the header alone
    sheet = openpyxl.load_workbook(io.BytesIO(agent.get("/handoffs/export.xlsx?start=2000-01-01").data)).active
    assert sheet.cell(2, 3).value == "TB2001"


def test_leads_set_the_due_times(app, login_as, auth):
    lead = login_as("lead")
    page = lead.get("/handoffs/rules").get_data(as_text=True)
    assert 'name="due_warehouse"' in page
    data = {field: value for field, value in re.findall(r'name="(due_\w+|ack_minutes|link_hours)"[^>]*value="(\d+)"', page)}
    data.update(due_warehouse="6", ack_minutes="45")
    assert lead.post_form("/handoffs/rules", data).status_code == 302
    auth.logout()
    agent = login_as("agent")
    handoff_id = raise_via_form(agent, app)
    with app.app_context():
        item = db.session.get(Handoff, handoff_id)
        assert item.due_at - item.created_at == timedelta(hours=6)
        assert db.session.scalar(sa.select(TimelineEvent).where(TimelineEvent.subject_type == "settings")) is not None
    assert login_as("agent").get("/handoffs/rules").status_code == 403


def test_the_lead_sees_cases_without_an_owner_at_work(app, login_as, make_case):
    nobody = make_case()
    lead = login_as("lead")
    page = lead.get("/handoffs/uncovered").get_data(as_text=True)
    assert f'id="uncovered-{nobody}"' in page
    with app.app_context():
        case = db.session.get(Case, nobody)
        case.assignee = user_named("lead")  # the lead logged in today
        db.session.commit()
    assert f'id="uncovered-{nobody}"' not in lead.get("/handoffs/uncovered").get_data(as_text=True)


def test_a_late_major_complaint_alerts_the_lead_in_the_header(app, login_as, make_case):
    case_id = make_case(kind="complaint")
    agent = login_as("agent")
    raise_via_form(agent, app, case_id=str(case_id), order_no="")
    lead = app.test_client()
    lead.post_form("/auth/login", {"username": "lead", "password": "test-pass-123"})
    assert 'data-counter="handoff_alerts"' not in lead.get("/counters", headers=HX).get_data(as_text=True)
    app.config["CLOCK_OFFSET"] = timedelta(minutes=121)
    html = lead.get("/counters", headers=HX).get_data(as_text=True)
    assert re.search(r'data-counter="handoff_alerts">.*?<span class="counter-value">1<', html, re.S)


def test_the_inbox_costs_the_same_queries_with_3_or_30_items(app, login_as):
    agent = login_as("agent")
    counts = []
    for total in (3, 30):
        with app.test_request_context():
            have = db.session.scalar(sa.select(sa.func.count()).select_from(Handoff))
            warehouse = db.session.scalar(sa.select(Team).where(Team.function == "warehouse"))
            for n in range(have, total):
                flow.raise_handoff(kind="warehouse", raiser=user_named("agent"), owed_team=warehouse, request=f"事项{n}",
                                   now=utcnow(), order_no=f"Q{n}")
            db.session.commit()
        with counting_queries(app) as statements:
            assert agent.get("/handoffs/", headers=HX).status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1]


def test_routing_to_the_installer_opens_the_full_form(app, login_as, make_case):
    case_id = make_case()
    agent = login_as("agent")
    with app.app_context():
        version = db.session.get(Case, case_id).version
    response = agent.post_form(f"/handoffs/route/{case_id}", {"team_id": team_id(app, "installer"), "request": "上门安装",
                                                              "version": version}, headers=HX)
    target = response.headers["HX-Redirect"]
    assert target.startswith("/handoffs/new?") and "kind=installer" in target
    page = agent.get(target).get_data(as_text=True)
    assert "上门安装" in page and 'value="13812345678"' in page  # what was typed and the case's phone, to confirm
