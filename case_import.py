"""Importing a marketplace's after-sales export: read the file, plan every row, apply all or nothing.

Plain functions with no request in them. The flow a view follows:

    table = read_table(data, filename)                     # CSV or XLSX -> headers and rows
    plan = plan_import(table, platform=..., shops=..., now=..., zone=...)
    if plan.ready:
        apply_import(plan, actor, rules, now, source={...})  # then commit: one transaction

Row numbers are the ones the user sees in Excel (the header is row 1). Every refusal
says why in plain words; one refused row means nothing is imported. A row's key is
(platform, platform case id) when it has one, else (platform, order number, kind):
importing the same file twice creates and changes nothing the second time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import secrets
import unicodedata
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, has_app_context, has_request_context
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

import caseflow
from models import CASE_CATEGORIES, CASE_KINDS, FLAGS, PRIORITIES, Case, Shop, User, db, record

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # an XLSX is a zip: refuse one that unpacks into something huge
MAX_BLANK_RUN = 1_000  # this many empty rows in a row end an XLSX sheet (formatted but empty rows)
MAX_AMOUNT = Decimal("1000000")
CENT = Decimal("0.01")
EARLIEST = datetime(2000, 1, 1)
FUTURE_SLACK = timedelta(days=1)        # clocks differ; a request "from tomorrow" is a typo
DEADLINE_HORIZON = timedelta(days=366)
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")
REQUIRED = ("order_no", "buyer_nick", "kind", "shop")


class ImportFileError(Exception):
    """The file as a whole cannot be imported; the message tells the user why."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


# --- our fields and the column names that mean them ------------------------------------

@dataclass(frozen=True)
class FieldSpec:
    name: str
    header_zh: str          # our column name: the template's header and the Chinese export's
    label: object           # English msgid (lazy), for English users
    aliases: tuple          # other column names the platforms use; matched loosely (see normalise)


FIELDS: dict[str, FieldSpec] = {spec.name: spec for spec in (
    FieldSpec("order_no", "订单号", _l("Order no."),
              ("订单编号", "订单ID", "主订单编号", "主订单号", "原始订单号", "京东订单号", "订单", "order_no", "order no", "order id")),
    FieldSpec("platform_case_id", "售后单号", _l("Platform case no."),
              ("退款编号", "售后编号", "服务单号", "服务单编号", "退款单号", "售后单ID", "售后ID", "退款ID", "退款单编号",
               "platform_case_id", "refund id", "case id")),
    FieldSpec("buyer_nick", "买家昵称", _l("Buyer nickname"),
              ("买家会员名", "用户昵称", "买家账号", "买家用户名", "客户昵称", "用户账号", "用户名", "买家", "buyer_nick", "buyer")),
    FieldSpec("buyer_phone", "手机号", _l("Buyer phone"),
              ("联系电话", "收货人手机", "收货人电话", "收货人手机号", "买家手机号", "手机", "联系手机", "联系方式", "buyer_phone", "phone")),
    FieldSpec("kind", "售后类型", _l("Case kind"),
              ("退款类型", "服务类型", "售后方式", "工单类型", "申请类型", "kind", "type")),
    FieldSpec("category", "问题类型", _l("Problem category"),
              ("问题分类", "问题类别", "category")),
    FieldSpec("priority", "优先级", _l("Priority"),
              ("紧急程度", "紧急度", "priority")),
    FieldSpec("order_amount", "订单金额", _l("Order amount"),
              ("实付金额", "买家实付", "实付款", "订单实付金额", "支付金额", "order_amount")),
    FieldSpec("refund_amount", "退款金额", _l("Refund amount"),
              ("申请退款金额", "退款申请金额", "买家申请退款金额", "refund_amount")),
    FieldSpec("received_at", "申请时间", _l("Received at"),
              ("创建时间", "退款申请时间", "售后申请时间", "申请日期", "发起时间", "提交时间", "received_at")),
    FieldSpec("platform_deadline_at", "超时时间", _l("Platform deadline"),
              ("平台处理截止时间", "处理截止时间", "截止时间", "超时截止时间", "platform_deadline_at", "deadline")),
    FieldSpec("summary", "问题描述", _l("Summary"),
              ("退款说明", "申请说明", "问题说明", "退款原因", "售后原因", "申请原因", "买家留言", "备注", "summary")),
    FieldSpec("flag", "旗帜", _l("Flag"),
              ("插旗", "旗帜颜色", "卖家旗帜", "flag")),
    FieldSpec("flag_note", "插旗备注", _l("Flag note"),
              ("卖家备注", "旗帜备注", "商家备注", "flag_note")),
    FieldSpec("shop", "店铺", _l("Shop"),
              ("店铺名称", "店铺名", "店铺名字", "shop")),
)}

TEMPLATE_FIELDS = tuple(FIELDS)
# One example row for the template: clearly fake, and refused if imported unchanged (no such shop).
TEMPLATE_EXAMPLE = {
    "order_no": "示例-0000000001",
    "platform_case_id": "示例-售后-0001",
    "buyer_nick": "示例买家（请删除本行）",
    "buyer_phone": "13800000000",
    "kind": "退货退款",
    "category": "到货破损",
    "priority": "P1",
    "order_amount": "199.00",
    "refund_amount": "199.00",
    "received_at": "2026-01-05 10:30",
    "platform_deadline_at": "2026-01-07 10:30",
    "summary": "示例：外箱压坏，机身右侧有划痕（虚构数据）",
    "flag": "红",
    "flag_note": "示例备注",
    "shop": "示例店铺（改为你的店铺名称）",
}

