"""The import pages in a real Chromium: accessibility, no sideways scrolling, the mapping editor through htmx."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import axe_violations, format_violations, log_in

VIEWPORTS = [{"width": 1366, "height": 768}, {"width": 390, "height": 844}]


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(IMPORT_DIR=str(tmp_path / "imports"))


def csv_file(rows) -> dict:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return {"name": "tmall-refunds.csv", "mimeType": "text/csv", "buffer": buffer.getvalue().encode("utf-8-sig")}


def check_page(page, label: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{label}: {format_violations(violations)}"
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{label} scrolls sideways by {overflow}px"


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=["laptop", "phone"])
def test_import_pages_pass_axe_and_fit(page, viewport):
    page.set_viewport_size(viewport)
    log_in(page, "lead")
    page.goto("/cases/import/")
    check_page(page, "upload page")
    rows = [["订单号", "买家昵称", "售后类型", "店铺", "退款金额", "问题描述"],
            ["1001", "<b>小林</b>", "仅退款", "测试天猫店", "12.50", "外箱压坏，机身右侧有一道很长的划痕，买家要求补偿" * 4],
            ["1002", "小周", "乱写的类型", "测试天猫店", "abc", "=1+1"]]
    page.locator("input[name=file]").set_input_files(csv_file(rows))
    page.locator("form button[type=submit].primary").first.click()
    expect(page.locator("#import-preview tr[data-outcome=refused]")).to_have_count(1)
    check_page(page, "preview with a refused row")


def test_the_mapping_editor_re_previews_in_place(page):
    log_in(page, "agent")
    page.goto("/cases/import/")
    # choosing a platform brings its saved mapping into place
    heading = page.locator("#saved-mapping h2")
    tmall = heading.inner_text()
    page.locator("select[name=platform]").select_option("jd_pop")
    expect(heading).not_to_have_text(tmall)
    page.locator("select[name=platform]").select_option("tmall")
    expect(heading).to_have_text(tmall)
    page.locator("input[name=file]").set_input_files(csv_file([["订单号", "旺旺名", "售后类型", "店铺"],
                                                              ["1001", "小林", "仅退款", "测试天猫店"]]))
    page.locator("form button[type=submit].primary").first.click()
    expect(page.locator(".import-problem")).to_be_visible()
    page.locator("select[name=map_buyer_nick]").select_option("旺旺名")
    page.get_by_role("button", name=re.compile("预览|Preview with")).first.click()
    expect(page.locator("#import-preview tr[data-outcome=create]")).to_have_count(1)
    expect(page.locator(".import-problem")).to_have_count(0)
    page.locator("form[action$='/cases/import/confirm'] button").click()
    expect(page).to_have_url(re.compile("/cases/$"))
    expect(page.locator("#flash")).to_contain_text("1")
