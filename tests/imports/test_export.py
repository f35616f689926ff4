"""Case export: CSV with BOM and XLSX, our column names, labels, local times, masked phones, formula neutralising."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

import spreadsheets
from cases import importing as case_import
from models import PERMISSIONS, Shop, TimelineEvent, db
from tests.conftest import in_english

RECEIVED = datetime(2026, 11, 20, 6, 3, tzinfo=UTC)  # 14:03 in Shanghai




def read_csv(response) -> list[list[str]]:
    assert response.data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"), newline="")))


def as_dicts(rows) -> list[dict]:
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def test_csv_has_a_bom_our_chinese_column_names_and_labels(login_as, make_case):
    make_case(order_no="20261120001", kind="return_refund", category="damaged_on_arrival", received_at=RECEIVED,
              refund_amount=Decimal("12.5"), flag="red", flag_note="催仓库")
    response = login_as("agent").get("/cases/export.csv")
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    assert 'attachment; filename="cases-' in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0][:7] == ["工单号", "平台", "店铺", "售后单号", "订单号", "买家昵称", "手机号"]
    assert {"售后类型", "问题类型", "优先级", "状态", "退款金额", "申请时间", "超时时间"} <= set(rows[0])
    [case] = as_dicts(rows)
    assert case["订单号"] == "20261120001" and case["店铺"] == "测试天猫店"
    assert case["申请时间"] == "2026-11-20 14:03"  # Asia/Shanghai
    assert case["退款金额"] == "12.50" and case["订单金额"] == "199.00"
    assert case["插旗备注"] == "催仓库"


def test_english_users_get_english_headers_and_labels(login_as, make_case):
    make_case(kind="return_refund", category="damaged_on_arrival", priority=1, flag="red", received_at=RECEIVED)
    client = in_english(login_as("agent"))
    [case] = as_dicts(read_csv(client.get("/cases/export.csv")))
    assert case["Order no."].startswith("T")
    assert case["Case kind"] == "Return and refund"  # a label, not the key return_refund
    assert case["Problem category"] == "Damaged or scratched on arrival"
    assert case["Priority"] == "P1 high" and case["Flag"] == "Red" and case["State"] == "New"
    assert case["Platform"] == "Tmall" and case["Received at"] == "2026-11-20 14:03"


def test_phones_are_masked_by_default(app, login_as, make_case):
    make_case(buyer_phone="13812345678")
    [case] = as_dicts(read_csv(login_as("agent").get("/cases/export.csv")))
    assert case["手机号"] == "138****5678"
    with app.app_context():
        assert db.session.scalar(sa.select(TimelineEvent).where(TimelineEvent.action == "phones_exported")) is None


def test_full_phones_only_when_asked_with_a_reason_and_recorded(app, login_as, make_case):
    make_case(buyer_phone="13812345678")
    make_case(buyer_phone=None)
    client = login_as("lead")
    # A GET never writes, so it never exports full numbers, whatever it asks.
    assert [case["手机号"] for case in as_dicts(read_csv(client.get("/cases/export.csv?phones=full"))) if case["手机号"]] == ["138****5678"]
    cases = as_dicts(read_csv(client.post_form("/cases/export.csv", {"reason": "核对退款回访名单", "platform": "tmall"})))
    assert sorted(case["手机号"] for case in cases) == ["", "13812345678"]
    with app.app_context():
        [event] = db.session.scalars(sa.select(TimelineEvent).where(TimelineEvent.action == "phones_exported")).all()
        assert event.actor.username == "lead" and event.subject_type == "export"
        assert event.detail == {"count": 1, "format": "csv", "filter": {"platform": "tmall"}, "reason": "核对退款回访名单"}
    workbook = openpyxl.load_workbook(io.BytesIO(client.post_form("/cases/export.xlsx", {"reason": "回访"}).data))
    assert "13812345678" in [cell.value for row in workbook.active.iter_rows() for cell in row]


@pytest.mark.parametrize("reason,message", [
    (None, "Say why you need the full numbers."), ("", "Say why you need the full numbers."),
    ("   ", "Say why you need the full numbers."), ("a", "Between 2 and 200 characters."),
    ("长" * 201, "Between 2 and 200 characters."),
])
def test_full_phones_need_a_reason_of_2_to_200_characters(app, login_as, make_case, reason, message):
    make_case(buyer_phone="13812345678")
    client = in_english(login_as("lead"))
    data = {"back": "/cases/?platform=tmall"} | ({} if reason is None else {"reason": reason})
    response = client.post_form("/cases/export.xlsx", data)
    assert response.status_code == 302 and response.headers["Location"] == "/cases/?platform=tmall"  # no file
    assert f"Why you need the full numbers: {message}" in client.get("/cases/").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(TimelineEvent).where(TimelineEvent.action == "phones_exported")) is None


@pytest.mark.parametrize("role", sorted(role for role in PERMISSIONS["work_cases"] | {"admin"}
                                         if role not in PERMISSIONS["export_phones"]))
def test_roles_without_export_phones_cannot_export_full_numbers(app, login_as, make_case, role):
    """Agents may reveal one number on a case, but a forged POST for a file of full numbers is refused."""
    assert role in ("agent", "reviewer", "admin")
    make_case(buyer_phone="13812345678")
    client = login_as(role)
    for path in ("/cases/export.csv", "/cases/export.xlsx"):
        response = client.post_form(path, {"phones": "full", "reason": "我要全部号码"})
        assert response.status_code == 403
        assert response.mimetype == "text/html" and "13812345678" not in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(TimelineEvent).where(TimelineEvent.action == "phones_exported")) is None
    if role != "admin":  # masked exports stay open to those who may export
        [case] = as_dicts(read_csv(client.get("/cases/export.csv")))
        assert case["手机号"] == "138****5678"


FORMULAS = ["=HYPERLINK(\"http://example.test\",\"点我\")", "+86 说明", "-坏了", "@SUM(A1)", "\t=1+1", "\r=1+1"]


def test_csv_neutralises_formulas(login_as, make_case):
    make_case(buyer_nick=FORMULAS[0], summary=FORMULAS[1], flag_note=FORMULAS[2], order_no="@1", cause=FORMULAS[3])
    [case] = as_dicts(read_csv(login_as("agent").get("/cases/export.csv")))
    assert case["买家昵称"] == "'" + FORMULAS[0]
    assert case["问题描述"] == "'+86 说明" and case["插旗备注"] == "'-坏了" and case["订单号"] == "'@1"
    assert case["问题原因"] == "'@SUM(A1)"


@pytest.mark.parametrize("text", FORMULAS)
def test_neutralise(text):
    assert spreadsheets.neutralise(text) == "'" + text
    assert spreadsheets.csv_cell(text) == "'" + text


def test_neutralise_leaves_ordinary_text_and_numbers():
    assert spreadsheets.neutralise("正常的说明 = 没问题") == "正常的说明 = 没问题"
    assert spreadsheets.csv_cell(Decimal("0")) == "0.00"
    assert spreadsheets.csv_cell(datetime(2026, 11, 20, 14, 3)) == "2026-11-20 14:03"
    assert spreadsheets.csv_cell(12) == "12" and spreadsheets.csv_cell(None) == ""


def test_xlsx_opens_with_typed_cells_and_plain_strings(login_as, make_case):
    make_case(buyer_nick=FORMULAS[0], summary="=1+1", received_at=RECEIVED, refund_amount=Decimal("12.50"),
              buyer_phone="13812345678")
    response = login_as("agent").get("/cases/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype == spreadsheets.MIME_XLSX
    assert 'filename=cases-' in response.headers["Content-Disposition"]
    workbook = openpyxl.load_workbook(io.BytesIO(response.data))
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    assert header[:5] == ["工单号", "平台", "店铺", "售后单号", "订单号"]
    cells = {title: cell for title, cell in zip(header, sheet[2], strict=True)}
    # Strings, and neutralised as in the CSV: re-saved as CSV they stay inert too.
    assert cells["买家昵称"].value == "'" + FORMULAS[0] and cells["买家昵称"].data_type == "s"
    assert cells["问题描述"].value == "'=1+1" and cells["问题描述"].data_type == "s"
    assert cells["申请时间"].value == datetime(2026, 11, 20, 14, 3)
    assert cells["退款金额"].value == 12.5 and cells["退款金额"].number_format == "0.00"
    assert cells["手机号"].value == "138****5678"
    assert sheet.max_row == 2
    # data_only reading, as a spreadsheet would show it, finds no formula either
    values = openpyxl.load_workbook(io.BytesIO(response.data), data_only=True).active
    assert values.cell(2, header.index("问题描述") + 1).value == "'=1+1"


def test_the_board_filter_is_honoured(login_as, make_case):
    make_case(order_no="A-1", kind="refund_only")
    make_case(order_no="A-2", kind="exchange")
    make_case(order_no="B-1", kind="refund_only", shop="测试京东店")
    client = login_as("agent")

    def orders(query):
        return sorted(case["订单号"] for case in as_dicts(read_csv(client.get(f"/cases/export.csv{query}"))))

    assert orders("") == ["A-1", "A-2", "B-1"]
    assert orders("?kind=refund_only") == ["A-1", "B-1"]
    assert orders("?platform=jd_pop") == ["B-1"]
    assert orders("?q=A-") == ["A-1", "A-2"]
    assert orders("?kind=refund_only&platform=tmall") == ["A-1"]
    assert orders("?kind=nonsense") == ["A-1", "A-2", "B-1"]  # unknown values are ignored, as on the board
    workbook = openpyxl.load_workbook(io.BytesIO(client.get("/cases/export.xlsx?kind=exchange").data))
    assert [row[4] for row in workbook.active.iter_rows(min_row=2, values_only=True)] == ["A-2"]


def test_scope_mine_uses_the_current_user(login_as, make_case):
    make_case(order_no="MINE", assignee="agent")
    make_case(order_no="THEIRS", assignee="agent2")
    rows = as_dicts(read_csv(login_as("agent").get("/cases/export.csv?scope=mine")))
    assert [case["订单号"] for case in rows] == ["MINE"]
    assert rows[0]["处理人"] == "agent name"


def test_an_export_imports_again_unchanged(app, login_as, make_case):
    """Our column names, labels and neutralising are read back by the importer: nothing changes."""
    make_case(order_no="RT-1", kind="return_refund", category="size_differs", priority=0, flag="purple",
              flag_note="=注意", summary="+加急", received_at=RECEIVED, platform_case_id="R-1")
    make_case(order_no="RT-2", kind="inquiry", received_at=RECEIVED)
    client = login_as("agent")
    for fmt in ("csv", "xlsx"):
        data = client.get(f"/cases/export.{fmt}").data
        table = spreadsheets.read_table(data, f"export.{fmt}")
        with app.test_request_context():
            shops = db.session.scalars(sa.select(Shop)).all()
            plan = case_import.plan_import(table, platform="tmall", shops=shops, now=RECEIVED.replace(day=22),
                                           zone=app.config["SHOP_TZ"])
            assert plan.counts == {"create": 0, "update": 0, "unchanged": 2, "refused": 0}, [r.reasons for r in plan.rows]
            # the masked phones are read as masked: noted, not imported
            assert all("*" in row.cells["buyer_phone"] and "buyer_phone" not in row.values and row.notes for row in plan.rows)


def test_export_of_many_cases_streams_in_chunks(login_as, make_case):
    for number in range(5):
        make_case(order_no=f"N-{number}")
    response = login_as("agent").get("/cases/export.csv")
    assert len(read_csv(response)) == 6
    chunks = list(spreadsheets.csv_chunks([["a"]] * 450, chunk_rows=200))
    assert len(chunks) == 3 and chunks[0].startswith("\ufeff") and "".join(chunks).count("\r\n") == 450


def test_an_empty_export_still_has_its_header(login_as):
    rows = read_csv(login_as("agent").get("/cases/export.csv"))
    assert len(rows) == 1 and rows[0][0] == "工单号"
    workbook = openpyxl.load_workbook(io.BytesIO(login_as("agent").get("/cases/export.xlsx").data))
    assert workbook.active.max_row == 1


def test_who_may_export(login_as, auth):
    response = login_as("reviewer").get("/cases/export.csv")
    assert response.status_code == 200 and read_csv(response)  # reading it ends the stream
    auth.logout()
    client = login_as("admin")  # administrators do not work cases
    assert client.get("/cases/export.csv").status_code == 403
    assert client.get("/cases/export.xlsx").status_code == 403


def test_export_links_offer_full_numbers_only_to_those_who_may_export_them(login_as, auth):
    html = login_as("agent").get("/cases/import/").get_data(as_text=True)
    assert "/cases/export.csv" in html and "/cases/export.xlsx" in html
    assert 'action="/cases/export.xlsx"' not in html and 'name="reason"' not in html
    assert 'name="reason"' not in login_as("agent").get("/cases/").get_data(as_text=True)
    auth.logout()
    for page in ("/cases/import/", "/cases/?platform=tmall"):
        html = login_as("lead").get(page).get_data(as_text=True)
        # full numbers: a recorded POST with the filter and a required reason
        assert '<form method="post" action="/cases/export.xlsx"' in html
        assert re.search(r'<input id="phone-export-reason" name="reason" required minlength="2" maxlength="200">', html)
    assert '<input type="hidden" name="platform" value="tmall">' in html