# Chinese names of our kinds and categories as the marketplaces and agents write them.
# The zh catalogue's labels are accepted too; this table does not depend on its wording.
KIND_SYNONYMS = {
    "refund_only": ("仅退款", "退款", "未发货仅退款", "已发货仅退款", "未收到货仅退款", "退款不退货"),
    "return_refund": ("退货退款", "退货", "退货退款申请"),
    "exchange": ("换货", "换新"),
    "reship": ("补发", "补寄", "补发商品", "补发配件"),
    "compensation": ("补偿", "赔偿", "赔付", "补差价", "仅补偿"),
    "install_repair": ("安装/维修", "安装维修", "安装", "维修", "上门安装", "返修"),
    "complaint": ("投诉", "维权", "投诉维权"),
    "dispute": ("平台纠纷", "纠纷", "平台介入", "小二介入", "仲裁"),
    "inquiry": ("咨询", "售前咨询", "问询", "催发货"),
}
CATEGORY_SYNONYMS = {
    "install": ("安装/拆卸", "安装拆卸", "安装", "拆卸", "移机", "安装问题"),
    "missing_whole": ("少件:整机", "少件-整机", "漏发整机", "整机漏发", "少发整件", "漏发"),
    "missing_accessory": ("少件:配件", "少件-配件", "少配件", "漏发配件", "缺配件", "配件缺失", "少件"),
    "extra_item": ("多发", "多发货", "多发商品"),
    "wrong_whole": ("错发:整机", "错发-整机", "错发整机", "发错货", "错发"),
    "wrong_accessory": ("错发:配件", "错发-配件", "错发配件", "配件发错"),
    "damaged_on_arrival": ("到货破损", "到货损坏", "破损", "到货划痕", "外观破损", "磕碰", "运输破损"),
    "fault_in_use": ("使用中划痕/故障", "使用故障", "故障", "质量问题", "使用中划痕"),
    "size_differs": ("尺寸不符", "尺寸与页面不符", "大小不符", "尺码不符"),
    "function_not_expected": ("功能不符", "功能与预期不符", "效果不好", "描述不符", "与描述不符"),
    "service": ("服务体验", "服务态度", "服务问题"),
    "logistics": ("物流", "物流问题", "快递问题", "物流延迟", "物流停滞", "快递丢件", "未收到货"),
    "bad_review_threat": ("差评威胁", "威胁差评"),
    "seven_day_return": ("7天无理由", "七天无理由", "7天无理由退货", "七天无理由退货", "七天无理由退换货", "不想要了"),
    "payment_refund": ("付款/退款未到账", "退款未到账", "付款问题", "未收到退款"),
    "platform_dispute": ("平台介入纠纷", "平台介入", "小二介入", "纠纷"),
    "other": ("其他", "其它"),
}
PRIORITY_SYNONYMS = {
    0: ("P0", "紧急", "特急", "urgent"),
    1: ("P1", "高", "重要", "high"),
    2: ("P2", "普通", "一般", "中", "normal"),
    3: ("P3", "低", "low"),
}
FLAG_SYNONYMS = {
    "red": ("红", "红旗", "红色"),
    "yellow": ("黄", "黄旗", "黄色"),
    "green": ("绿", "绿旗", "绿色"),
    "blue": ("蓝", "蓝旗", "蓝色"),
    "purple": ("紫", "紫旗", "紫色"),
}
NO_FLAG = ("无", "灰", "灰旗", "none", "no flag")  # the back office's grey flag means no flag


def normalise(text) -> str:
    """Loose form for matching names: full-width to ASCII, case folded, no spaces, _ or -, no '(元)' or '*'."""
    text = unicodedata.normalize("NFKC", str(text)).casefold().strip()
    text = text.replace("(元)", "").replace("*", "")
    return re.sub(r"[\s_\-]+", "", text)


def _label_variants(label) -> set[str]:
    """A lazy label's English msgid and, inside the app, its text in each of the app's languages."""
    variants = {str(getattr(label, "_args", (label,))[0])}
    if has_app_context():
        for language in current_app.config.get("LANGUAGES", ("zh", "en")):
            with force_locale(language):
                variants.add(str(label))
    return variants


def field_title(name: str) -> str:
    """What a person calls one of our columns: the Chinese name in Chinese, the translated label otherwise."""
    spec = FIELDS[name]
    return spec.header_zh if speaks_chinese() else str(spec.label)


def speaks_chinese() -> bool:
    """Whether the current request is in Chinese (our column names are Chinese; labels are translated)."""
    if not has_request_context():
        return False
    locale = get_locale()
    return locale is not None and locale.language == "zh"


def header_aliases() -> dict[str, tuple[str, ...]]:
    """Every column name recognised for each field, our own name first."""
    result = {}
    for name, spec in FIELDS.items():
        names = [spec.header_zh, *spec.aliases]
        names += sorted(_label_variants(spec.label) - set(names))
        result[name] = tuple(names)
    return result


