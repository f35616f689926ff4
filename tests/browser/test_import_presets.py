"""A lead imports Tmall's own refund export twice in a real Chromium (#14): the export is recognised by its
headers, the platform's status follows the cases, and a flag note a person set survives as a conflict to settle.

The file is written here as the 千牛 back office writes it (the newer 42-column layout, GBK, long numbers as
="…"), spelled out by hand rather than from platforms/exports.py, so that a change there cannot pass silently.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from models import Case, ImportMapping, db
from tests.browser.conftest import axe_violations, format_violations, log_in

# The newer layout of 千牛 → 交易 → 退款管理 → 批量导出: no buyer name, five columns at the end.
HEADERS = [
    "订单编号", "退款编号", "支付宝交易号", "订单付款时间", "商品编码", "退款完结时间", "买家实际支付金额", "宝贝标题",
    "买家退款金额", "手工退款/系统退款", "是否需要退货", "退款的申请时间", "超时时间", "退款状态", "货物状态",
    "退货物流信息", "发货物流信息", "客服介入状态", "卖家真实姓名", "卖家真实姓名新", "卖家退货地址", "卖家邮编",
    "卖家电话", "卖家手机", "退货物流单号", "退货物流公司", "买家退款原因", "买家退款说明", "买家退货时间", "责任方",
    "售中或售后", "商家备注", "完结时间", "部分退款/全部退款", "审核操作人", "举证超时", "是否零秒响应", "退款操作人",
    "退款原因标签", "业务类型", "是否帮他退款", "帮他退款操作账号",
]
ASKED = "买家已经申请退款，等待卖家同意"
NO_INTERVENTION = "不需客服介入"
SHOP = "测试天猫店"
FIRST_NOTE = "先核实物流签收"     # 商家备注 of row 2 in the first export
PERSON_NOTE = "已电话联系买家"      # what the lead writes on the case page
PLATFORM_NOTE = "拒绝：未提供照片"  # 商家备注 of row 2 in the export two hours later


@pytest.fixture
def app(make_app, tmp_path):
    return make_app(IMPORT_DIR=str(tmp_path / "imports"))


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def text_number(digits: str) -> str:
    return f'="{digits}"'  # how the export keeps Excel from turning long numbers into 4.01E+18


def refund_rows(first_export: datetime, changes: dict[int, dict]) -> list[list[str]]:
    """Three refunds asked for a few hours before ``first_export`` (shop time), as an export lists them.

    Their own times stay the same in a later export, which passes what changed since as ``changes`` by row index.
    """
    rows = []
    for index, (order, refund, title, paid, asked, returns) in enumerate((
        ("4012345678901234567", "209876543210987651", "不锈钢保温杯 500ml", "129.00", "129.00", "否"),
        ("4012345678901234568", "209876543210987652", "陶瓷餐具四件套", "199.00", "80.00", "是"),
        ("4012345678901234569", "209876543210987653", "竹制砧板 大号", "59.90", "59.90", "是"),
    )):
        applied = first_export - timedelta(hours=3, minutes=17 * index, seconds=11 * index + 7)
        cells = dict.fromkeys(HEADERS, "")
        cells.update({
            "订单编号": text_number(order), "退款编号": text_number(refund),
            "支付宝交易号": text_number(f"2026{order[-14:]}"), "订单付款时间": stamp(applied - timedelta(days=4)),
            "商品编码": text_number(f"69012345{index:05d}"), "买家实际支付金额": paid, "宝贝标题": title,
            "买家退款金额": asked, "手工退款/系统退款": "系统退款", "是否需要退货": returns,
            "退款的申请时间": stamp(applied), "超时时间": stamp(applied + timedelta(days=2)), "退款状态": ASKED,
            "货物状态": "买家已收到货", "客服介入状态": NO_INTERVENTION, "卖家真实姓名": "测试店主",
            "卖家退货地址": "浙江省杭州市余杭区测试路1号", "卖家邮编": "311100", "卖家手机": "13900000000",
            "买家退款原因": "商品破损", "买家退款说明": f"虚构数据第{index + 1}条：收到时有裂纹",
            "售中或售后": "售中", "部分退款/全部退款": "全部退款" if paid == asked else "部分退款",
            "是否零秒响应": "否", "退款原因标签": "破损", "业务类型": "退款", "是否帮他退款": "否",
        })
        if index == 1:
            cells["商家备注"] = FIRST_NOTE
        cells.update(changes.get(index, {}))
        rows.append([cells[name] for name in HEADERS])
    return rows


def gbk_csv(name: str, rows: list[list[str]]) -> dict:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([HEADERS, *rows])
    return {"name": name, "mimeType": "text/csv", "buffer": buffer.getvalue().encode("gbk")}


def upload(page, file: dict) -> None:
    page.goto("/cases/import/")
    page.locator("select[name=platform]").select_option("tmall")
    shop = page.locator("select[name=shop_id] option", has_text=SHOP).get_attribute("value")
    page.locator("select[name=shop_id]").select_option(shop)
    page.locator("input[name=file]").set_input_files(file)
    page.locator("form[action$='/cases/import/preview'] button[type=submit].primary").click()
    expect(page.locator("#import-preview")).to_be_visible()


def confirm(page) -> None:
    page.locator("form[action$='/cases/import/confirm'] button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/cases/$"))


def expect_counts(page, **counts) -> None:
    for action, count in counts.items():
        expect(page.locator(f"#import-preview [data-count={action}] dd")).to_have_text(str(count))


def assert_axe_clean(page, label: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{label}: {format_violations(violations)}"


def test_a_lead_imports_tmall_refund_exports_twice_and_settles_the_difference(app, page):
    zone = app.config["SHOP_TZ"]
    now = datetime.now(zone).replace(microsecond=0)
    first_export = now - timedelta(hours=2)
    page.set_viewport_size({"width": 1366, "height": 768})  # the size both axe checks are for
    log_in(page, "lead")

    # 1-2. the export as it came out of the back office two hours ago: recognised, nothing to map
    upload(page, gbk_csv("ExportRefundList-1.csv", refund_rows(first_export, {})))
    expect(page.locator("#import-preview .import-preset[data-preset]")).to_have_attribute("data-preset", "taobao_refunds")
    expect(page.locator("#import-preview .import-problem")).to_have_count(0)
    expect_counts(page, create=3, update=0, refused=0)
    expect(page.locator("#import-preview tr[data-outcome=create]")).to_have_count(3)
    expect(page.locator("select[name=map_platform_status]")).to_have_value("退款状态")
    expect(page.locator("select[name=map_flag_note]")).to_have_value("商家备注")
    assert_axe_clean(page, "preview of a recognised export")
    confirm(page)
    with app.app_context():
        ids = {case.platform_case_id: case.id for case in db.session.scalars(sa.select(Case))}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ImportMapping)) == 0, "a mapping was saved"
    assert sorted(ids) == ["209876543210987651", "209876543210987652", "209876543210987653"]
    refunded, flagged, untouched = (ids[f"20987654321098765{n}"] for n in (1, 2, 3))
    for case_id in (refunded, flagged, untouched):
        expect(page.locator(f"#board #case-{case_id} .tag.platform-status")).to_have_class(
            re.compile(r"\bplatform-status-waiting_seller\b"))
    expect(page.locator(f"#case-{untouched} h3")).to_have_text("4012345678901234569")

    # 3. the lead's own triage on the case page
    page.goto(f"/cases/{flagged}")
    expect(page.locator("#case-live dd.platform-status")).to_be_visible()
    flag_form = page.locator(f"form[action$='/cases/{flagged}/flag']")
    flag_form.locator("select[name=flag]").select_option("yellow")
    flag_form.locator("input[name=flag_note]").fill(PERSON_NOTE)
    flag_form.locator("button[type=submit]").click()
    expect(page.locator("#case-live dl.facts .flag")).to_contain_text(PERSON_NOTE)

    # 4. the same three rows exported two hours later: one refunded since, one refused with another note
    later = {
        0: {"退款状态": "退款成功", "退款完结时间": stamp(now - timedelta(minutes=9)), "完结时间": stamp(now - timedelta(minutes=9)),
            "退款操作人": "系统"},
        1: {"退款状态": "卖家拒绝退款", "商家备注": PLATFORM_NOTE, "审核操作人": "测试客服"},
    }
    upload(page, gbk_csv("ExportRefundList-2.csv", refund_rows(first_export, later)))
    expect(page.locator("#import-preview .import-preset")).to_have_attribute("data-preset", "taobao_refunds")
    expect_counts(page, create=0, update=2, unchanged=1, refused=0)
    confirm(page)

    # 5. the board: refunded means resolved; the flag note the lead set is kept and marked as a conflict
    resolved = page.locator("#board .column[data-state=resolved]")
    expect(resolved.locator(f"#case-{refunded}")).to_be_visible()
    expect(resolved.locator(f"#case-{refunded} .tag.platform-status")).to_have_class(re.compile(r"\bplatform-status-refunded\b"))
    expect(page.locator(f"#board #case-{flagged} .tag.platform-status")).to_have_class(
        re.compile(r"\bplatform-status-seller_refused\b"))
    expect(page.locator(f"#board #case-{flagged} span.tag.conflict")).to_be_visible()
    expect(page.locator(f"#board #case-{flagged} .flag")).to_contain_text(PERSON_NOTE)
    expect(page.locator(f"#board #case-{untouched} span.tag.conflict")).to_have_count(0)
    expect(page.locator(f"#board #case-{refunded} span.tag.conflict")).to_have_count(0)

    page.goto(f"/cases/{flagged}")
    conflict = page.locator("#case-live ul.platform-conflicts li[data-conflict=flag_note]")
    expect(conflict).to_be_visible()
    expect(conflict).to_contain_text(PLATFORM_NOTE)
    expect(conflict).to_contain_text(PERSON_NOTE)
    expect(page.locator("#case-live section[aria-labelledby=platform-title] h2#platform-title")).to_be_visible()
    expect(page.locator("#case-live dd.platform-status")).to_contain_text("卖家拒绝退款")
    # 6. axe on the case page while the conflict is listed
    assert_axe_clean(page, "case page with a platform conflict")

    conflict.locator("form[action$='/platform-conflict']:has(input[name=decision][value=platform]) button").click()
    expect(page.locator("#case-live ul.platform-conflicts li[data-conflict=flag_note]")).to_have_count(0)
    expect(page.locator("#case-live dl.facts .flag")).to_contain_text(PLATFORM_NOTE)
    expect(page.locator("#case-live dl.facts .flag")).not_to_contain_text(PERSON_NOTE)

    # the timeline says what the platform said, in the words the platform section uses for it
    status_words = page.locator("#case-live dd.platform-status").evaluate("dd => dd.firstChild.textContent.trim()")
    assert status_words, "the platform status has no words"
    timeline = page.locator("#case-live ol.timeline .detail")
    expect(timeline.filter(has_text=re.compile(rf"^\s*(平台|Platform)\s*[：:]\s*{re.escape(status_words)}"))).to_have_count(1)
