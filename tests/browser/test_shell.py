"""The shell in a real Chromium: login, language, accessibility of every page, phone layout."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, format_violations, log_in

ADMIN_PAGES = ["/cases/", "/reviews/", "/handoffs/", "/scoring/", "/auth/password", "/admin/users",
               "/admin/users/new", "/admin/users/1", "/admin/teams", "/admin/teams/1", "/admin/settings"]


def test_login_shows_the_chinese_shell_and_english_sticks(page):
    page.goto("/")
    expect(page).to_have_url(re.compile("/auth/login"))
    expect(page.locator("h1")).to_have_text("售后工作台")
    log_in(page, "lead")
    expect(page.locator("nav.areas")).to_contain_text("工单看板")
    expect(page.locator("nav.areas")).to_contain_text("差评日清")
    expect(page.locator(".who")).to_contain_text("组长")
    # the live counters load themselves into the header
    expect(page.locator("#header-counters [data-counter=overdue]")).to_contain_text("我的超时工单")

    page.get_by_role("button", name="English").click()
    expect(page.locator("nav.areas")).to_contain_text("Case board")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.goto("/handoffs/")
    expect(page.locator("h1")).to_have_text("Handoff sheet")
    expect(page.locator("#header-counters")).to_contain_text("Handoffs waiting for my team")


def test_wrong_password_is_shown_in_place(page):
    page.goto("/auth/login")
    page.locator("input[name=username]").fill("agent")
    page.locator("input[name=password]").fill("not-the-password")
    page.locator("form button[type=submit]").click()
    expect(page.locator(".error")).to_have_text("用户名或密码错误。")
    expect(page.locator("input[name=username]")).to_have_value("agent")


@pytest.mark.parametrize("viewport", [{"width": 1366, "height": 768}, {"width": 390, "height": 844}], ids=["laptop", "phone"])
def test_every_page_passes_axe_and_fits_the_width(page, viewport):
    page.set_viewport_size(viewport)
    page.goto("/auth/login")
    violations = axe_violations(page)
    assert violations == [], format_violations(violations)
    log_in(page, "admin")
    for path in ADMIN_PAGES:
        page.goto(path)
        expect(page.locator("#header-counters a").first).to_be_visible()
        violations = axe_violations(page)
        assert violations == [], f"{path}: {format_violations(violations)}"
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at {viewport}"


def test_english_pages_pass_axe(page):
    log_in(page, "admin")
    page.get_by_role("button", name="English").click()
    for path in ("/cases/", "/admin/users/new"):
        page.goto(path)
        violations = axe_violations(page)
        assert violations == [], f"{path}: {format_violations(violations)}"


def test_the_accessibility_check_can_fail(page):
    page.set_content("<html><body><img src='x.png'><input type='text'></body></html>")
    found = {violation["id"] for violation in axe_violations(page)}
    assert {"image-alt", "label", "html-has-lang"} <= found


def test_a_poll_after_the_session_ends_goes_to_the_login_page(page):
    log_in(page, "agent")
    page.goto("/cases/")
    expect(page.locator("#header-counters a").first).to_be_visible()
    page.context.clear_cookies()
    # poll now instead of waiting for the interval
    page.evaluate("htmx.ajax('GET', '/counters', {target: '#header-counters', swap: 'outerHTML'})")
    expect(page).to_have_url(re.compile("/auth/login"))
    expect(page.locator("input[name=username]")).to_be_visible()