def _lookup(labels: dict, synonyms: dict, extra: Iterable[tuple[str, object]] = ()) -> dict:
    table = {}
    for key, label in labels.items():
        for text in (str(key), *_label_variants(label), *synonyms.get(key, ())):
            table.setdefault(normalise(text), key)
    for text, key in extra:
        table.setdefault(normalise(text), key)
    return table


@dataclass
class Vocabulary:
    """Accepted cell values of the choice fields, normalised text -> our key."""

    kinds: dict
    categories: dict
    priorities: dict
    flags: dict

    @classmethod
    def build(cls) -> Vocabulary:
        priority_extra = [(str(p), p) for p in PRIORITIES] + [(f"P{p}", p) for p in PRIORITIES]
        priority_extra += [(text, p) for p, texts in PRIORITY_SYNONYMS.items() for text in texts]
        flag_extra = [(text, None) for text in NO_FLAG]
        return cls(
            kinds=_lookup(CASE_KINDS, KIND_SYNONYMS),
            categories=_lookup(CASE_CATEGORIES, CATEGORY_SYNONYMS),
            priorities=_lookup(PRIORITIES, {}, priority_extra),
            flags=_lookup(FLAGS, FLAG_SYNONYMS, flag_extra),
        )


# --- reading the file -----------------------------------------------------------------

@dataclass
class ImportTable:
    """The file's header and its non-empty data rows, as (row number in Excel, cells)."""

    filename: str
    file_format: str                  # "csv" or "xlsx"
    encoding: str | None              # for CSV: "UTF-8", "UTF-8 with BOM", "GB18030", "UTF-16"
    headers: list[str]
    rows: list[tuple[int, list]]
    notes: list[str] = field(default_factory=list)


def size_text(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def read_table(data: bytes, filename: str = "", *, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS) -> ImportTable:
    """Read a CSV (UTF-8 with or without BOM, GBK/GB18030, UTF-16) or a real XLSX, or raise ImportFileError."""
    if not data:
        raise ImportFileError(_l("The file is empty."))
    if len(data) > max_bytes:
        raise ImportFileError(_l("The file is %(size)s; the limit is %(limit)s. Split it into smaller files.",
                                 size=size_text(len(data)), limit=size_text(max_bytes)))
    named_xlsx = filename.lower().endswith(".xlsx")
    if data.startswith(b"PK\x03\x04"):
        headers, rows, notes = _read_xlsx(data, max_rows)
        file_format, encoding = "xlsx", None
    elif data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportFileError(_l("This is an old Excel 97-2003 (.xls) or password-protected workbook. "
                                 "Save it as .xlsx or CSV, without a password, and upload that."))
    elif named_xlsx:
        raise ImportFileError(_l("This file is named .xlsx but is not an Excel workbook. "
                                 "Upload the file as the platform exported it, or save it from Excel as .xlsx or CSV."))
    else:
        text, encoding = _decode(data)
        headers, rows, notes = _read_csv(text, max_rows)
        file_format = "csv"
    if not any(headers):
        raise ImportFileError(_l("The file is empty."))
    if not rows:
        raise ImportFileError(_l("The file has a header row but no data rows."))
    return ImportTable(filename, file_format, encoding, headers, rows, notes)


def _decode(data: bytes) -> tuple[str, str]:
    attempts = [("utf-16", "UTF-16")] if data.startswith((b"\xff\xfe", b"\xfe\xff")) else []  # Excel's "Unicode text"
    # GBK is a subset of GB18030, which is what Chinese Excel writes
    attempts += [("utf-8-sig", "UTF-8 with BOM" if data.startswith(b"\xef\xbb\xbf") else "UTF-8"), ("gb18030", "GB18030")]
    for codec, name in attempts:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        sample = text[:8192]
        if len(_CONTROL.findall(sample)) > max(2, len(sample) // 100):  # bytes that decode by chance: not text
            break
        return text, name
    raise ImportFileError(_l("This file is neither a CSV text file nor an Excel .xlsx workbook."))


def _delimiter(first_line: str) -> str:
    counts = {sep: first_line.count(sep) for sep in (",", "\t", ";")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _unescape_cell(value: str) -> str:
    """Undo the apostrophe our CSV export puts before a formula-looking cell, so an export re-imports."""
    if len(value) > 1 and value[0] == "'" and value[1] in "=+-@\t\r":
        return value[1:]
    return value


def _read_csv(text: str, max_rows: int):
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text.split("\n", 1)[0]))
    headers, rows = None, []
    try:
        for number, record_ in enumerate(reader, start=1):
            cells = [_unescape_cell(cell) for cell in record_]
            if not any(cell.strip() for cell in cells):
                continue
            if headers is None:
                headers = [cell.strip() for cell in cells]
                continue
            rows.append((number, cells))
            if len(rows) > max_rows:
                raise ImportFileError(_too_many_rows(max_rows))
    except csv.Error as error:
        raise ImportFileError(_l("The CSV file cannot be read near row %(row)s: %(error)s",
                                 row=reader.line_num, error=str(error))) from None
    return headers or [], rows, []


def _too_many_rows(max_rows: int):
    return _l("The file has more than %(limit)s data rows. Split it into smaller files.", limit=f"{max_rows:,}")


def _read_xlsx(data: bytes, max_rows: int):
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if "xl/workbook.xml" not in {member.filename for member in members}:
                raise ImportFileError(_l("This zip file is not an Excel .xlsx workbook."))
            if sum(member.file_size for member in members) > MAX_UNPACKED_BYTES:
                raise ImportFileError(_l("This workbook is too large once unpacked. Split it into smaller files."))
    except zipfile.BadZipFile:
        raise ImportFileError(_l("This Excel file is damaged or incomplete. Save it again and upload it.")) from None
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a broken workbook
        raise ImportFileError(_l("This Excel file is damaged or incomplete. Save it again and upload it.")) from None
    try:
        sheets = workbook.worksheets
        if not sheets:
            raise ImportFileError(_l("The file is empty."))
        sheet = sheets[0]
        notes = []
        if len(sheets) > 1:
            notes.append(_("Only the first sheet, “%(name)s”, was read.", name=sheet.title))
        headers, rows, blank_run = None, [], 0
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [value.strip() if isinstance(value, str) else value for value in values]
            if all(cell is None or cell == "" for cell in cells):
                blank_run += 1
                if blank_run >= MAX_BLANK_RUN:
                    break
                continue
            blank_run = 0
            if headers is None:
                headers = ["" if cell is None else _cell_text(cell).strip() for cell in cells]
                continue
            rows.append((number, cells))
            if len(rows) > max_rows:
                raise ImportFileError(_too_many_rows(max_rows))
    finally:
        workbook.close()
    return headers or [], rows, notes


# --- columns -----------------------------------------------------------------------------

@dataclass
class Columns:
    """Which column of the file feeds which of our fields."""

    index: dict[str, int]           # field -> column position
    header: dict[str, str]          # field -> the file's header text
    ignored: list[str]              # the file's headers nobody reads
    missing: list[str]              # required fields with no column
    stale: list[str]                # fields whose chosen header is not in this file (aliases used instead)


def resolve_columns(headers: list[str], mapping: dict | None = None, *, has_default_shop: bool = False) -> Columns:
    """Map the file's headers to our fields: the user's mapping first, then the known column names.

    In ``mapping`` a field set to "" is deliberately not imported; a header that is not in
    this file is reported and the known names are tried instead.
    """
    mapping = mapping or {}
    positions: dict[str, int] = {}
    for position, header in enumerate(headers):
        if header:
            positions.setdefault(normalise(header), position)
    aliases = header_aliases()
    index, stale = {}, []
    for name in FIELDS:
        chosen = mapping.get(name)
        if chosen == "":
            continue
        if chosen is not None:
            if normalise(chosen) in positions:
                index[name] = positions[normalise(chosen)]
                continue
            stale.append(name)
        for alias in aliases[name]:
            found = positions.get(normalise(alias))
            if found is not None and found not in index.values():
                index[name] = found
                break
    used = set(index.values())
    ignored = [header for position, header in enumerate(headers) if header and position not in used]
    missing = [name for name in REQUIRED if name not in index and not (name == "shop" and has_default_shop)]
    return Columns(index, {name: headers[position] for name, position in index.items()}, ignored, missing, stale)


# --- cell values ---------------------------------------------------------------------------

class CellError(ValueError):
    """One cell's value is refused; the message says why."""


MASKED = object()  # a phone number the platform masked: nothing to import
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_AMOUNT = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^\.\d+$")
_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
                   r"\s*(Z|[+-]\d{2}:?\d{2})?$")
