"""Case import: reading files, the column mapping, cell values, the plan, all-or-nothing apply, the views.

Files are built in memory here; their texts are ours and clearly made up.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa

import spreadsheets
from cases import importing as case_import
from cases import sla
from cases.importing import plan_import
from models import Case, ImportMapping, Shop, TimelineEvent, db, utcnow
from spreadsheets import ImportFileError, read_table
from tests.conftest import in_english, user_named

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)  # 16:00 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")
SHOPS = [
    SimpleNamespace(id=1, name="测试天猫店", platform="tmall", active=True),
    SimpleNamespace(id=2, name="测试京东店", platform="jd_pop", active=True),
    SimpleNamespace(id=3, name="测试抖音店", platform="douyin", active=True),
    SimpleNamespace(id=4, name="关掉的天猫店", platform="tmall", active=False),
]
HEADER = ["订单号", "买家昵称", "售后类型", "店铺"]
SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR") or Path(__file__).resolve().parents[3] / "shared" / "data")


# --- building files --------------------------------------------------------------------------

def csv_bytes(rows, encoding: str = "utf-8-sig") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows, string_cells=()) -> bytes:
    """A workbook; cells whose text is in ``string_cells`` are typed as strings even when they start with '='."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    for row in sheet.iter_rows():
        for cell in row:
            if cell.value in string_cells:
                cell.data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def table_of(rows, header=HEADER):
    return read_table(csv_bytes([header, *rows]), "file.csv")


def fake_case(**values):
    defaults = dict(id=7, platform="tmall", platform_case_id=None, order_no="1001", buyer_nick="小林", buyer_phone=None,
                    kind="refund_only", category="other", priority=2, order_amount=Decimal("0"), refund_amount=None,
                    received_at=NOW - timedelta(days=1), platform_deadline_at=None, summary="", flag=None, flag_note="",
                    shop_id=1)
    defaults.update(values)
    case = SimpleNamespace(**defaults)
    case.reference = f"#{case.id}"
    return case


def make_plan(rows=None, header=HEADER, existing=(), table=None, **options):
    options.setdefault("platform", "tmall")
    return plan_import(table or table_of(rows or [], header), shops=SHOPS, now=NOW, zone=SHANGHAI,
                       find_existing=lambda *args: list(existing), **options)


def one_row(extra_header=(), extra_values=(), **options):
    """The plan of a single row: 1001 / 小林 / 仅退款 / 测试天猫店 plus the given columns."""
    plan = make_plan([["1001", "小林", "仅退款", "测试天猫店", *extra_values]], [*HEADER, *extra_header], **options)
    assert not plan.problems, plan.problems
    return plan.rows[0]


# --- reading files -----------------------------------------------------------------------------

def test_utf8_with_bom():
    table = read_table(csv_bytes([HEADER, ["1001", "小林", "仅退款", "测试天猫店"]], "utf-8-sig"), "a.csv")
    assert table.encoding == "UTF-8 with BOM"
    assert table.headers == HEADER  # no BOM glued to the first header
    assert table.rows == [(2, ["1001", "小林", "仅退款", "测试天猫店"])]


def test_utf8_without_bom():
    table = read_table(csv_bytes([HEADER, ["1001", "小林", "仅退款", "测试天猫店"]], "utf-8"), "a.csv")
    assert table.encoding == "UTF-8"
    assert table.rows[0][1][1] == "小林"


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_gbk_from_chinese_excel(encoding):
    data = csv_bytes([HEADER, ["1001", "小林", "退货退款", "测试京东店"]], encoding)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the test would prove nothing otherwise
    table = read_table(data, "a.csv")
    assert table.encoding == "GB18030"
    assert table.headers == HEADER
    assert table.rows[0][1] == ["1001", "小林", "退货退款", "测试京东店"]


def test_utf16_tab_separated_from_excel_unicode_text():
    text = "\t".join(HEADER) + "\r\n" + "\t".join(["1001", "小林", "仅退款", "测试天猫店"]) + "\r\n"
    table = read_table(text.encode("utf-16"), "a.csv")
    assert table.encoding == "UTF-16"
    assert table.rows[0][1] == ["1001", "小林", "仅退款", "测试天猫店"]


def test_semicolon_separated_csv():
    table = read_table(";".join(HEADER).encode() + b"\n1001;xiaolin;refund_only;shop\n", "a.csv")
    assert table.rows[0][1] == ["1001", "xiaolin", "refund_only", "shop"]


def test_xlsx_with_typed_cells():
    received = datetime(2026, 11, 20, 14, 3)
    data = xlsx_bytes([[*HEADER, "申请时间", "退款金额", "手机号", "优先级"],
                       [202611200001, "小林", "仅退款", "测试天猫店", received, 12.5, 13812345678, 1]])
    table = read_table(data, "export.xlsx")
    assert table.file_format == "xlsx" and table.encoding is None
    plan = make_plan(table=table)
    row = plan.rows[0]
    assert row.action == "create", row.reasons
    assert row.values["order_no"] == "202611200001"
    assert row.values["received_at"] == datetime(2026, 11, 20, 6, 3, tzinfo=UTC)
    assert row.values["refund_amount"] == Decimal("12.50")
    assert row.values["buyer_phone"] == "13812345678"
    assert row.values["priority"] == 1


