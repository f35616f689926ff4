"""Bulk actions on the case list: tick rows (or every case of the filter), one action, all or nothing."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from cases import bulk as case_bulk
from cases import flow, sla
from models import Case, TimelineEvent, User, db, utcnow
from tests.conftest import in_english, user_named, using_postgres

HX = {"HX-Request": "true"}


def rows_of(app, *case_ids) -> list[str]:
    with app.app_context():
        return [f"{case.id}:{case.version}" for case in db.session.scalars(sa.select(Case).where(Case.id.in_(case_ids)))]


def user_id(app, username: str) -> int:
    with app.app_context():
        return user_named(username).id


def cases_by_id(app, case_ids) -> dict[int, Case]:
    with app.app_context():
        cases = {case.id: case for case in db.session.scalars(sa.select(Case).where(Case.id.in_(case_ids)))}
        for case in cases.values():
            _ = case.assignee  # loaded before the session ends
        db.session.expunge_all()
        return cases


def events(app, action: str, case_ids) -> list[TimelineEvent]:
    with app.app_context():
        return db.session.scalars(sa.select(TimelineEvent).where(
            TimelineEvent.subject_type == "case", TimelineEvent.action == action,
            TimelineEvent.subject_id.in_(case_ids))).all()


def change_meanwhile(app, case_id: int, assignee: str) -> None:
    """Someone else assigns the case after the list was shown."""
    with app.test_request_context():
        case = db.session.get(Case, case_id)
        flow.assign(case, user_named(assignee), user_named("manager"), sla.load_rules(), utcnow())
        db.session.commit()


def test_bulk_assign_five_cases(app, login_as, make_case):
    ids = [make_case(minutes_ago=n) for n in range(5)]
    client = in_english(login_as("lead"))
    listed = client.get("/cases/list").get_data(as_text=True)
    for row in rows_of(app, *ids):  # every row has a labelled checkbox carrying the version the page shows
        assert f'name="rows" value="{row}"' in listed
    assert listed.count('aria-label="Select case ') == 5

    response = client.post_form("/cases/bulk", {"rows": rows_of(app, *ids), "action": "assign",
                                                "assignee_id": user_id(app, "agent2")}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="case-list"' in html and "<html" not in html
    assert "caseChanged" in json.loads(response.headers["HX-Trigger"])
    assert "5 cases assigned to agent2 name." in html and 'hx-swap-oob="innerHTML"' in html
    cases = cases_by_id(app, ids)
    assert {case.assignee.username for case in cases.values()} == {"agent2"}
    assert {case.state for case in cases.values()} == {"in_progress"}  # as the single assign does
    assigned = events(app, "assigned", ids)
    assert len(assigned) == 5 and {event.detail["to"] for event in assigned} == {"agent2 name"}
    assert {event.actor_id for event in assigned} == {user_id(app, "lead")}


def test_chinese_message_names_the_count_and_the_agent(app, login_as, make_case):
    ids = [make_case() for _ in range(2)]
    client = login_as("lead")
    response = client.post_form("/cases/bulk", {"rows": rows_of(app, *ids), "action": "assign",
                                                "assignee_id": user_id(app, "agent")})
    assert response.status_code == 302 and response.headers["Location"] == "/cases/list"
    page = client.get("/cases/list").get_data(as_text=True)
    assert "2" in page and "agent name" in page  # the flashed sentence, in whichever words the catalogue has


def test_a_row_changed_meanwhile_refuses_all_and_names_it(app, login_as, make_case):
    ids = [make_case(minutes_ago=n, assignee="agent", state="in_progress") for n in range(3)]
    seen = rows_of(app, *ids)
    change_meanwhile(app, ids[1], "agent2")
    client = in_english(login_as("lead"))
    response = client.post_form("/cases/bulk", {"rows": seen, "action": "state", "target": "waiting",
                                                "waiting_for": "buyer"}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "HX-Trigger" not in response.headers
    changed = cases_by_id(app, [ids[1]])[ids[1]]
    assert "Nothing was changed" in html
    assert re.search(rf"{changed.order_no} \(#{ids[1]}\): changed by someone else meanwhile; it is now “In progress”, "
                     r"assigned to agent2 name", html)
    for other in (ids[0], ids[2]):  # only the changed row is named
        assert f"(#{other})" not in html
    assert {case.state for case in cases_by_id(app, ids).values()} == {"in_progress"}
    assert events(app, "state_changed", ids) == []
    # The list comes back as it is now, with the same rows still ticked and their new versions.
    for row in rows_of(app, *ids):
        assert re.search(rf'name="rows" value="{row}"[^>]*checked', html)


def test_a_rule_refusal_on_one_row_changes_none(app, login_as, make_case):
    ids = [make_case(minutes_ago=n, assignee="agent", state="in_progress") for n in range(3)]
    with app.test_request_context():  # a resolved case cannot go to waiting (flow.TRANSITIONS)
        flow.change_state(db.session.get(Case, ids[0]), "resolved", user_named("agent"), sla.load_rules(), utcnow())
        db.session.commit()
    client = in_english(login_as("lead"))
    response = client.post_form("/cases/bulk", {"rows": rows_of(app, *ids), "action": "state", "target": "waiting",
                                                "waiting_for": "buyer"}, headers=HX)
    html = response.get_data(as_text=True)
    assert "Nothing was changed" in html and f"(#{ids[0]}): A case that is" in html
    states = {case_id: case.state for case_id, case in cases_by_id(app, ids).items()}
    assert states == {ids[0]: "resolved", ids[1]: "in_progress", ids[2]: "in_progress"}
    assert [event.detail["to"] for event in events(app, "state_changed", ids)] == ["resolved"]


def test_closing_is_not_offered_in_bulk(app, login_as, make_case):
    case_id = make_case(assignee="agent", state="in_progress")
    with app.test_request_context():
        flow.change_state(db.session.get(Case, case_id), "resolved", user_named("agent"), sla.load_rules(), utcnow())
        db.session.commit()
    client = in_english(login_as("lead"))
    listed = client.get("/cases/list").get_data(as_text=True)
    target = re.search(r'<select[^>]*id="bulk-target".*?</select>', listed, re.S).group(0)
    assert 'value="closed"' not in target and 'value="waiting"' in target
    response = client.post_form("/cases/bulk", {"rows": rows_of(app, case_id), "action": "state", "target": "closed"},
                                headers=HX)
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert cases_by_id(app, [case_id])[case_id].state == "resolved"


def test_flag_note_and_unassign(app, login_as, make_case):
    ids = [make_case(assignee="agent") for _ in range(3)]
    client = in_english(login_as("agent"))
    flagged = client.post_form("/cases/bulk", {"rows": rows_of(app, *ids), "action": "flag", "flag": "red",
                                               "flag_note": "催发货"}, headers=HX).get_data(as_text=True)
    assert "3 cases flagged." in flagged
    assert {(case.flag, case.flag_note) for case in cases_by_id(app, ids).values()} == {("red", "催发货")}
    # One already red: it is left as it is and said so, the others change.
    with app.app_context():
        db.session.execute(sa.update(Case).where(Case.id == ids[0]).values(flag="yellow", flag_note=""))
        db.session.commit()
    again = client.post_form("/cases/bulk", {"rows": rows_of(app, *ids), "action": "flag", "flag": "red",
                                             "flag_note": "催发货"}, headers=HX).get_data(as_text=True)
    assert "1 cases flagged. 2 already were so and were left as they were." in again
    noted = client.post_form("/cases/bulk", {"rows": rows_of(app, *ids), "action": "note", "note": "已联系快递"},
                             headers=HX).get_data(as_text=True)
    assert "Note added to 3 cases." in noted
    assert [event.detail["text"] for event in events(app, "noted", ids)] == ["已联系快递"] * 3
    empty = client.post_form("/cases/bulk", {"rows": rows_of(app, *ids), "action": "note", "note": " "}, headers=HX)
    assert "Write the note." in empty.get_data(as_text=True)
    unassigned = client.post_form("/cases/bulk", {"rows": rows_of(app, *ids), "action": "assign", "assignee_id": "0"},
                                  headers=HX).get_data(as_text=True)
    assert "3 cases unassigned." in unassigned
    assert {case.assignee_id for case in cases_by_id(app, ids).values()} == {None}


def test_select_all_on_the_page_without_javascript(app, login_as, make_case):
    ids = [make_case(minutes_ago=n) for n in range(3)]
    client = in_english(login_as("lead"))
    response = client.post_form("/cases/bulk", {"shown": rows_of(app, *ids), "page_all": "y", "action": "note",
                                                "note": "批量"}, headers=HX)
    assert "Note added to 3 cases." in response.get_data(as_text=True)
    nothing = client.post_form("/cases/bulk", {"shown": rows_of(app, *ids), "action": "note", "note": "x"}, headers=HX)
    assert "Select at least one case." in nothing.get_data(as_text=True)


def test_every_case_of_the_filter_after_a_confirmation(app, login_as, make_case, monkeypatch):
    monkeypatch.setattr("blueprints.cases.LIST_PAGE_SIZE", 2)  # so the filter has more cases than the page
    mine = [make_case(minutes_ago=n, kind="complaint", category="bad_attitude") for n in range(4)]
    other = make_case(kind="exchange", category="wrong_whole")
    client = in_english(login_as("lead"))
    listed = client.get("/cases/list?kind=complaint").get_data(as_text=True)
    assert "Select all 4 cases of this filter" in listed and 'name="f_kind" value="complaint"' in listed

    asked = client.post_form("/cases/bulk", {"f_kind": "complaint", "everything": "y", "action": "assign",
                                             "assignee_id": user_id(app, "agent2")}, headers=HX).get_data(as_text=True)
    assert "Assign to agent2 name" in asked and "all 4 cases of this filter" in asked
    assert all(case.assignee_id is None for case in cases_by_id(app, mine).values())  # nothing yet
    confirm_form = re.search(r'<form class="bulk-confirm".*?</form>', asked, re.S).group(0)
    confirmed_rows = re.findall(r'name="rows" value="([\d:]+)"', confirm_form)
    assert sorted(confirmed_rows) == sorted(rows_of(app, *mine))

    data = {"rows": confirmed_rows, "action": "assign", "assignee_id": user_id(app, "agent2"), "f_kind": "complaint"}
    done = client.post_form("/cases/bulk", data, headers=HX).get_data(as_text=True)
    assert "4 cases assigned to agent2 name." in done
    assert {case.assignee_id for case in cases_by_id(app, mine).values()} == {user_id(app, "agent2")}
    assert cases_by_id(app, [other])[other].assignee_id is None


def test_a_case_changed_before_the_confirmation_stops_it(app, login_as, make_case):
    ids = [make_case(minutes_ago=n) for n in range(3)]
    client = in_english(login_as("lead"))
    asked = client.post_form("/cases/bulk", {"everything": "y", "action": "note", "note": "x"}, headers=HX)
    assert "all 3 cases" in asked.get_data(as_text=True)  # the note: no page of more than 3, yet still asked
    asked = client.post_form("/cases/bulk", {"everything": "y", "action": "flag", "flag": "blue"}, headers=HX)
    confirmed_rows = re.findall(r'name="rows" value="([\d:]+)"',
                                re.search(r'<form class="bulk-confirm".*?</form>', asked.get_data(as_text=True), re.S).group(0))
    change_meanwhile(app, ids[2], "agent")
    refused = client.post_form("/cases/bulk", {"rows": confirmed_rows, "action": "flag", "flag": "blue"}, headers=HX)
    assert f"(#{ids[2]}): changed by someone else meanwhile" in refused.get_data(as_text=True)
    assert {case.flag for case in cases_by_id(app, ids).values()} == {None}


def test_a_filter_with_too_many_cases_is_refused(app, login_as, make_case, monkeypatch):
    monkeypatch.setattr(case_bulk, "MAX_CASES", 2)
    ids = [make_case() for _ in range(3)]
    client = in_english(login_as("lead"))
    response = client.post_form("/cases/bulk", {"everything": "y", "action": "note", "note": "x"}, headers=HX)
    assert "This filter matches 3 cases; a bulk action takes at most 2. Narrow the filter." in response.get_data(as_text=True)
    too_many = client.post_form("/cases/bulk", {"rows": rows_of(app, *ids), "action": "note", "note": "x"}, headers=HX)
    assert "at most 2 cases" in too_many.get_data(as_text=True)
    assert events(app, "noted", ids) == []


@pytest.mark.skipif(using_postgres(), reason="on PostgreSQL the rows are locked (FOR UPDATE): the other writer would wait for us")
def test_a_lost_race_at_the_write_names_the_case(app, login_as, make_case, monkeypatch):
    """Someone commits between the version check and our write: the database's version check catches it."""
    ids = [make_case() for _ in range(2)]
    seen = rows_of(app, *ids)
    real_apply = case_bulk.apply

    def apply_then_someone_else_commits(versions, change, actor, rules, now):
        outcome = real_apply(versions, change, actor, rules, now)
        with db.engine.begin() as other:
            other.execute(sa.update(Case.__table__).where(Case.__table__.c.id == ids[0])
                          .values(version=Case.__table__.c.version + 1, flag="green"))
        return outcome

    monkeypatch.setattr(case_bulk, "apply", apply_then_someone_else_commits)
    client = in_english(login_as("lead"))
    response = client.post_form("/cases/bulk", {"rows": seen, "action": "assign", "assignee_id": user_id(app, "agent")},
                                headers=HX)
    assert f"(#{ids[0]}): changed by someone else meanwhile" in response.get_data(as_text=True)
    assert {case.assignee_id for case in cases_by_id(app, ids).values()} == {None}