_EXCEL_TEXT = re.compile(r'^="([A-Za-z0-9_\-]*)"$')  # ="0012345": how exports keep Excel from eating digits
_SCIENTIFIC = re.compile(r"^\d+(?:\.\d+)?[eE]\+?\d+$")


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M" if value.second == 0 and not value.microsecond else "%Y-%m-%d %H:%M:%S")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _quote(value, limit: int = 40) -> str:
    text = _cell_text(value).strip().replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_text(value, max_length: int, *, single_line: bool = True) -> tuple[str, bool]:
    """Trimmed text without control characters; returns (text, shortened)."""
    text = _CONTROL.sub("", _cell_text(value).replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"\s+", " ", text) if single_line else text
    text = text.strip()
    if len(text) > max_length:
        return text[:max_length].rstrip(), True
    return text, False


def parse_identifier(value, max_length: int = 64) -> str:
    """An order or case number: text as written, never shortened or rounded."""
    if isinstance(value, float) and (not value.is_integer() or abs(value) >= 1e15):
        raise CellError(_l("Excel stored %(value)s as a number and may have lost digits: "
                           "format the column as text and export again.", value=_quote(value)))
    text, _ = clean_text(value, 10_000)
    unwrapped = _EXCEL_TEXT.match(text)
    if unwrapped:
        text = unwrapped.group(1)
    if _SCIENTIFIC.match(text):
        raise CellError(_l("“%(value)s” was shortened by Excel to scientific notation: "
                           "format the column as text and export again.", value=text))
    if len(text) > max_length:
        raise CellError(_l("Longer than %(max)s characters.", max=max_length))
    return text