def test_xlsx_reads_only_the_first_sheet_and_says_so():
    workbook = openpyxl.Workbook()
    workbook.active.append(HEADER)
    workbook.active.append(["1001", "小林", "仅退款", "测试天猫店"])
    workbook.create_sheet("说明").append(["ignored"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    table = read_table(buffer.getvalue(), "a.xlsx")
    assert len(table.rows) == 1
    assert any("first sheet" in note for note in table.notes)


def test_xlsx_formula_string_cell_is_text_and_a_real_formula_is_never_run():
    data = xlsx_bytes([[*HEADER, "问题描述", "插旗备注"],
                       ["1001", "=HYPERLINK(\"http://example.test\",\"点我\")", "仅退款", "测试天猫店", "=1+1", "=2+2"]],
                      string_cells={"=HYPERLINK(\"http://example.test\",\"点我\")", "=1+1"})
    row = make_plan(table=read_table(data, "a.xlsx")).rows[0]
    assert row.values["buyer_nick"] == "=HYPERLINK(\"http://example.test\",\"点我\")"
    assert row.values["summary"] == "=1+1"
    assert "flag_note" not in row.values  # a true formula without a cached value: nothing, never evaluated


def test_fake_xlsx_is_refused():
    with pytest.raises(ImportFileError, match="not an Excel workbook"):
        read_table(csv_bytes([HEADER, ["1001", "小林", "仅退款", "测试天猫店"]]), "renamed.xlsx")


def test_zip_that_is_not_a_workbook_is_refused():
    buffer = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    with pytest.raises(ImportFileError, match="not an Excel"):
        read_table(buffer.getvalue(), "a.xlsx")


def test_damaged_xlsx_is_refused():
    data = xlsx_bytes([HEADER])
    with pytest.raises(ImportFileError, match="damaged"):
        read_table(data[: len(data) // 2], "a.xlsx")


def test_old_xls_is_refused_with_advice():
    with pytest.raises(ImportFileError, match=r"\.xls"):
        read_table(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.xls")


def test_binary_file_is_refused():
    with pytest.raises(ImportFileError, match="neither a CSV"):
        read_table(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "picture.csv")


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n\n  \n", b",,,\n"])
def test_empty_file_is_refused(data):
    with pytest.raises(ImportFileError, match="empty"):
        read_table(data, "a.csv")


@pytest.mark.parametrize("data", [csv_bytes([HEADER]), csv_bytes([HEADER, [], ["", "", "", ""]]), xlsx_bytes([HEADER])])
def test_header_only_file_is_refused(data):
    with pytest.raises(ImportFileError, match="no data rows"):
        read_table(data, "a.xlsx" if data.startswith(b"PK") else "a.csv")


def test_file_over_the_size_limit_is_refused():
    data = csv_bytes([HEADER] + [["1001", "小林", "仅退款", "测试天猫店"]] * 100)
    with pytest.raises(ImportFileError, match="the limit is 1 KB"):
        read_table(data, "a.csv", max_bytes=1024)
    assert read_table(data, "a.csv", max_bytes=len(data)).rows


def test_file_over_the_row_limit_is_refused():
    rows = [[str(1000 + n), "小林", "仅退款", "测试天猫店"] for n in range(4)]
    with pytest.raises(ImportFileError, match="more than 3 data rows"):
        read_table(csv_bytes([HEADER, *rows]), "a.csv", max_rows=3)
    with pytest.raises(ImportFileError, match="more than 3 data rows"):
        read_table(xlsx_bytes([HEADER, *rows]), "a.xlsx", max_rows=3)
    assert len(read_table(csv_bytes([HEADER, *rows]), "a.csv", max_rows=4).rows) == 4


def test_row_numbers_are_excel_row_numbers():
    """Blank rows count, a quoted cell with a line break is one row: as Excel shows the file."""
    data = csv_bytes([HEADER, ["1001", "小林", "仅退款", "测试天猫店"], [], ["1002", "第一行\n第二行", "仅退款", "测试天猫店"],
                      ["1003", "小周", "仅退款", "测试天猫店"]])
    assert [number for number, _ in read_table(data, "a.csv").rows] == [2, 4, 5]
    data = xlsx_bytes([HEADER, ["1001", "小林", "仅退款", "测试天猫店"], [None], ["1002", "小周", "坏类型", "测试天猫店"]])
    plan = make_plan(table=read_table(data, "a.xlsx"))
    assert [(row.number, row.action) for row in plan.rows] == [(2, "create"), (4, "refused")]


# --- columns -------------------------------------------------------------------------------------

def test_missing_required_columns_are_named():
    plan = make_plan([["1001", "仅退款"]], ["订单号", "售后类型"])
    assert plan.rows == [] and not plan.ready
    [problem] = plan.problems
    assert "Required columns are missing" in problem
    assert "Buyer nickname" in problem and "Shop" in problem
    assert "Order no." not in problem


def test_a_shop_for_the_whole_file_replaces_the_shop_column():
    plan = make_plan([["1001", "小林", "仅退款"]], ["订单号", "买家昵称", "售后类型"], default_shop_id=1)
    assert not plan.problems
    assert plan.rows[0].values["shop"] == 1
    # and fills the rows whose shop cell is empty, while a named shop wins
    plan = make_plan([["1001", "小林", "仅退款", ""], ["1002", "小周", "仅退款", "测试天猫店"]], default_shop_id=1)
    assert [row.values["shop"] for row in plan.rows] == [1, 1]


def test_extra_columns_are_a_warning_not_an_error():
    plan = make_plan([["1001", "小林", "仅退款", "测试天猫店", "x", "y"]], [*HEADER, "商品名称", "物流单号"])
    assert plan.ready
    assert any("商品名称" in warning and "物流单号" in warning for warning in plan.warnings)


@pytest.mark.parametrize("header", [
    # Tmall-like refund export
    ["订单编号", "退款编号", "买家会员名", "退款类型", "退款金额", "申请时间", "退款原因", "店铺名称"],
    # JD-like service order export
    ["订单号", "服务单号", "用户昵称", "服务类型", "申请退款金额", "申请时间", "问题描述", "店铺"],
    # Douyin-like after-sales export
    ["订单编号", "售后单号", "用户昵称", "售后类型", "退款金额", "创建时间", "备注", "店铺名称"],
    # our own template and English
    ["order_no", "platform_case_id", "buyer_nick", "kind", "refund_amount", "received_at", "summary", "shop"],
    ["Order no.", "Platform case no.", "Buyer nickname", "Case kind", "Refund amount", "Received at", "Summary", "Shop"],
])
def test_typical_exports_map_without_editing(header):
    columns = case_import.resolve_columns(header)
    # a refund reason is read as the buyer's reason, which becomes the summary (see tests/platforms)
    description = "reason" if "退款原因" in header else "summary"
    assert list(columns.index) == ["order_no", "platform_case_id", "buyer_nick", "kind", "refund_amount",
                                   "received_at", description, "shop"]
    assert columns.ignored == [] and columns.missing == []


def test_loose_header_matching():
    columns = case_import.resolve_columns([" 订单号 ", "ＯＲＤＥＲ_ＮＯ", "退款金额(元)", "买家昵称*", "Kind", "店铺"])
    assert columns.header == {"order_no": " 订单号 ", "buyer_nick": "买家昵称*", "kind": "Kind",
                              "refund_amount": "退款金额(元)", "shop": "店铺"}


def test_known_column_names_belong_to_one_field_each():
    seen = {}
    for name, names in case_import.header_aliases().items():
        for alias in names:
            assert seen.setdefault(spreadsheets.normalise(alias), name) == name, alias


def test_a_user_mapping_overrides_the_known_names():
    header = ["订单号", "旺旺", "售后类型", "店铺", "买家昵称", "备注"]
    mapping = {"buyer_nick": "旺旺", "summary": ""}
    columns = case_import.resolve_columns(header, mapping)
    assert columns.header["buyer_nick"] == "旺旺"
    assert "summary" not in columns.index  # "" means: do not import this field
    assert set(columns.ignored) == {"买家昵称", "备注"}


def test_a_mapping_naming_an_absent_column_falls_back_and_warns():
    plan = make_plan([["1001", "小林", "仅退款", "测试天猫店"]], mapping={"buyer_nick": "旺旺"})
    assert plan.columns.header["buyer_nick"] == "买家昵称"
    assert any("旺旺" in warning for warning in plan.warnings)


# --- values ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,kind", [
    ("仅退款", "refund_only"), ("退货退款", "return_refund"), ("换货", "exchange"), ("补发", "reship"), ("补寄", "reship"),
    ("补偿", "compensation"), ("安装/维修", "install_repair"), ("安装／维修", "install_repair"), ("维修", "install_repair"),
    ("投诉", "complaint"), ("平台纠纷", "dispute"), ("纠纷", "dispute"), ("咨询", "inquiry"),
    ("refund_only", "refund_only"), ("Return and refund", "return_refund"), (" platform DISPUTE ", "dispute"),
])
def test_kinds(text, kind):
    plan = make_plan([["1001", "小林", text, "测试天猫店"]])
    assert plan.rows[0].values["kind"] == kind


def test_unknown_kind_is_refused_with_the_choices():
    row = make_plan([["1001", "小林", "随便", "测试天猫店"]]).rows[0]
    assert row.action == "refused"
    assert "售后类型: “随便” is not one of: 仅退款、退货退款" in row.reasons[0]


@pytest.mark.parametrize("text,category", [
    ("到货破损", "damaged_on_arrival"), ("7天无理由", "seven_day_return"), ("七天无理由", "seven_day_return"),
    ("少件:配件", "missing_accessory"), ("物流", "logistics"), ("其他", "other"), ("install", "install"),
    ("Logistics: delay, stuck, lost", "logistics"),
])
def test_categories(text, category):
    assert one_row(["问题类型"], [text]).values["category"] == category


def test_unknown_category_is_refused():
    assert one_row(["问题类型"], ["外星人"]).action == "refused"


@pytest.mark.parametrize("value,priority", [
    ("P0", 0), ("p1", 1), ("2", 2), ("3", 3), ("紧急", 0), ("高", 1), ("普通", 2), ("低", 3), ("P2 normal", 2),
])
def test_priorities(value, priority):
    assert one_row(["优先级"], [value]).values["priority"] == priority


@pytest.mark.parametrize("value", ["P9", "4", "最高", "1.5"])
def test_unknown_priority_is_refused(value):
    assert one_row(["优先级"], [value]).action == "refused"


@pytest.mark.parametrize("value,flag", [
    ("红", "red"), ("黄旗", "yellow"), ("绿色", "green"), ("蓝", "blue"), ("紫", "purple"), ("red", "red"), ("Purple", "purple"),
    ("无", None), ("灰旗", None),
])
def test_flags(value, flag):
    row = one_row(["旗帜"], [value])
    assert row.action == "create"
    assert row.values["flag"] == flag


def test_unknown_flag_is_refused():
    assert one_row(["旗帜"], ["橙"]).action == "refused"


@pytest.mark.parametrize("value,amount", [
    ("¥12.50", "12.50"), ("￥8", "8.00"), ("12.5", "12.50"), ("1,299.00", "1299.00"), ("12.50元", "12.50"), ("0", "0.00"),
    ("1000000", "1000000.00"), (".5", "0.50"), ("12.500", "12.50"), (12.5, "12.50"), (3, "3.00"), (0.1 + 0.2, "0.30"),
])
def test_amounts(value, amount):
    assert spreadsheets.parse_amount(value) == Decimal(amount)


@pytest.mark.parametrize("value,message", [
    ("abc", "not an amount"), ("-3", "negative"), (-3, "negative"), ("1e5", "not an amount"), ("NaN", "not an amount"),
    ("inf", "not an amount"), (float("nan"), "not an amount"), ("12.345", "two decimal places"), (12.345, "two decimal places"),
    ("1000000.01", "over 1,000,000"), ("1,29.00", "not an amount"), ("12,5", "not an amount"), (True, "not an amount"),
])
def test_bad_amounts_are_refused(value, message):
    with pytest.raises(spreadsheets.CellError, match=message):
        spreadsheets.parse_amount(value)


def test_bad_amount_refuses_the_row_naming_the_column():
    row = one_row(["实付金额"], ["abc"])
    assert row.action == "refused"
    assert row.reasons == ["实付金额: “abc” is not an amount in yuan, such as 12.50."]


@pytest.mark.parametrize("value,utc", [
    ("2026-11-20 14:03", datetime(2026, 11, 20, 6, 3)),
    ("2026/11/20 14:03:05", datetime(2026, 11, 20, 6, 3, 5)),
    ("2026/11/3 9:05", datetime(2026, 11, 3, 1, 5)),
    ("2026-11-20", datetime(2026, 11, 19, 16, 0)),
    ("2026-11-20T14:03:00+08:00", datetime(2026, 11, 20, 6, 3)),
    ("2026-11-20T06:03:00Z", datetime(2026, 11, 20, 6, 3)),
    ("2026年11月20日 14:03", datetime(2026, 11, 20, 6, 3)),
    (datetime(2026, 11, 20, 14, 3), datetime(2026, 11, 20, 6, 3)),
    (46346.5, datetime(2026, 11, 20, 4, 0)),  # an Excel day number without a date format
])
def test_dates_are_shop_time_converted_to_utc(value, utc):
    assert spreadsheets.parse_datetime(value, SHANGHAI) == utc.replace(tzinfo=UTC)


def test_the_shop_zone_is_a_parameter():
    assert spreadsheets.parse_datetime("2026-11-20 14:03", ZoneInfo("UTC")) == datetime(2026, 11, 20, 14, 3, tzinfo=UTC)


@pytest.mark.parametrize("value,message", [
    ("2026-02-30 10:00", "not a real date"), ("2026-13-01", "not a real date"), ("2026-11-20 25:00", "not a real date"),
    ("yesterday", "not a date"), ("20/11/2026", "not a date"), ("1999-12-31 10:00", "before the year 2000"),
])
def test_bad_dates_are_refused(value, message):
    with pytest.raises(spreadsheets.CellError, match=message):
        spreadsheets.parse_datetime(value, SHANGHAI)


def test_a_request_from_the_future_is_refused():
    local_now = NOW.astimezone(SHANGHAI)
    soon = (local_now + timedelta(hours=20)).strftime("%Y-%m-%d %H:%M")
    later = (local_now + timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    assert one_row(["申请时间"], [soon]).action == "create"
    row = one_row(["申请时间"], [later])
    assert row.action == "refused" and "more than a day in the future" in row.reasons[0]


def test_platform_deadlines():
    assert one_row(["申请时间", "超时时间"], ["2026-11-20 10:00", "2026-11-24 10:00"]).action == "create"
    row = one_row(["申请时间", "超时时间"], ["2026-11-20 10:00", "2026-11-19 10:00"])
    assert "earlier than" in row.reasons[0]
    assert "more than a year" in one_row(["超时时间"], ["2028-01-01 10:00"]).reasons[0]


@pytest.mark.parametrize("value,phone", [
    ("138 1234 5678", "138 1234 5678"), ("+86-138-1234-5678", "+86-138-1234-5678"), ("(010) 8888-6666", "010 8888-6666"),
    (13812345678, "13812345678"), ("  13812345678 ", "13812345678"),
])
def test_phones(value, phone):
    assert one_row(["手机号"], [value]).values["buyer_phone"] == phone


def test_a_masked_phone_is_not_imported():
    row = one_row(["手机号"], ["138****5678"])
    assert row.action == "create"
    assert "buyer_phone" not in row.values
    assert any("masked" in note for note in row.notes)


@pytest.mark.parametrize("value", ["call me", "打我电话", "1" * 33, "+-"])
def test_bad_phones_are_refused(value):
    assert one_row(["手机号"], [value]).action == "refused"


def test_texts_are_trimmed_and_limited_as_in_the_model():
    row = one_row(["问题描述", "插旗备注"], ["  第一行\n第二行 " + "长" * 600, "  备注\x00 " + "注" * 300])
    assert row.action == "create"
    assert row.values["summary"].startswith("第一行\n第二行 ")
    assert len(row.values["summary"]) == 500
    assert len(row.values["flag_note"]) == 200 and "\x00" not in row.values["flag_note"]
    assert len(row.notes) == 2
    long_nick = make_plan([["1001", "长" * 65, "仅退款", "测试天猫店"]]).rows[0]
    assert long_nick.action == "refused" and "64 characters" in long_nick.reasons[0]
    long_order = make_plan([["1" * 65, "小林", "仅退款", "测试天猫店"]]).rows[0]
    assert long_order.action == "refused"


def test_imported_text_is_stored_raw_never_escaped():
    row = make_plan([["1001", "<script>alert('x')</script>", "仅退款", "测试天猫店"]]).rows[0]
    assert row.values["buyer_nick"] == "<script>alert('x')</script>"


@pytest.mark.parametrize("value", ["=1+1", "+86 就是这样", "-这是备注-", "@SUM(A1:A2)", "=cmd|' /C calc'!A0"])
def test_formula_looking_cells_are_stored_as_text(value):
    assert one_row(["问题描述"], [value]).values["summary"] == value


def test_our_export_apostrophe_is_undone_on_import():
    """The CSV export writes '=x for =x; reading it back gives =x, and a plain apostrophe stays."""
    assert one_row(["问题描述", "插旗备注"], ["'=1+1", "'这是撇号"]).values == {
        "order_no": "1001", "buyer_nick": "小林", "kind": "refund_only", "shop": 1, "summary": "=1+1", "flag_note": "'这是撇号"}


def test_order_numbers_as_excel_mangles_them():
    assert make_plan([['="0012345"', "小林", "仅退款", "测试天猫店"]]).rows[0].values["order_no"] == "0012345"
    row = make_plan([["1.23457E+18", "小林", "仅退款", "测试天猫店"]]).rows[0]
    assert row.action == "refused" and "scientific notation" in row.reasons[0]
    table = read_table(xlsx_bytes([HEADER, [1.2345678901234567e18, "小林", "仅退款", "测试天猫店"]]), "a.xlsx")
    assert make_plan(table=table).rows[0].action == "refused"


def test_empty_required_cells_are_refused():
    row = make_plan([["", " ", "仅退款", "测试天猫店"]]).rows[0]
    assert row.reasons == ["订单号 is empty.", "买家昵称 is empty."]


@pytest.mark.parametrize("shop,message", [
    ("不存在的店", "no shop named"), ("测试京东店", "another platform"), ("关掉的天猫店", "deactivated"), ("", "No shop"),
])
def test_shops_are_checked(shop, message):
    row = make_plan([["1001", "小林", "仅退款", shop]]).rows[0]
    assert row.action == "refused" and message in " ".join(row.reasons)


# --- the plan: duplicates and existing cases -----------------------------------------------------------

def test_duplicate_platform_case_ids_refuse_the_later_rows_naming_the_first():
    plan = make_plan([["1001", "小林", "仅退款", "测试天猫店", "R1"], ["1002", "小周", "仅退款", "测试天猫店", "R2"],
                      ["1003", "小王", "换货", "测试天猫店", "R1"]], [*HEADER, "退款编号"])
    assert [row.action for row in plan.rows] == ["create", "create", "refused"]
    assert plan.rows[2].reasons == ["The same platform case no. as row 2."]
    assert not plan.ready


def test_duplicate_order_and_kind_without_a_case_id():
    plan = make_plan([["1001", "小林", "仅退款", "测试天猫店"], ["1001", "小林", "退货退款", "测试天猫店"],
                      ["1001", "小林", "仅退款", "测试天猫店"]])
    assert [row.action for row in plan.rows] == ["create", "create", "refused"]
    assert "row 2" in plan.rows[2].reasons[0]


def test_two_refunds_of_one_order_are_told_apart_by_their_case_ids():
    header = [*HEADER, "退款编号"]
    plan = make_plan([["1001", "小林", "仅退款", "测试天猫店", "R1"], ["1001", "小林", "仅退款", "测试天猫店", "R2"]], header)
    assert [row.action for row in plan.rows] == ["create", "create"]
    # but a row without an id next to one with an id cannot be matched on the next import
    plan = make_plan([["1001", "小林", "仅退款", "测试天猫店", ""], ["1001", "小林", "仅退款", "测试天猫店", "R2"]], header)
    assert [row.action for row in plan.rows] == ["create", "refused"]
    plan = make_plan([["1001", "小林", "仅退款", "测试天猫店", "R1"], ["1001", "小林", "仅退款", "测试天猫店", ""]], header)
    assert [row.action for row in plan.rows] == ["create", "refused"]


def test_a_row_matching_an_existing_case_unchanged():
    case = fake_case(platform_case_id="R1")
    plan = make_plan([["1001", "小林", "仅退款", "测试天猫店", "R1"]], [*HEADER, "退款编号"], existing=[case])
    assert plan.rows[0].action == "unchanged" and plan.rows[0].existing is case
    assert not plan.ready  # nothing to do


def test_a_changed_field_is_an_update_of_that_field_only():
    case = fake_case(platform_case_id="R1", refund_amount=Decimal("10.00"), summary="已有说明", buyer_phone="13800000001")
    plan = make_plan([["1001", "小林", "仅退款", "测试天猫店", "R1", "12.50", "", "138****0001"]],
                     [*HEADER, "退款编号", "退款金额", "问题描述", "手机号"], existing=[case])
    row = plan.rows[0]
    assert row.action == "update"
    # an empty cell and a masked phone change nothing
    assert row.changes == {"refund_amount": (Decimal("10.00"), Decimal("12.50"))}
    assert plan.ready


def test_without_a_case_id_the_order_and_kind_find_the_case():
    case = fake_case(platform_case_id="R9")
    plan = make_plan([["1001", "小林", "仅退款", "测试天猫店"], ["1001", "小林", "换货", "测试天猫店"]], existing=[case])
    assert [row.action for row in plan.rows] == ["unchanged", "create"]


def test_a_case_id_fills_in_a_case_entered_without_one():
    case = fake_case(platform_case_id=None)
    row = make_plan([["1001", "小林", "仅退款", "测试天猫店", "R1"]], [*HEADER, "退款编号"], existing=[case]).rows[0]
    assert row.action == "update" and row.changes == {"platform_case_id": (None, "R1")}


def test_several_matching_cases_are_refused_as_ambiguous():
    cases = [fake_case(id=7, platform_case_id="R1"), fake_case(id=8, platform_case_id="R2")]
    row = make_plan([["1001", "小林", "仅退款", "测试天猫店"]], existing=cases).rows[0]
    assert row.action == "refused" and "2 cases already exist" in row.reasons[0]


def test_two_rows_matching_the_same_case_refuse_the_later():
    case = fake_case(platform_case_id=None)
    plan = make_plan([["1001", "小林", "仅退款", "测试天猫店", "R1"], ["1001", "小林", "仅退款", "测试天猫店", "R2"]],
                     [*HEADER, "退款编号"], existing=[case])
    assert [row.action for row in plan.rows] == ["update", "refused"]
    assert "Row 2 already matches the same case #7" in plan.rows[1].reasons[0]


# --- with the database: apply all or nothing ----------------------------------------------------------------

def plan_in_app(rows, header=HEADER, **options):
    options.setdefault("platform", "tmall")
    return plan_import(table_of(rows, header), shops=db.session.scalars(sa.select(Shop)).all(), now=utcnow(),
                       zone=SHANGHAI, **options)


def apply_in_app(plan, username="agent"):
    result = case_import.apply_import(plan, user_named(username), sla.load_rules(), utcnow(), source={"sha256": "x"})
    db.session.commit()
    return result


def case_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Case))


GOOD_ROWS = [["1001", "小林", "仅退款", "测试天猫店", "R1", "12.50", "2026-11-21 09:00", "外箱压坏"],
             ["1002", "小周", "退货退款", "测试天猫店", "R2", "", "", "=SUM(A1)"]]
GOOD_HEADER = [*HEADER, "退款编号", "退款金额", "申请时间", "问题描述"]


def test_apply_creates_cases_with_events_deadlines_and_one_import_event(app):
    with app.test_request_context():
        result = apply_in_app(plan_in_app(GOOD_ROWS, GOOD_HEADER))
        assert len(result.created) == 2 and result.updated == []
        first = db.session.get(Case, result.created[0])
        assert (first.order_no, first.platform, first.platform_case_id, first.refund_amount) == ("1001", "tmall", "R1", Decimal("12.50"))
        assert first.received_at == datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
        assert first.category == "other" and first.priority == 2 and first.created_by.username == "agent"
        assert first.next_due_at is not None  # the reply clock runs
        second = db.session.get(Case, result.created[1])
        assert second.summary == "=SUM(A1)"
        assert abs(second.received_at - utcnow()) < timedelta(minutes=1)  # no date: received now
        created = db.session.scalar(TimelineEvent.for_subject("case", first.id))
        assert (created.action, created.detail["via"]) == ("created", "import")
        [event] = db.session.scalars(sa.select(TimelineEvent).where(TimelineEvent.subject_type == "import")).all()
        assert event.actor.username == "agent" and event.action == "imported"
        assert event.detail["created"] == 2 and event.detail["created_ids"] == result.created


def test_the_same_file_twice_creates_and_changes_nothing(app):
    with app.test_request_context():
        apply_in_app(plan_in_app(GOOD_ROWS, GOOD_HEADER))
        events = db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEvent))
        again = plan_in_app(GOOD_ROWS, GOOD_HEADER)
        assert again.counts == {"create": 0, "update": 0, "unchanged": 2, "refused": 0}
        assert not again.ready
        with pytest.raises(case_import.PlanNotReady):
            case_import.apply_import(again, user_named("agent"), sla.load_rules(), utcnow())
        assert case_count() == 2
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEvent)) == events


