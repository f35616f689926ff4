"""A lead's bulk actions in a real Chromium: one agent's cases, five assigned at once, a conflict reported."""

from __future__ import annotations

from playwright.sync_api import expect

from cases import flow, sla
from models import Case, db, set_setting, utcnow
from tests.browser.conftest import axe_violations, format_violations, log_in
from tests.conftest import user_named


def test_lead_filters_by_one_agent_and_bulk_assigns_five_to_another(app, live_server, make_case, page, browser):
    with app.app_context():
        set_setting("poll_seconds", 1)
        db.session.commit()
        agent_id = str(user_named("agent").id)
    moved = [make_case(minutes_ago=n, assignee="agent", state="in_progress", order_no=f"TB-BULK-{n}") for n in range(5)]
    make_case(assignee="agent2", state="in_progress", order_no="TB-BULK-OTHER")

    other = browser.new_context(base_url=live_server.url)
    agent2 = other.new_page()
    log_in(agent2, "agent2")
    agent2.goto("/cases/?scope=mine")
    expect(agent2.locator("#board")).to_contain_text("TB-BULK-OTHER")
    expect(agent2.locator("#board")).not_to_contain_text("TB-BULK-0")

    log_in(page, "lead")
    page.goto("/cases/list")
    page.locator("#filter-assignee").select_option(agent_id)
    expect(page.locator("#case-list tbody tr")).to_have_count(5)
    expect(page.locator("#case-list")).not_to_contain_text("TB-BULK-OTHER")
    violations = axe_violations(page)
    assert violations == [], format_violations(violations)

    select_all = page.locator("input[name=page_all]")
    select_all.focus()
    page.keyboard.press("Space")  # by keyboard: every row is ticked
    expect(page.locator("#case-list input[name=rows]:checked")).to_have_count(5)
    page.locator("#bulk-assignee").select_option(label="agent2 name")
    page.locator("#bulk-form button[value=assign]").click()
    expect(page.locator("#flash")).to_contain_text("5")
    expect(page.locator("#flash")).to_contain_text("agent2 name")
    expect(page.locator("#case-list tbody tr")).to_have_count(1)  # still filtered by agent: only the "no case" row is left
    with app.app_context():
        assert {db.session.get(Case, case_id).assignee.username for case_id in moved} == {"agent2"}

    for number in range(5):  # the other agent's board shows them at its next refresh, without a reload
        expect(agent2.locator("#board")).to_contain_text(f"TB-BULK-{number}", timeout=15_000)
    assert agent2.evaluate("performance.getEntriesByType('navigation').length") == 1
    other.close()


def test_a_bulk_change_where_one_row_changed_meanwhile_reports_it_and_changes_nothing(app, make_case, page):
    ids = [make_case(minutes_ago=n, assignee="agent", state="in_progress", order_no=f"TB-RACE-{n}") for n in range(3)]
    log_in(page, "lead")
    page.goto("/cases/list")
    for case_id in ids:
        page.locator(f"#bulk-row-{case_id}").check()
    with app.test_request_context():  # someone else, after the lead's page was shown
        flow.assign(db.session.get(Case, ids[1]), user_named("agent2"), user_named("manager"), sla.load_rules(), utcnow())
        db.session.commit()
    page.locator("#bulk-target").select_option("waiting")
    page.locator("#bulk-waiting-for").select_option("buyer")
    page.locator("#bulk-form button[value=state]").click()
    flash = page.locator("#flash .flash-error")
    expect(flash).to_contain_text("TB-RACE-1")
    expect(flash).to_contain_text("agent2 name")
    expect(flash).not_to_contain_text("TB-RACE-0")
    with app.app_context():
        assert {db.session.get(Case, case_id).state for case_id in ids} == {"in_progress"}
    for case_id in ids:  # the rows stay ticked, now with their current versions
        expect(page.locator(f"#bulk-row-{case_id}")).to_be_checked()
    violations = axe_violations(page)
    assert violations == [], format_violations(violations)