def parse_amount(value) -> Decimal:
    """Yuan with at most two decimals, from 0 to 1,000,000: '¥12.50', '12.5', '1,299.00' or a number cell."""
    if isinstance(value, bool):
        raise CellError(_l("“%(value)s” is not an amount in yuan, such as 12.50.", value=_quote(value)))
    if isinstance(value, (int, float, Decimal)):
        try:
            amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation:
            amount = Decimal("NaN")
        if not amount.is_finite():
            raise CellError(_l("“%(value)s” is not an amount in yuan, such as 12.50.", value=_quote(value)))
        if isinstance(value, float) and abs(amount - amount.quantize(CENT)) < Decimal("0.000001"):
            amount = amount.quantize(CENT)  # 0.1 + 0.2 computed by Excel
    else:
        text = unicodedata.normalize("NFKC", _cell_text(value)).strip()
        text = re.sub(r"^(?:¥|RMB|CNY)\s*", "", text, flags=re.IGNORECASE)
        text = re.sub(r"\s*元$", "", text).replace(" ", "")
        if text.startswith("-") and _AMOUNT.match(text[1:]):
            raise CellError(_l("An amount cannot be negative."))
        if not _AMOUNT.match(text):
            raise CellError(_l("“%(value)s” is not an amount in yuan, such as 12.50.", value=_quote(value)))
        amount = Decimal(text.replace(",", ""))
    if amount < 0:
        raise CellError(_l("An amount cannot be negative."))
    if amount != amount.quantize(CENT):
        raise CellError(_l("“%(value)s” has more than two decimal places.", value=_quote(value)))
    if amount > MAX_AMOUNT:
        raise CellError(_l("An amount cannot be over 1,000,000 yuan."))
    return amount.quantize(CENT)


def parse_datetime(value, zone: ZoneInfo) -> datetime:
    """A moment in aware UTC. Text and Excel cells without a zone are in the shop's zone."""
    from datetime import UTC

    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and 36526 <= value < 73051:
        from openpyxl.utils.datetime import from_excel

        moment = from_excel(value)  # a date cell without a date format: Excel's day number
    else:
        text = unicodedata.normalize("NFKC", _cell_text(value)).strip()
        text = text.replace("年", "-").replace("月", "-").replace("日", " ").strip()
        found = _DATE.match(text)
        if not found:
            raise CellError(_l("“%(value)s” is not a date and time, such as 2026-11-20 14:03.", value=_quote(value)))
        year, month, day, hour, minute, second, fraction, offset = found.groups()
        try:
            moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                              int((fraction or "0").ljust(6, "0")))
        except ValueError:
            raise CellError(_l("“%(value)s” is not a real date.", value=_quote(value))) from None
        if offset:
            moment = datetime.fromisoformat(moment.isoformat() + ("+00:00" if offset == "Z" else offset))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    if moment < EARLIEST.replace(tzinfo=zone):
        raise CellError(_l("“%(value)s” is before the year 2000.", value=_quote(value)))
    return moment.astimezone(UTC)


def parse_phone(value):
    """Digits, +, - and spaces, at most 32 characters; a number the platform masked is not imported."""
    text = unicodedata.normalize("NFKC", _cell_text(value)).strip()
    if "*" in text:
        return MASKED
    if re.search(r"[^\d+\-\s().]", text) or not re.search(r"\d", text):
        raise CellError(_l("“%(value)s” is not a phone number.", value=_quote(value)))
    phone = re.sub(r"\s+", " ", re.sub(r"[^\d+\- ]", "", text)).strip()
    if len(phone) > 32:
        raise CellError(_l("A phone number has at most 32 characters."))
    return phone


def parse_choice(value, table: dict, choices_hint: str):
    key = table.get(normalise(_cell_text(value)), KeyError)
    if key is KeyError:
        raise CellError(_l("“%(value)s” is not one of: %(choices)s.", value=_quote(value), choices=choices_hint))
    return key


# --- the plan ------------------------------------------------------------------------------

CREATE, UPDATE, UNCHANGED, REFUSED = "create", "update", "unchanged", "refused"
ACTIONS = (CREATE, UPDATE, UNCHANGED, REFUSED)
ACTION_LABELS = {CREATE: _l("Create"), UPDATE: _l("Update"), UNCHANGED: _l("Unchanged"), REFUSED: _l("Refused")}


@dataclass
class RowPlan:
    number: int                              # the row number Excel shows
    action: str = CREATE
    cells: dict = field(default_factory=dict)    # field -> the cell's text, for showing the row
    values: dict = field(default_factory=dict)   # field -> parsed value (fields with a non-empty cell)
    changes: dict = field(default_factory=dict)  # update: field -> (old, new)
    reasons: list = field(default_factory=list)  # why it is refused
    notes: list = field(default_factory=list)    # what was adjusted (a shortened text, a masked phone)
    case: Case | None = None                     # the existing case it matches

    def refuse(self, reason: str) -> None:
        self.action = REFUSED
        self.reasons.append(reason)


@dataclass
class ImportPlan:
    table: ImportTable
    platform: str
    default_shop_id: int | None
    columns: Columns
    rows: list[RowPlan]
    problems: list[str]      # the file as a whole is refused
    warnings: list[str]      # worth knowing, nothing refused
    shop_names: dict         # shop id -> name, for showing values

    @property
    def counts(self) -> dict:
        counts = dict.fromkeys(ACTIONS, 0)
        for row in self.rows:
            counts[row.action] += 1
        return counts

    @property
    def refused(self) -> list[RowPlan]:
        return [row for row in self.rows if row.action == REFUSED]

    @property
    def ready(self) -> bool:
        """All or nothing: no problem, no refused row, and something to do."""
        counts = self.counts
        return not self.problems and not counts[REFUSED] and bool(counts[CREATE] + counts[UPDATE])