def test_an_update_changes_the_field_and_records_it(app):
    with app.test_request_context():
        [case_id, _] = apply_in_app(plan_in_app(GOOD_ROWS, GOOD_HEADER)).created
        changed = [["1001", "小林", "仅退款", "测试天猫店", "R1", "15.00", "2026-11-21 09:00", "外箱压坏"]]
        plan = plan_in_app(changed, GOOD_HEADER)
        assert plan.counts["update"] == 1
        result = apply_in_app(plan, "lead")
        assert result.updated == [case_id]
        db.session.expire_all()
        case = db.session.get(Case, case_id)
        assert case.refund_amount == Decimal("15.00") and case.version == 2
        event = db.session.scalar(TimelineEvent.for_subject("case", case_id))
        assert event.action == "updated" and event.actor.username == "lead"
        assert event.detail["changes"] == {"refund_amount": ["12.50", "15.00"]}


def test_one_bad_row_means_no_case_at_all(app):
    with app.test_request_context():
        rows = [*GOOD_ROWS, ["1003", "小王", "仅退款", "测试天猫店", "R3", "-3", "", ""]]
        plan = plan_in_app(rows, GOOD_HEADER)
        assert plan.counts == {"create": 2, "update": 0, "unchanged": 0, "refused": 1}
        assert not plan.ready
        with pytest.raises(case_import.PlanNotReady):
            case_import.apply_import(plan, user_named("agent"), sla.load_rules(), utcnow())
        db.session.rollback()
        assert case_count() == 0


