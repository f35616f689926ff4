"""Compensation in a real Chromium: an agent over their limit, the lead's live queue, the decision on the case."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from models import db, set_setting
from tests.browser.conftest import axe_violations, format_violations, log_in


@pytest.fixture
def fast_polls(app):
    with app.app_context():
        set_setting("poll_seconds", 2)
        db.session.commit()


def test_agent_asks_over_limit_lead_approves_live(app, fast_polls, make_case, new_context):
    case_id = make_case(kind="return_refund", order_no="TB-COMP-1")
    agent = new_context().new_page()
    lead = new_context().new_page()
    log_in(agent, "agent")
    log_in(lead, "lead")
    lead.goto("/compensation/")
    expect(lead.locator("#approval-queue")).to_contain_text("没有等待您审批的申请")

    agent.goto(f"/cases/{case_id}")
    agent.fill("#comp-amount", "50")
    agent.select_option("#comp-reason", "defect")
    agent.fill("#comp-note", "外箱压坏，买家要求补偿")
    agent.get_by_role("button", name="提交申请").click()
    expect(agent.locator("#flash")).to_contain_text("超出您的权限：等待审批")
    expect(agent.locator("#comp-amount")).to_have_value("")

    # the lead's queue shows it without a reload
    card = lead.locator(".approval", has_text="¥50.00")
    expect(card).to_be_visible(timeout=10_000)
    expect(card).to_contain_text("TB-COMP-1")
    expect(card).to_contain_text("外箱压坏")
    expect(lead.locator("#header-counters [data-counter=approvals] .counter-value")).to_have_text("1", timeout=10_000)
    assert lead.evaluate("performance.getEntriesByType('navigation').length") == 1
    violations = axe_violations(lead)
    assert violations == [], format_violations(violations)
    card.locator("input[name=note]").fill("同意")
    card.get_by_role("button", name="批准").click()
    expect(lead.locator("#flash")).to_contain_text("已批准 ¥50.00")
    expect(lead.locator("#approval-queue")).to_contain_text("没有等待您审批的申请")

    # the agent's case page shows the approval in the timeline, without a reload
    expect(agent.locator(".timeline")).to_contain_text("批准了 ¥50.00 的补偿", timeout=10_000)
    expect(agent.locator(".money-item")).to_contain_text("已批准")
    violations = axe_violations(agent)
    assert violations == [], format_violations(violations)


def test_money_pages_pass_axe(app, make_case, page):
    make_case()
    log_in(page, "manager")
    for path in ("/compensation/", "/compensation/overview", "/compensation/limits"):
        page.goto(path)
        violations = axe_violations(page)
        assert violations == [], f"{path}: {format_violations(violations)}"