def find_existing_cases(platform: str, case_ids: set[str], order_nos: set[str]) -> list[Case]:
    """The cases a file's rows may match: by platform case id, and by order number (kind checked after)."""
    found: dict[int, Case] = {}
    for column, keys in ((Case.platform_case_id, sorted(case_ids)), (Case.order_no, sorted(order_nos))):
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            for case in db.session.scalars(sa.select(Case).where(Case.platform == platform, column.in_(chunk))):
                found[case.id] = case
    return list(found.values())


def plan_import(table: ImportTable, *, platform: str, shops: Iterable[Shop], now: datetime,
                zone: ZoneInfo = DEFAULT_ZONE, default_shop_id: int | None = None, mapping: dict | None = None,
                find_existing: Callable[[str, set, set], list] | None = None) -> ImportPlan:
    """Decide, for every row, create / update / unchanged / refused, and why. Writes nothing.

    ``shops`` are all the shops (a row naming a shop of another platform is refused);
    ``find_existing`` is find_existing_cases unless a test gives another.
    """
    shops = list(shops)
    shop_names = {shop.id: shop.name for shop in shops}
    columns = resolve_columns(table.headers, mapping, has_default_shop=default_shop_id is not None)
    warnings = list(table.notes)
    if columns.ignored:
        warnings.append(_("These columns are not imported: %(names)s.", names="、".join(columns.ignored)))
    for name in columns.stale:
        warnings.append(_("The saved mapping names the column “%(header)s” for %(field)s, which this file lacks.",
                          header=(mapping or {}).get(name, ""), field=field_title(name)))
    plan = ImportPlan(table, platform, default_shop_id, columns, [], [], warnings, shop_names)
    if columns.missing:
        names = "、".join(_missing_text(name) for name in columns.missing)
        plan.problems.append(_("Required columns are missing: %(names)s. Add them to the file or choose them in the "
                               "column mapping.", names=names))
        return plan

    vocabulary = Vocabulary.build()
    context = _RowContext(platform, shops, default_shop_id, now, zone, vocabulary)
    plan.rows = [_parse_row(number, cells, columns, context) for number, cells in table.rows]
    _refuse_duplicates(plan.rows)
    find_existing = find_existing or find_existing_cases
    keyed = [row for row in plan.rows if "order_no" in row.values and "kind" in row.values]
    existing = find_existing(platform, {row.values["platform_case_id"] for row in keyed if row.values.get("platform_case_id")},
                             {row.values["order_no"] for row in keyed})
    _match_existing(plan.rows, existing)
    return plan


def _missing_text(name: str) -> str:
    """A missing field as the user would look for it: its title and a few column names that would do."""
    title = field_title(name)
    examples = [alias for alias in header_aliases()[name] if alias != title][:3]
    return f"{title} ({'/'.join(examples)})"


@dataclass
class _RowContext:
    platform: str
    shops: list
    default_shop_id: int | None
    now: datetime
    zone: ZoneInfo
    vocabulary: Vocabulary

    def __post_init__(self):
        self.shops_by_name = {normalise(shop.name): shop for shop in self.shops}
        self.kind_hint = "、".join(KIND_SYNONYMS[key][0] for key in CASE_KINDS)
        self.category_hint = "、".join(CATEGORY_SYNONYMS[key][0] for key in CASE_CATEGORIES)


def _parse_row(number: int, cells: list, columns: Columns, context: _RowContext) -> RowPlan:
    row = RowPlan(number)
    for name, position in columns.index.items():
        value = cells[position] if position < len(cells) else None
        text = _cell_text(value).strip()
        row.cells[name] = text
        if text == "":
            continue
        try:
            parsed = _parse_value(name, value, row, context)
        except CellError as error:
            row.refuse(f"{columns.header[name]}: {error}")
            continue
        if parsed is not MASKED:
            row.values[name] = parsed
    for name in ("order_no", "buyer_nick", "kind"):
        if not row.cells.get(name):
            row.refuse(_("%(column)s is empty.", column=columns.header[name]))
    if "shop" not in row.values and not row.cells.get("shop"):
        if context.default_shop_id is None:
            row.refuse(_("No shop: fill in the shop column or choose a shop for the whole file."))
        else:
            row.values["shop"] = context.default_shop_id
    received = row.values.get("received_at")
    if received is not None and received > context.now + FUTURE_SLACK:
        row.refuse(_("%(column)s: more than a day in the future.", column=columns.header["received_at"]))
    deadline = row.values.get("platform_deadline_at")
    if deadline is not None:
        if deadline > context.now + DEADLINE_HORIZON:
            row.refuse(_("%(column)s: more than a year in the future.", column=columns.header["platform_deadline_at"]))
        elif received is not None and deadline < received:
            row.refuse(_("%(column)s is earlier than %(other)s.", column=columns.header["platform_deadline_at"],
                         other=columns.header["received_at"]))
    return row