def test_find_existing_cases_is_per_platform(app, make_case):
    make_case(order_no="1001", kind="refund_only", shop="测试京东店")
    with app.test_request_context():
        plan = plan_in_app([["1001", "小林", "仅退款", "测试天猫店"]])
        assert plan.rows[0].action == "create"  # the JD case with the same order no. is another platform's
        plan = plan_in_app([["1001", "小林", "仅退款", "测试京东店"]], platform="jd_pop")
        assert plan.rows[0].action == "update"  # found; its nickname differs


def test_chinese_labels_from_the_catalogue_are_accepted(app):
    with app.test_request_context():
        from flask_babel import force_locale

        from cases.labels import CASE_CATEGORIES, PRIORITIES

        with force_locale("zh"):
            category, priority = str(CASE_CATEGORIES["size_differs"]), str(PRIORITIES[3])
        row = plan_in_app([["1001", "小林", "仅退款", "测试天猫店", category, priority]], [*HEADER, "问题类型", "优先级"]).rows[0]
        assert (row.values["category"], row.values["priority"]) == ("size_differs", 3)


def test_real_jd_reviews_import(app):
    """200 real JD reviews as an export: review text as the summary, purchase time in JD's YYYY/M/D H:MM."""
    source = SHARED_DATA / "reviews_jd_aircon_1_2_star.csv"
    if not source.exists():
        pytest.skip(f"shared review data not found at {source}; this test needs the team's /work/shared/data")
    with source.open(encoding="utf-8", newline="") as handle:
        reviews = list(itertools.islice(csv.DictReader(handle), 200))
    rows = [[f"JD{n:010d}", f"买家{n}", "投诉", "测试京东店", review["text"], review["purchase_time"]]
            for n, review in enumerate(reviews, start=1)]
    assert all(re.match(r"^\d{4}/\d{1,2}/\d{1,2} \d{1,2}:\d{2}$", row[5]) for row in rows)
    with app.test_request_context():
        plan = plan_in_app(rows, [*HEADER, "问题描述", "申请时间"], platform="jd_pop")
        assert plan.counts["create"] == 200, [row.reasons for row in plan.refused][:3]
        result = apply_in_app(plan)
        assert len(result.created) == 200 and case_count() == 200
        for case_id, review in zip(result.created, reviews, strict=True):
            case = db.session.get(Case, case_id)
            assert case.summary == spreadsheets.clean_text(review["text"], 500, single_line=False)[0]
            assert case.received_at.astimezone(SHANGHAI).strftime("%Y/%-m/%-d %-H:%M") == review["purchase_time"]


