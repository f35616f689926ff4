"""The live board in a real Chromium: two people at once, a clock running out, accessibility."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from models import db, set_setting
from tests.browser.conftest import axe_violations, format_violations, log_in

POLL_SECONDS = 2


@pytest.fixture
def fast_polls(app):
    with app.app_context():
        set_setting("poll_seconds", POLL_SECONDS)
        db.session.commit()


def test_a_new_case_reaches_another_agent_without_losing_their_typing(app, fast_polls, make_case, new_context, live_server):
    existing = make_case(order_no="TB-EXISTING-1")
    a = new_context().new_page()
    b = new_context().new_page()
    log_in(a, "agent")
    log_in(b, "agent2")
    b.goto("/cases/")
    card = b.locator(f"#case-{existing}")
    card.locator("summary").click()
    note = b.locator(f"#note-{existing}")
    note.fill("买家说下午三点后")
    note.press("End")

    # A creates a case through the form
    a.goto("/cases/new")
    shop_value = a.locator("#shop_id option", has_text="测试京东店").get_attribute("value")
    a.select_option("#shop_id", shop_value)
    a.fill("#order_no", "JD-LIVE-0001")
    a.fill("#buyer_nick", "新买家")
    a.fill("#order_amount", "88.00")
    a.locator("main form button[type=submit]").click()
    expect(a.locator("h1")).to_contain_text("JD-LIVE-0001")

    # B sees it within one refresh interval, with no reload, and the half-typed note is intact
    expect(b.locator("#board")).to_contain_text("JD-LIVE-0001", timeout=(POLL_SECONDS + 3) * 1000)
    expect(b.locator(f"#note-{existing}")).to_have_value("买家说下午三点后")
    expect(b.locator(f"#case-{existing}-actions")).to_have_attribute("open", "")
    assert b.evaluate("performance.getEntriesByType('navigation').length") == 1
    assert b.evaluate("document.activeElement.id") == f"note-{existing}"

    # B finishes the note; it lands in the timeline and the box empties
    b.locator(f"#case-{existing} .note-form button").click()
    expect(b.locator("#flash")).to_contain_text("备注已添加")
    expect(b.locator(f"#note-{existing}")).to_have_value("")


def test_a_reply_deadline_passing_turns_the_card_overdue_with_no_reload(app, fast_polls, make_case, page):
    case_id = make_case(minutes_ago=170, order_no="TB-CLOCK-1")  # 10 minutes of the 3 h reply time left
    log_in(page, "agent")
    page.goto("/cases/")
    card = page.locator(f"#case-{case_id}")
    expect(card).to_have_class(re.compile("status-at_risk"))
    expect(card.locator(".clock")).to_contain_text("即将超时")
    app.config["CLOCK_OFFSET"] = timedelta(minutes=11)  # the server's clock moves; no data changes
    expect(card).to_have_class(re.compile("status-overdue"), timeout=(POLL_SECONDS + 3) * 1000)
    expect(card.locator(".clock")).to_contain_text("已超时")
    expect(page.locator("#header-counters [data-counter=overdue]")).to_be_visible()
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1


def test_working_a_case_from_its_page(app, make_case, page):
    case_id = make_case(buyer_phone="13812345678", category="missing_accessory")
    log_in(page, "agent")
    page.goto(f"/cases/{case_id}")
    expect(page.locator("#buyer-phone")).to_have_text("138****5678")
    page.get_by_role("button", name="查看完整号码（会留记录）").click()
    expect(page.locator("#buyer-phone")).to_have_text("13812345678")
    page.get_by_role("button", name="我来处理").click()
    expect(page.locator("#case-live .state-badge")).to_have_text("处理中")
    page.get_by_role("button", name=re.compile("请买家把所有配件摆开拍一张照片")).click()
    expect(page.locator(".checklist button[aria-pressed=true]")).to_have_count(1)
    page.get_by_role("button", name="已首次回复买家").click()
    expect(page.locator(".timeline")).to_contain_text("已首次回复买家")
    page.get_by_role("button", name="已解决：告知买家").click()
    expect(page.locator("#case-live .state-badge")).to_have_text("已解决，待买家确认")
    close = page.locator("#state-closed")
    close.locator("select[name=responsibility]").select_option("warehouse")
    close.locator("textarea[name=cause]").fill("仓库漏装配件")
    close.get_by_role("button").click()
    expect(page.locator("#case-live .state-badge")).to_have_text("已关闭")
    expect(page.locator(".timeline")).to_contain_text("仓库漏装配件")
    for path in (f"/cases/{case_id}", "/cases/", "/cases/list", "/cases/new", f"/cases/{case_id}/edit", "/cases/procedures"):
        page.goto(path)
        violations = axe_violations(page)
        assert violations == [], f"{path}: {format_violations(violations)}"


@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 768}, {"width": 390, "height": 844}], ids=["laptop", "phone"])
def test_board_pages_pass_axe_and_fit(app, make_case, page, viewport):
    make_case(minutes_ago=200, flag="red", flag_note="加急", assignee="agent", state="in_progress")
    make_case(minutes_ago=5)
    page.set_viewport_size(viewport)
    log_in(page, "lead")
    for path in ("/cases/", "/cases/1", "/cases/rules", "/cases/procedures/install", "/cases/list?clock=overdue"):
        page.goto(path)
        page.locator("details.card-actions").first.evaluate("el => el && (el.open = true)") if path == "/cases/" else None
        violations = axe_violations(page)
        assert violations == [], f"{path}: {format_violations(violations)}"
        if path != "/cases/list?clock=overdue":  # the list's table scrolls inside its own box
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