def _parse_value(name: str, value, row: RowPlan, context: _RowContext):
    vocabulary = context.vocabulary
    if name in ("order_no", "platform_case_id"):
        return parse_identifier(value)
    if name == "buyer_nick":
        text, shortened = clean_text(value, 10_000)
        if len(text) > 64:
            raise CellError(_l("Longer than %(max)s characters.", max=64))
        return text
    if name == "buyer_phone":
        phone = parse_phone(value)
        if phone is MASKED:
            row.notes.append(_("The phone number is masked in the file and was not imported."))
        return phone
    if name == "kind":
        return parse_choice(value, vocabulary.kinds, context.kind_hint)
    if name == "category":
        return parse_choice(value, vocabulary.categories, context.category_hint)
    if name == "priority":
        if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
            value = int(value)
        return parse_choice(value, vocabulary.priorities, "P0、P1、P2、P3")
    if name == "flag":
        return parse_choice(value, vocabulary.flags, "红、黄、绿、蓝、紫、无")
    if name in ("order_amount", "refund_amount"):
        return parse_amount(value)
    if name in ("received_at", "platform_deadline_at"):
        return parse_datetime(value, context.zone)
    if name in ("summary", "flag_note"):
        limit = 500 if name == "summary" else 200
        text, shortened = clean_text(value, limit, single_line=name == "flag_note")
        if shortened:
            row.notes.append(_("%(field)s was shortened to %(max)s characters.", field=field_title(name), max=limit))
        return text
    if name == "shop":
        shop = context.shops_by_name.get(normalise(_cell_text(value)))
        if shop is None:
            raise CellError(_l("There is no shop named “%(name)s”.", name=_quote(value)))
        if shop.platform != context.platform:
            raise CellError(_l("“%(name)s” is a shop on another platform.", name=shop.name))
        if not shop.active:
            raise CellError(_l("The shop “%(name)s” is deactivated.", name=shop.name))
        return shop.id
    raise KeyError(name)


def _refuse_duplicates(rows: list[RowPlan]) -> None:
    """A key met twice in one file: the later rows are refused, naming the first.

    A row without a platform case no. and another row of the same order and kind cannot
    be told apart on the next import either, so the later of the two is refused too.
    """
    by_case_id: dict[str, int] = {}
    by_order: dict[tuple, int] = {}
    by_order_without_id: dict[tuple, int] = {}
    for row in rows:
        case_id = row.values.get("platform_case_id")
        order = (row.values.get("order_no"), row.values.get("kind"))
        if None in order:
            continue
        if case_id and case_id in by_case_id:
            row.refuse(_("The same platform case no. as row %(row)s.", row=by_case_id[case_id]))
        elif case_id and order in by_order_without_id:
            row.refuse(_("The same order no. and case kind as row %(row)s, which has no platform case no.",
                         row=by_order_without_id[order]))
        elif not case_id and order in by_order:
            row.refuse(_("The same order no. and case kind as row %(row)s; add the platform case no. "
                         "to tell them apart.", row=by_order[order]))
        if case_id:
            by_case_id.setdefault(case_id, row.number)
        else:
            by_order_without_id.setdefault(order, row.number)
        by_order.setdefault(order, row.number)


def _match_existing(rows: list[RowPlan], existing: list) -> None:
    by_case_id = {case.platform_case_id: case for case in existing if case.platform_case_id}
    by_order: dict[tuple, list] = {}
    for case in existing:
        by_order.setdefault((case.order_no, case.kind), []).append(case)
    targeted: dict[int, int] = {}
    for row in rows:
        if row.action == REFUSED:
            continue
        case_id = row.values.get("platform_case_id")
        same_order = by_order.get((row.values["order_no"], row.values["kind"]), [])
        if case_id:
            case = by_case_id.get(case_id)
            candidates = [case] if case else [c for c in same_order if not c.platform_case_id]
        else:
            candidates = same_order
        if len(candidates) > 1:
            row.refuse(_("%(count)s cases already exist for this order no. and case kind; add the platform case no. "
                         "to choose one.", count=len(candidates)))
            continue
        if not candidates:
            continue  # a new case
        case = row.case = candidates[0]
        first = targeted.setdefault(case.id, row.number)
        if first != row.number:
            row.refuse(_("Row %(row)s already matches the same case %(case)s.", row=first, case=case.reference))
            continue
        row.changes = _changes(case, row.values)
        row.action = UPDATE if row.changes else UNCHANGED


def _attribute(name: str) -> str:
    return "shop_id" if name == "shop" else name


def _changes(case: Case, values: dict) -> dict:
    """The imported fields whose value differs from the case's; empty cells change nothing."""
    changes = {}
    for name, new in values.items():
        old = getattr(case, _attribute(name))
        if old != new:
            changes[name] = (old, new)
    return changes


def new_case_values(row: RowPlan, platform: str) -> dict:
    """What caseflow.create_case needs for a row to create; unset fields take the model's defaults."""
    values = {_attribute(name): value for name, value in row.values.items()}
    values["platform"] = platform
    values.setdefault("category", "other")
    values.setdefault("priority", 2)
    values.setdefault("summary", "")
    values.setdefault("flag_note", "")
    values.setdefault("order_amount", Decimal("0"))
    return values