# --- the views -----------------------------------------------------------------------------------------------



def upload(client, data: bytes, name: str = "tmall-refunds.csv", platform: str = "tmall", shop_id: int = 0, **headers):
    return client.post_form("/cases/import/preview", {"file": (io.BytesIO(data), name), "platform": platform,
                                                      "shop_id": str(shop_id)},
                            content_type="multipart/form-data", headers=headers or None)


def token_of(html: str) -> str:
    return re.search(r'name="token" value="([A-Za-z0-9_-]{32})"', html).group(1)


def outcomes(html: str) -> list[tuple[int, str]]:
    return [(int(number), outcome) for number, outcome in re.findall(r'data-row="(\d+)" data-outcome="(\w+)"', html)]


def test_the_upload_page(login_as):
    client = in_english(login_as("agent"))
    html = client.get("/cases/import/").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html and 'name="file"' in html
    assert "/cases/import/template.xlsx" in html and "/cases/import/template.csv" in html
    assert "/cases/export.csv" in html  # agents also work cases
    assert "No saved mapping" in html


def test_a_reviewer_may_not_import(login_as):
    client = login_as("reviewer")
    assert client.get("/cases/import/").status_code == 403
    assert upload(client, csv_bytes([HEADER, ["1001", "小林", "仅退款", "测试天猫店"]])).status_code == 403