@pytest.mark.parametrize("role", ["admin"])
def test_a_role_that_does_not_work_cases_is_refused(app, login_as, make_case, role):
    case_id = make_case()
    with app.app_context():
        assert not db.session.scalar(sa.select(User).where(User.username == role)).can("work_cases")
    response = login_as(role).post_form("/cases/bulk", {"rows": rows_of(app, case_id), "action": "note", "note": "x"})
    assert response.status_code == 403
    assert events(app, "noted", [case_id]) == []


def test_without_the_csrf_token_nothing_changes(app, login_as, make_case):
    case_id = make_case()
    client = login_as("lead")
    response = client.post("/cases/bulk", data={"rows": rows_of(app, case_id), "action": "note", "note": "x"}, headers=HX)
    assert response.status_code == 400
    assert events(app, "noted", [case_id]) == []


def test_a_reader_sees_no_bulk_form(app, login_as, make_case):
    make_case()
    with app.app_context():
        roles_without = [user.username for user in db.session.scalars(sa.select(User))
                         if user.can("use_workspace") and not user.can("work_cases")]
    for username in roles_without:
        html = login_as(username).get("/cases/list").get_data(as_text=True)
        assert 'id="bulk-form"' not in html and 'name="rows"' not in html


def test_malformed_rows_are_refused(app, login_as, make_case):
    case_id = make_case()
    client = in_english(login_as("lead"))
    response = client.post_form("/cases/bulk", {"rows": [f"{case_id}:x"], "action": "note", "note": "x"}, headers=HX)
    assert "The request could not be understood." in response.get_data(as_text=True)
    assert events(app, "noted", [case_id]) == []