def format_value(name: str, value, zone: ZoneInfo, shop_names: dict | None = None) -> str:
    """A parsed value as the preview shows it: labels for keys, the shop's name, local time."""
    if value is None or value == "":
        return "—"
    if name == "kind":
        return str(CASE_KINDS.get(value, value))
    if name == "category":
        return str(CASE_CATEGORIES.get(value, value))
    if name == "priority":
        return str(PRIORITIES.get(value, value))
    if name == "flag":
        return str(FLAGS.get(value, value))
    if name == "shop":
        return (shop_names or {}).get(value, str(value))
    if name == "buyer_phone":
        return caseflow.mask_phone(value)
    if isinstance(value, datetime):
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


# --- applying ----------------------------------------------------------------------------------

@dataclass
class ImportResult:
    created: list[int]
    updated: list[int]
    unchanged: int


class PlanNotReady(Exception):
    """apply_import was given a plan with refused rows, a problem, or nothing to do."""


def apply_import(plan: ImportPlan, actor: User, rules, now: datetime, *, source: dict | None = None) -> ImportResult:
    """Create and update every case of a ready plan in the current transaction; the caller commits.

    Each case gets its own timeline event and deadlines (caseflow); the import as a whole
    gets one event (subject "import") saying who imported which file and what it did.
    """
    if not plan.ready:
        raise PlanNotReady("the plan has refused rows or nothing to do")
    created, updated = [], []
    for row in plan.rows:
        if row.action == CREATE:
            case = caseflow.create_case(new_case_values(row, plan.platform), actor, rules, now, via="import")
            created.append(case.id)
        elif row.action == UPDATE:
            values = {_attribute(name): new for name, (old, new) in row.changes.items()}
            caseflow.update_fields(row.case, values, actor, rules, now)
            updated.append(row.case.id)
    result = ImportResult(created, updated, plan.counts[UNCHANGED])
    record(actor, "import", 0, "imported", platform=plan.platform, shop_id=plan.default_shop_id,
           file=plan.table.filename, rows=len(plan.rows), created=len(created), updated=len(updated),
           unchanged=result.unchanged, created_ids=created, updated_ids=updated, **(source or {}))
    db.session.flush()
    return result


# --- uploads kept between the preview and the confirmation ------------------------------------------

class UploadNotFound(Exception):
    """The token is unknown, someone else's, or expired."""


_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")


class UploadStore:
    """Uploaded files under ``folder/<token>`` with a JSON sidecar (owner, time, file name, choices)."""

    def __init__(self, folder, max_age: timedelta = timedelta(days=1)):
        self.folder = Path(folder)
        self.max_age = max_age

    def _paths(self, token: str) -> tuple[Path, Path]:
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise UploadNotFound(token)
        return self.folder / token, self.folder / f"{token}.json"

    def save(self, data: bytes, owner_id: int, now: datetime, **meta) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(24)
        data_path, meta_path = self._paths(token)
        _write_private(data_path, data)
        meta = {**meta, "owner_id": owner_id, "uploaded_at": now.isoformat(), "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest()}
        _write_private(meta_path, json.dumps(meta, ensure_ascii=False).encode())
        return token

    def meta(self, token: str, owner_id: int, now: datetime) -> dict:
        data_path, meta_path = self._paths(token)
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            raise UploadNotFound(token) from None
        if meta.get("owner_id") != owner_id or not data_path.exists():
            raise UploadNotFound(token)
        if now - datetime.fromisoformat(meta["uploaded_at"]) > self.max_age:
            raise UploadNotFound(token)
        return meta

    def load(self, token: str, owner_id: int, now: datetime) -> tuple[bytes, dict]:
        meta = self.meta(token, owner_id, now)
        try:
            return self._paths(token)[0].read_bytes(), meta
        except OSError:
            raise UploadNotFound(token) from None

    def update(self, token: str, owner_id: int, now: datetime, **changes) -> dict:
        meta = {**self.meta(token, owner_id, now), **changes}
        _write_private(self._paths(token)[1], json.dumps(meta, ensure_ascii=False).encode())
        return meta

    def delete(self, token: str) -> None:
        for path in self._paths(token):
            path.unlink(missing_ok=True)

    def purge(self, now: datetime) -> int:
        """Delete uploads older than max_age (and leftovers without a readable sidecar). Returns how many."""
        if not self.folder.is_dir():
            return 0
        removed = 0
        cutoff = now.timestamp() - self.max_age.total_seconds()
        for path in self.folder.iterdir():
            if path.name.startswith(".") and path.stat().st_mtime < cutoff:  # a write that never finished
                path.unlink(missing_ok=True)
                continue
            if not _TOKEN.match(path.name):
                continue
            try:
                uploaded = datetime.fromisoformat(json.loads(path.with_name(f"{path.name}.json").read_text())["uploaded_at"])
                expired = uploaded.timestamp() < cutoff
            except (OSError, ValueError, KeyError):
                expired = path.stat().st_mtime < cutoff
            if expired:
                self.delete(path.name)
                removed += 1
        return removed


def _write_private(path: Path, data: bytes) -> None:
    """Write atomically, readable by the app's user only (the files hold buyers' personal data)."""
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(partial, path)


# --- the template -----------------------------------------------------------------------------

def template_rows() -> list[list[str]]:
    """The documented template: our Chinese column names and one clearly fake example row."""
    return [[FIELDS[name].header_zh for name in TEMPLATE_FIELDS], [TEMPLATE_EXAMPLE[name] for name in TEMPLATE_FIELDS]]