def test_preview_then_confirm(app, login_as):
    client = in_english(login_as("agent"))
    response = upload(client, csv_bytes([GOOD_HEADER, *GOOD_ROWS], "gbk"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert outcomes(html) == [(2, "create"), (3, "create")]
    assert "GB18030" in html and 'data-count="create"><dt>Create</dt><dd>2</dd>' in html
    with app.app_context():
        assert case_count() == 0  # a preview writes nothing
    response = client.post_form("/cases/import/confirm", {"token": token_of(html)})
    assert response.status_code == 302 and response.headers["Location"] == "/cases/"
    assert "2 created, 0 updated, 0 unchanged." in client.get("/cases/").get_data(as_text=True)
    with app.app_context():
        assert case_count() == 2
    # a second confirm (a double click) imports nothing and says what the first did
    response = client.post_form("/cases/import/confirm", {"token": token_of(html)}, follow_redirects=True)
    assert response.status_code == 200
    assert "This file was imported already by" in response.get_data(as_text=True)
    assert "2 created, 0 updated, 0 unchanged. Nothing was imported again." in response.get_data(as_text=True)
    with app.app_context():
        assert case_count() == 2


def test_preview_escapes_imported_text(login_as):
    client = in_english(login_as("agent"))
    data = xlsx_bytes([[*HEADER, "问题描述"], ["1001", "<script>alert('x')</script>", "仅退款", "测试天猫店", "=1+1"]],
                      string_cells={"=1+1"})
    html = upload(client, data, "export.xlsx").get_data(as_text=True)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "=1+1" in html
    assert outcomes(html) == [(2, "create")]


def test_refused_rows_show_reasons_and_no_confirm_button(app, login_as):
    client = in_english(login_as("agent"))
    rows = [GOOD_ROWS[0], ["1003", "小王", "仅退款", "测试天猫店", "R3", "abc", "2026-02-30 10:00", ""], GOOD_ROWS[0]]
    html = upload(client, csv_bytes([GOOD_HEADER, *rows])).get_data(as_text=True)
    assert outcomes(html) == [(2, "create"), (3, "refused"), (4, "refused")]
    assert "退款金额: “abc” is not an amount" in html and "申请时间: “2026-02-30 10:00” is not a real date." in html
    assert "The same platform case no. as row 2." in html
    assert "/cases/import/confirm" not in html and "Nothing will be imported." in html
    # confirming anyway (a crafted request) imports nothing
    response = client.post_form("/cases/import/confirm", {"token": token_of(html)})
    assert "Nothing was imported" in response.get_data(as_text=True)
    with app.app_context():
        assert case_count() == 0


@pytest.mark.parametrize("data,name,message", [
    (b"", "empty.csv", "The file is empty."),
    (csv_bytes([HEADER]), "header.csv", "no data rows"),
    (csv_bytes([HEADER, ["1001", "小林", "仅退款", "测试天猫店"]]), "fake.xlsx", "not an Excel workbook"),
    (b"order_no\n1001\n", "notes.txt", "Only CSV or Excel .xlsx files."),
])
def test_bad_files_are_refused_on_the_form(login_as, data, name, message):
    client = in_english(login_as("agent"))
    response = upload(client, data, name)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and message in html
    assert 'id="file-error"' in html and "data-outcome" not in html


def test_a_file_too_large_for_the_configured_limit(make_app, tmp_path):
    app = make_app(IMPORT_DIR=str(tmp_path / "small"), IMPORT_MAX_BYTES=2048)
    client = app.test_client()
    client.post_form("/auth/login", {"username": "agent", "password": "test-pass-123"})
    in_english(client)
    rows = [[str(1000 + n), "小林", "仅退款", "测试天猫店"] for n in range(200)]
    html = upload(client, csv_bytes([HEADER, *rows])).get_data(as_text=True)
    assert "the limit is 2 KB" in html and "at most 2 KB" in html


def test_the_shop_chosen_for_the_file_must_be_on_the_platform(app, login_as):
    client = in_english(login_as("agent"))
    with app.app_context():
        jd_shop = db.session.scalar(sa.select(Shop.id).where(Shop.name == "测试京东店"))
    html = upload(client, csv_bytes([HEADER[:3], ["1001", "小林", "仅退款"]]), shop_id=jd_shop).get_data(as_text=True)
    assert "This shop is on JD POP" in html
    html = upload(client, csv_bytes([HEADER[:3], ["1001", "小林", "仅退款"]]), platform="jd_pop",
                  shop_id=jd_shop).get_data(as_text=True)
    assert outcomes(html) == [(2, "create")]


def test_mapping_editor_fixes_a_missing_column_and_is_saved_and_reused(app, login_as):
    client = in_english(login_as("agent"))
    data = csv_bytes([["订单号", "旺旺名", "售后类型", "店铺"], ["1001", "小林", "仅退款", "测试天猫店"]])
    html = upload(client, data).get_data(as_text=True)
    assert "Required columns are missing" in html and "Buyer nickname" in html
    assert 'id="map_buyer_nick-error"' in html and "data-outcome" not in html
    token = token_of(html)
    form = {"token": token, "map_order_no": "订单号", "map_buyer_nick": "旺旺名", "map_kind": "售后类型", "map_shop": "店铺"}
    # preview with the mapping, through htmx: only the preview region comes back
    response = client.post_form("/cases/import/mapping", {**form, "preview": "1"}, headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert 'id="import-preview"' in html and "<html" not in html
    assert outcomes(html) == [(2, "create")]
    with app.app_context():
        assert db.session.get(ImportMapping, ("cases", "tmall")) is None  # not saved yet
    # save it for the platform
    html = client.post_form("/cases/import/mapping", {**form, "save": "1"}).get_data(as_text=True)
    assert "Column mapping saved for Tmall." in html
    with app.app_context():
        assert db.session.get(ImportMapping, ("cases", "tmall")).mapping == {"buyer_nick": "旺旺名"}
        assert db.session.scalar(sa.select(TimelineEvent).where(TimelineEvent.action == "mapping_saved")).actor.username == "agent"
    # the next Tmall file with that column maps without editing; the upload page shows the saved mapping
    html = upload(client, csv_bytes([["订单号", "旺旺名", "售后类型", "店铺"], ["1002", "小周", "换货", "测试天猫店"]])).get_data(as_text=True)
    assert outcomes(html) == [(2, "create")]
    page = client.get("/cases/import/?platform=tmall", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'id="saved-mapping"' in page and "旺旺名" in page and "<html" not in page
    # another platform has no saved mapping
    assert "No saved mapping" in client.get("/cases/import/?platform=jd_pop").get_data(as_text=True)
    # and it can be forgotten
    client.post_form("/cases/import/mapping/forget", {"platform": "tmall"})
    with app.app_context():
        assert db.session.get(ImportMapping, ("cases", "tmall")) is None


def test_confirm_plans_again(app, login_as, make_case):
    client = in_english(login_as("agent"))
    html = upload(client, csv_bytes([GOOD_HEADER, GOOD_ROWS[0]])).get_data(as_text=True)
    assert outcomes(html) == [(2, "create")]
    # meanwhile a colleague enters the same refund by hand
    make_case(order_no="1001", kind="refund_only", platform_case_id="R1", buyer_nick="小林")
    response = client.post_form("/cases/import/confirm", {"token": token_of(html)})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The data changed since the preview, so nothing was imported." in html
    assert outcomes(html) == [(2, "update")]  # what the file would do now: update the colleague's case
    with app.app_context():
        assert case_count() == 1
    # confirming the new preview applies it
    response = client.post_form("/cases/import/confirm", {"token": token_of(html)})
    assert response.status_code == 302
    with app.app_context():
        case = db.session.scalar(sa.select(Case))
        assert case_count() == 1 and case.refund_amount == Decimal("12.50") and case.summary == "外箱压坏"


def test_the_same_file_twice_through_the_views(app, login_as):
    client = in_english(login_as("agent"))
    data = csv_bytes([GOOD_HEADER, *GOOD_ROWS])
    client.post_form("/cases/import/confirm", {"token": token_of(upload(client, data).get_data(as_text=True))})
    html = upload(client, data).get_data(as_text=True)
    assert outcomes(html) == [(2, "unchanged"), (3, "unchanged")]
    assert "Nothing to import" in html and "/cases/import/confirm" not in html
    page = client.get("/cases/import/").get_data(as_text=True)
    assert "Recent imports" in page and "<td>tmall-refunds.csv</td>" in page


def test_an_upload_belongs_to_its_uploader_and_expires(app, login_as, client):
    in_english(login_as("agent"))
    token = token_of(upload(client, csv_bytes([GOOD_HEADER, *GOOD_ROWS])).get_data(as_text=True))
    client.post_form("/auth/logout")
    in_english(login_as("agent2"))
    response = client.post_form("/cases/import/confirm", {"token": token}, follow_redirects=True)
    assert "expired or was already imported" in response.get_data(as_text=True)
    client.post_form("/auth/logout")
    in_english(login_as("agent"))
    app.config["CLOCK_OFFSET"] = timedelta(days=1, minutes=1)
    response = client.post_form("/cases/import/confirm", {"token": token}, follow_redirects=True)
    assert "expired or was already imported" in response.get_data(as_text=True)
    folder = Path(app.config["IMPORT_DIR"])
    assert (folder / token).exists()
    upload(client, csv_bytes([GOOD_HEADER, *GOOD_ROWS]))  # the next upload sweeps day-old files away
    assert not (folder / token).exists() and not (folder / f"{token}.json").exists()
    with app.app_context():
        assert case_count() == 0


def test_stored_uploads_are_private_files(app, login_as):
    client = login_as("agent")
    token = token_of(upload(client, csv_bytes([GOOD_HEADER, *GOOD_ROWS])).get_data(as_text=True))
    folder = Path(app.config["IMPORT_DIR"])
    assert oct((folder / token).stat().st_mode)[-3:] == "600"
    with app.app_context():
        meta = spreadsheets.UploadStore(folder).meta(token, user_named("agent").id, utcnow())
    assert meta["filename"] == "tmall-refunds.csv" and meta["platform"] == "tmall" and len(meta["sha256"]) == 64


def test_tokens_cannot_name_other_files(tmp_path):
    store = spreadsheets.UploadStore(tmp_path)
    for token in ("../../etc/passwd", "a" * 31, "", None):
        with pytest.raises(spreadsheets.UploadNotFound):
            store.load(token, 1, NOW)


def test_csv_template(login_as):
    client = login_as("agent")
    response = client.get("/cases/import/template.csv")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    assert response.data.startswith(b"\xef\xbb\xbf")
    table = read_table(response.data, "template.csv")
    assert table.headers == [case_import.FIELDS[name].header_zh for name in case_import.TEMPLATE_FIELDS]
    assert table.headers[:4] == ["订单号", "售后单号", "买家昵称", "手机号"]
    plan = make_plan(table=table)
    assert plan.warnings == [] and plan.columns.missing == []
    # the example row is fake: refused as is (no such shop), fine with a real shop
    assert plan.rows[0].action == "refused" and "no shop named" in plan.rows[0].reasons[0]
    cells = dict(zip(table.headers, table.rows[0][1], strict=True))
    cells["店铺"], cells["申请时间"], cells["超时时间"] = "测试天猫店", "2026-11-20 10:30", "2026-11-22 10:30"
    assert make_plan([list(cells.values())], table.headers).rows[0].action == "create"


def test_xlsx_template(login_as):
    client = login_as("agent")
    response = client.get("/cases/import/template.xlsx")
    assert response.status_code == 200
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    assert workbook.sheetnames == ["售后单", "说明"]
    assert [cell.value for cell in workbook["售后单"][1]][:3] == ["订单号", "售后单号", "买家昵称"]
    assert workbook["售后单"].data_validations.dataValidation  # the drop-down lists
    assert workbook["说明"].max_row == 1 + len(case_import.TEMPLATE_FIELDS)
    table = read_table(response.data, "template.xlsx")
    assert make_plan(table=table).columns.missing == []


ROWS_WITHOUT_CASE_NUMBERS = [[f"30{n:03d}", f"买家{n}", "仅退款", "测试天猫店"] for n in range(40)]


def test_one_preview_confirmed_from_two_threads_imports_each_row_once(app, login_as):
    """A double click, or two servers: one confirmation imports, the other is told so; never a 500."""
    client = in_english(login_as("agent"))
    token = token_of(upload(client, csv_bytes([HEADER, *ROWS_WITHOUT_CASE_NUMBERS])).get_data(as_text=True))
    second = app.test_client()
    with client.session_transaction() as session, second.session_transaction() as copy:
        copy.update(dict(session))  # the same person, the same browser session, two requests at once
    barrier, answers = threading.Barrier(2), []

    def confirm(each):
        barrier.wait()
        answers.append(each.post_form("/cases/import/confirm", {"token": token}, follow_redirects=True))

    threads = [threading.Thread(target=confirm, args=(each,)) for each in (client, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [200, 200]
    texts = " ".join(answer.get_data(as_text=True) for answer in answers)
    assert "40 created, 0 updated, 0 unchanged." in texts
    assert "This file is being imported right now" in texts or "This file was imported already" in texts
    with app.app_context():
        assert case_count() == 40
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEvent).where(TimelineEvent.action == "imported")) == 1


def test_two_previews_of_the_same_rows_cannot_both_create_them(app, login_as):
    """Rows without a platform case number: the natural key's unique index refuses the second import."""
    first = in_english(login_as("agent"))
    rows = csv_bytes([HEADER, *ROWS_WITHOUT_CASE_NUMBERS[:5]])
    token_a = token_of(upload(first, rows).get_data(as_text=True))
    token_b = token_of(upload(first, rows).get_data(as_text=True))  # previewed before either was confirmed
    assert first.post_form("/cases/import/confirm", {"token": token_a}).status_code == 302
    response = first.post_form("/cases/import/confirm", {"token": token_b})
    html = response.get_data(as_text=True)
    assert response.status_code == 200  # the new preview, not an error page
    assert "changed since the preview" in html or "Someone changed the same cases" in html
    with app.app_context():
        assert case_count() == 5
        # and under the preview check, the database itself: the same key cannot be stored twice
        case = db.session.scalar(sa.select(Case).limit(1))
        db.session.add(Case(shop_id=case.shop_id, platform=case.platform, order_no=case.order_no, buyer_nick="x",
                            kind=case.kind, category="other", pauses=[]))
        with pytest.raises(sa.exc.IntegrityError):
            db.session.flush()
        db.session.rollback()
