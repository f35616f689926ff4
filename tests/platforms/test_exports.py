"""The marketplaces' own export files are recognised without a mapping and read completely (issue #14).

Each export is tried as CSV (GBK, long numbers as ="…" or after a tab) and as XLSX; every row is checked
field by field: kind, amounts, the application time and the platform's deadline to the second.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from cases import importing as case_import
from platforms import exports, statuses
from spreadsheets import REFUSED, read_table
from tests.imports.test_import import NOW, SHANGHAI
from tests.imports.test_import import SHOPS as BASE_SHOPS
from tests.platforms import files

SHOPS = [*BASE_SHOPS[:3], SimpleNamespace(id=4, name="测试淘宝店", platform="taobao", active=True)]
SHOP_OF = {"tmall": 1, "jd_pop": 2, "douyin": 3, "taobao": 4}


def shanghai(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(UTC)


def plan_of(data: bytes, name: str, platform: str, mapping=None):
    table = read_table(data, name, header_test=case_import.recognised_header)
    return case_import.plan_import(table, platform=platform, shops=SHOPS, now=NOW, zone=SHANGHAI,
                                   default_shop_id=SHOP_OF[platform], mapping=mapping, find_existing=lambda *args: [])


def both_formats(rows: list[list[str]]):
    return [("export.csv", files.csv_file(rows)), ("export.xlsx", files.xlsx_file(rows))]


# --- Tmall / Taobao ------------------------------------------------------------------------------------

TMALL_ROWS = [
    {"订单编号": files.excel_text("4012345678901234567"), "退款编号": files.excel_text("190123456789012345"),
     "支付宝交易号": files.excel_text("2026112022001100001234567890"), "订单付款时间": "2026-11-20 09:12:45",
     "买家会员名称": "虚构买家甲", "买家实际支付金额": "249.00", "买家退款金额": "249.00", "是否需要退货": "是",
     "退款的申请时间": "2026-11-21 10:05:33", "超时时间": "2026-11-23 10:05:33",
     "退款状态": "买家已经申请退款，等待卖家同意", "货物状态": "买家已收到货", "客服介入状态": "不需客服介入",
     "买家退款原因": "七天无理由退换货", "买家退款说明": "颜色不喜欢\n包装未拆"},
    {"订单编号": files.tabbed("4012345678901234568"), "退款编号": files.tabbed("190123456789012346"),
     "买家会员名称": "虚构买家乙", "买家实际支付金额": "1,299.00", "买家退款金额": "100.50", "是否需要退货": "否",
     "退款的申请时间": "2026-11-21 11:00:07", "超时时间": "2026-11-24 11:00:07", "退款状态": "卖家拒绝退款",
     "货物状态": "买家未收到货", "客服介入状态": "客服已经介入", "买家退款原因": "未按约定时间发货", "商家备注": "已联系快递"},
    {"订单编号": files.excel_text("4012345678901234569"), "退款编号": files.excel_text("190123456789012347"),
     "买家会员名称": "虚构买家丙", "买家实际支付金额": "59.90", "买家退款金额": "59.90", "是否需要退货": "是",
     "退款的申请时间": "2026-11-20 08:00:00", "超时时间": "2026-11-22 08:00:00", "退款状态": "退款成功",
     "货物状态": "买家已退货", "客服介入状态": "客服处理完成", "买家退款说明": "尺码偏小"},
]


def check_tmall(plan, with_buyer: bool) -> None:
    assert plan.problems == [] and plan.preset is not None
    assert plan.preset.key == ("taobao_refunds_with_buyer" if with_buyer else "taobao_refunds")
    assert [row.action for row in plan.rows] == ["create"] * 3, [row.reasons for row in plan.rows]
    first, second, third = (row.values for row in plan.rows)
    assert first["order_no"] == "4012345678901234567" and first["platform_case_id"] == "190123456789012345"
    assert second["order_no"] == "4012345678901234568" and second["platform_case_id"] == "190123456789012346"
    assert [values["kind"] for values in (first, second, third)] == ["return_refund", "refund_only", "return_refund"]
    assert (first["order_amount"], first["refund_amount"]) == (Decimal("249.00"), Decimal("249.00"))
    assert (second["order_amount"], second["refund_amount"]) == (Decimal("1299.00"), Decimal("100.50"))
    assert first["received_at"] == shanghai("2026-11-21 10:05:33")
    assert first["platform_deadline_at"] == shanghai("2026-11-23 10:05:33")  # to the second
    assert second["platform_deadline_at"] == shanghai("2026-11-24 11:00:07")
    assert first["summary"] == "七天无理由退换货：颜色不喜欢\n包装未拆"
    assert second["summary"] == "未按约定时间发货" and third["summary"] == "尺码偏小"
    assert second["flag_note"] == "已联系快递"
    assert first["platform_status"] == statuses.WAITING_SELLER
    assert first["platform_status_text"] == "买家已经申请退款，等待卖家同意"
    assert second["platform_status"] == statuses.INTERVENING  # its customer service is in the case
    assert second["platform_status_text"] == "卖家拒绝退款" and second["platform_intervention"] == "客服已经介入"
    assert third["platform_status"] == statuses.REFUNDED and third["platform_goods_status"] == "买家已退货"
    if with_buyer:
        assert [values["buyer_nick"] for values in (first, second, third)] == ["虚构买家甲", "虚构买家乙", "虚构买家丙"]
    else:
        assert all("buyer_nick" not in values for values in (first, second, third))


@pytest.mark.parametrize("name, data", both_formats([files.TAOBAO_OLD] + [files.row_of(files.TAOBAO_OLD, row)
                                                                         for row in TMALL_ROWS]))
def test_the_older_tmall_refund_export_is_read_without_a_mapping(name, data):
    check_tmall(plan_of(data, name, "tmall"), with_buyer=True)


@pytest.mark.parametrize("name, data", both_formats([files.TAOBAO_NEW] + [files.row_of(files.TAOBAO_NEW, row)
                                                                         for row in TMALL_ROWS]))
def test_the_newer_tmall_export_without_a_buyer_column_is_read(name, data):
    check_tmall(plan_of(data, name, "taobao"), with_buyer=False)


def test_yes_and_no_of_goods_to_return_give_the_kind_and_a_word_beyond_them_is_refused():
    rows = [files.TAOBAO_NEW] + [files.row_of(files.TAOBAO_NEW, dict(TMALL_ROWS[0], 是否需要退货=word,
                                                                       退款编号=f"R{n}"))
                                 for n, word in enumerate(("是", "否", "也许"))]
    plan = plan_of(files.csv_file(rows), "export.csv", "tmall")
    assert [row.values.get("kind") for row in plan.rows[:2]] == ["return_refund", "refund_only"]
    assert plan.rows[2].action == REFUSED
    assert any("是否需要退货" in reason and "也许" in reason for reason in plan.rows[2].reasons)


def test_a_sale_kind_column_wins_over_goods_to_return():
    header = [*files.TAOBAO_NEW, "售后类型"]
    row = files.row_of(header, dict(TMALL_ROWS[0], 售后类型="换货"))
    plan = plan_of(files.csv_file([header, row]), "export.csv", "tmall")
    assert plan.rows[0].values["kind"] == "exchange"


def test_an_unknown_status_word_is_kept_as_written_and_moves_nothing():
    row = files.row_of(files.TAOBAO_NEW, dict(TMALL_ROWS[0], 退款状态="平台新增的状态"))
    plan = plan_of(files.csv_file([files.TAOBAO_NEW, row]), "export.csv", "tmall")
    [planned] = plan.rows
    assert planned.action == "create"
    assert planned.values["platform_status"] is None and planned.values["platform_status_text"] == "平台新增的状态"
    assert any("平台新增的状态" in note for note in planned.notes)


# --- JD POP ------------------------------------------------------------------------------------------------

JD_ROWS = [
    {"服务单号": files.tabbed("1623456789"), "订单号": files.tabbed("301234567890"), "客户账号": "jd_虚构买家甲",
     "客户姓名": "虚构甲", "联系电话": "138****5678", "售后申请时间": "2026-11-21 09:30:00", "客户期望": "退货",
     "退款金额": "129.00", "一级申请原因": "质量问题", "问题描述": "开机无反应", "服务单状态": "待审核"},
    {"服务单号": files.tabbed("1623456790"), "订单号": files.tabbed("301234567891"), "客户账号": "jd_虚构买家乙",
     "售后申请时间": "2026-11-20 18:45:12", "客户期望": "换货", "一级申请原因": "尺寸不符", "服务单状态": "待收货"},
    {"服务单号": files.tabbed("1623456791"), "订单号": files.tabbed("301234567892"), "客户账号": "jd_虚构买家丙",
     "售后申请时间": "2026-11-19 07:00:59", "客户期望": "维修", "问题描述": "遥控器失灵", "服务单状态": "完成"},
]


@pytest.mark.parametrize("name, data", both_formats([files.JD_GROUPS, files.JD] + [files.row_of(files.JD, row)
                                                                                  for row in JD_ROWS]))
def test_the_jd_service_order_export_is_read_under_its_group_titles(name, data):
    plan = plan_of(data, name, "jd_pop")
    assert plan.problems == [] and plan.preset.key == "jd_service_orders"
    assert [row.action for row in plan.rows] == ["create"] * 3, [row.reasons for row in plan.rows]
    assert [row.number for row in plan.rows] == [3, 4, 5]  # Excel's rows: titles, header, then data
    first, second, third = (row.values for row in plan.rows)
    assert (first["platform_case_id"], first["order_no"], first["buyer_nick"]) == ("1623456789", "301234567890",
                                                                                   "jd_虚构买家甲")
    assert [values["kind"] for values in (first, second, third)] == ["return_refund", "exchange", "install_repair"]
    assert first["refund_amount"] == Decimal("129.00")
    assert first["received_at"] == shanghai("2026-11-21 09:30:00")
    assert third["received_at"] == shanghai("2026-11-19 07:00:59")
    assert first["summary"] == "质量问题：开机无反应"
    assert "buyer_phone" not in first and any("masked" in note or "掩" in note for note in plan.rows[0].notes)
    assert [values["platform_status"] for values in (first, second, third)] == [
        statuses.WAITING_SELLER, statuses.RETURN_SHIPPED, statuses.COMPLETED]


# --- Douyin ---------------------------------------------------------------------------------------------------

DOUYIN_ROWS = [
    {"售后单号": files.tabbed("7312345678901234567"), "订单号": files.tabbed("6923456789012345678"),
     "应付金额（元）": "89.90", "退商品金额（元）": "89.90", "售后类型": "退货退款", "售后状态": "待商家处理",
     "售后申请时间": files.tabbed("2026-11-21 20:15:09"), "自动处理截止时间": "2026-11-23 20:15:09",
     "售后原因": "尺码不合适", "用户售后说明": "偏小一码", "仲裁状态": "无仲裁记录", "商品发货状态": "已发货"},
    {"售后单号": files.tabbed("7312345678901234568"), "订单号": files.tabbed("6923456789012345679"),
     "应付金额（元）": "35.00", "退商品金额（元）": "12.00", "售后类型": "已发货退款", "售后状态": "同意退款，退款成功",
     "售后申请时间": "2026-11-20 10:00:00", "售后原因": "商品破损", "售后备注": "补偿部分"},
    {"售后单号": files.tabbed("7312345678901234569"), "订单号": files.tabbed("6923456789012345680"),
     "应付金额（元）": "199.00", "售后类型": "换货", "售后状态": "待商家处理", "售后申请时间": "2026-11-21 12:30:45",
     "自动处理截止时间": "2026-11-22 12:30:45", "售后原因": "颜色发错", "仲裁状态": "仲裁中"},
]


@pytest.mark.parametrize("name, data", both_formats([files.DOUYIN] + [files.row_of(files.DOUYIN, row)
                                                                     for row in DOUYIN_ROWS]))
def test_the_douyin_after_sales_export_is_read_without_a_mapping(name, data):
    plan = plan_of(data, name, "douyin")
    assert plan.problems == [] and plan.preset.key == "douyin_aftersales"
    assert [row.action for row in plan.rows] == ["create"] * 3, [row.reasons for row in plan.rows]
    first, second, third = (row.values for row in plan.rows)
    assert (first["platform_case_id"], first["order_no"]) == ("7312345678901234567", "6923456789012345678")
    assert [values["kind"] for values in (first, second, third)] == ["return_refund", "refund_only", "exchange"]
    assert (first["order_amount"], first["refund_amount"]) == (Decimal("89.90"), Decimal("89.90"))
    assert (second["order_amount"], second["refund_amount"]) == (Decimal("35.00"), Decimal("12.00"))
    assert first["received_at"] == shanghai("2026-11-21 20:15:09")
    assert first["platform_deadline_at"] == shanghai("2026-11-23 20:15:09")
    assert "platform_deadline_at" not in second
    assert first["summary"] == "尺码不合适：偏小一码" and second["flag_note"] == "补偿部分"
    assert [values["platform_status"] for values in (first, second, third)] == [
        statuses.WAITING_SELLER, statuses.REFUNDED, statuses.INTERVENING]


# --- recognition ------------------------------------------------------------------------------------------------

def test_a_file_of_another_platform_is_refused_as_a_whole():
    data = files.csv_file([files.DOUYIN, files.row_of(files.DOUYIN, DOUYIN_ROWS[0])])
    plan = plan_of(data, "export.csv", "tmall")
    assert plan.rows == [] and not plan.ready
    [problem] = plan.problems
    assert "Douyin" in problem and "Tmall" in problem


def test_a_saved_mapping_still_wins_over_the_preset():
    data = files.csv_file([files.JD_GROUPS, files.JD] + [files.row_of(files.JD, row) for row in JD_ROWS])
    plan = plan_of(data, "export.csv", "jd_pop", mapping={"buyer_nick": "客户姓名", "platform_status": ""})
    assert plan.preset.key == "jd_service_orders"
    assert plan.rows[0].values["buyer_nick"] == "虚构甲"
    assert "platform_status" not in plan.rows[0].values


def test_our_own_template_and_unknown_files_have_no_preset():
    assert exports.detect(case_import.template_rows()[0]) is None
    assert exports.detect(["订单号", "买家昵称", "售后类型"]) is None
    # the older Tmall layout is the more specific of the two that match it
    assert exports.detect(files.TAOBAO_OLD).key == "taobao_refunds_with_buyer"
    assert exports.detect(files.TAOBAO_NEW).key == "taobao_refunds"
