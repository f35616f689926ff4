"""Spreadsheets in and out, for every area: read CSV (UTF-8, GBK/GB18030, UTF-16) and XLSX,
map the file's columns to an area's fields, parse cells, plan rows all or nothing, keep an
upload between preview and confirmation, and write CSV (with a BOM) and XLSX safely.

An area brings its fields (``FieldSpec``), its cell parser and its matching rules; the
reading, the mapping, the refusals with row numbers, the upload store and the formula
neutralising are written here once. Row numbers are the ones the user sees in Excel
(the header is row 1). No request in here except the two response helpers at the end.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import secrets
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import sqlalchemy as sa
from flask import Response, current_app, has_app_context, has_request_context, send_file, stream_with_context
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel
from sqlalchemy.exc import IntegrityError

from models import CENT, ImportRun, User, UserError, db

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 20_000
MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # an XLSX is a zip: refuse one that unpacks into something huge
MAX_BLANK_RUN = 1_000  # this many empty rows in a row end an XLSX sheet (formatted but empty rows)
MAX_AMOUNT = Decimal("1000000")
EARLIEST = datetime(2000, 1, 1)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
TIME_FORMAT = "%Y-%m-%d %H:%M"
XLSX_TIME_FORMAT = "yyyy-mm-dd hh:mm"
MIME_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ImportFileError(UserError):
    """The file as a whole cannot be imported; the message tells the user why."""



@dataclass(frozen=True)
class FieldSpec:
    name: str
    header_zh: str          # our column name: the template's header and the Chinese export's
    label: object           # English msgid (lazy), for English users
    aliases: tuple          # other column names the platforms use; matched loosely (see normalise)



def normalise(text) -> str:
    """Loose form for matching names: full-width to ASCII, case folded, no spaces, _ or -, no '(元)' or '*'."""
    text = unicodedata.normalize("NFKC", str(text)).casefold().strip()
    text = text.replace("(元)", "").replace("*", "")
    return re.sub(r"[\s_\-]+", "", text)


def label_variants(label) -> set[str]:
    """A lazy label's English msgid and, inside the app, its text in each of the app's languages."""
    variants = {str(getattr(label, "_args", (label,))[0])}
    if has_app_context():
        for language in current_app.config.get("LANGUAGES", ("zh", "en")):
            with force_locale(language):
                variants.add(str(label))
    return variants



def header_aliases(fields: dict[str, FieldSpec]) -> dict[str, tuple[str, ...]]:
    """Every column name recognised for each field: our own name first, then the platforms', then our labels."""
    result = {}
    for name, spec in fields.items():
        names = [spec.header_zh, *spec.aliases]
        names += sorted(label_variants(spec.label) - set(names))
        result[name] = tuple(names)
    return result


def field_title(spec: FieldSpec) -> str:
    """What a person calls a column: the Chinese name in Chinese, the translated label otherwise."""
    return spec.header_zh if speaks_chinese() else str(spec.label)


def speaks_chinese() -> bool:
    """Whether the current request is in Chinese (our column names are Chinese; labels are translated)."""
    if not has_request_context():
        return False
    locale = get_locale()
    return locale is not None and locale.language == "zh"



def choice_table(labels: dict, synonyms: dict, extra: Iterable[tuple[str, object]] = ()) -> dict:
    """Normalised text -> key, for a choice column: keys, labels in every language, the trade's synonyms."""
    table = {}
    for key, label in labels.items():
        for text in (str(key), *label_variants(label), *synonyms.get(key, ())):
            table.setdefault(normalise(text), key)
    for text, key in extra:
        table.setdefault(normalise(text), key)
    return table



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


def read_table(data: bytes, filename: str = "", *, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS,
               header_test: Callable[[list[str]], bool] | None = None) -> ImportTable:
    """Read a CSV (UTF-8 with or without BOM, GBK/GB18030, UTF-16) or a real XLSX, or raise ImportFileError.

    ``header_test`` recognises an area's known header row: when the first row is not one and the second is
    (an export with a row of group titles above its header), the second row is the header.
    """
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
    if header_test is not None and rows and not header_test(headers):
        below = ["" if cell is None else cell_text(cell).strip() for cell in rows[0][1]]
        if header_test(below):
            headers, rows = below, rows[1:]
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


def unescape_cell(value: str) -> str:
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
            cells = [unescape_cell(cell) for cell in record_]
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
            cells = [unescape_cell(value.strip()) if isinstance(value, str) else value for value in values]
            if all(cell is None or cell == "" for cell in cells):
                blank_run += 1
                if blank_run >= MAX_BLANK_RUN:
                    break
                continue
            blank_run = 0
            if headers is None:
                headers = ["" if cell is None else cell_text(cell).strip() for cell in cells]
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


def resolve_columns(headers: list[str], aliases: dict[str, tuple[str, ...]], required: Iterable[str],
                    mapping: dict | None = None) -> Columns:
    """Map the file's headers to an area's fields: the user's mapping first, then the known column names.

    ``aliases``: every field's recognised column names, in order of preference (see ``header_aliases``);
    ``required``: the fields the file must have. In ``mapping`` a field set to "" is deliberately not
    imported; a header that is not in this file is reported and the known names are tried instead.
    """
    mapping = mapping or {}
    positions: dict[str, int] = {}
    for position, header in enumerate(headers):
        if header:
            positions.setdefault(normalise(header), position)
    index, stale = {}, []
    for name in aliases:
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
    missing = [name for name in required if name not in index]
    return Columns(index, {name: headers[position] for name, position in index.items()}, ignored, missing, stale)


def column_warnings(table: ImportTable, columns: Columns, mapping: dict | None, title: Callable[[str], str]) -> list[str]:
    """What is worth knowing about the columns: the file's own notes, unread columns, a stale saved mapping."""
    warnings = list(table.notes)
    if columns.ignored:
        warnings.append(_("These columns are not imported: %(names)s.", names="、".join(columns.ignored)))
    for name in columns.stale:
        warnings.append(_("The saved mapping names the column “%(header)s” for %(field)s, which this file lacks.",
                          header=(mapping or {}).get(name, ""), field=title(name)))
    return warnings


def missing_columns(columns: Columns, fields: dict[str, FieldSpec]) -> list[str]:
    """The file-wide problem of missing required columns, or nothing. Each field is named as the user would
    look for it: its title and a few column names that would do."""
    if not columns.missing:
        return []
    aliases = header_aliases(fields)

    def describe(name: str) -> str:
        title = field_title(fields[name])
        examples = [alias for alias in aliases[name] if alias != title][:3]
        return f"{title} ({'/'.join(examples)})"

    names = "、".join(describe(name) for name in columns.missing)
    return [_("Required columns are missing: %(names)s. Add them to the file or choose them in the "
              "column mapping.", names=names)]


# --- cell values ---------------------------------------------------------------------------

class CellError(ValueError):
    """One cell's value is refused; the message says why."""


SKIP = object()  # a cell that holds nothing to import (a masked phone number)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_AMOUNT = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$|^\.\d+$")
_DATE = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
                   r"\s*(Z|[+-]\d{2}:?\d{2})?$")
_EXCEL_TEXT = re.compile(r'^="([A-Za-z0-9_\-]*)"$')  # ="0012345": how exports keep Excel from eating digits
_SCIENTIFIC = re.compile(r"^\d+(?:\.\d+)?[eE]\+?\d+$")


def cell_text(value) -> str:
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


def quote(value, limit: int = 40) -> str:
    text = cell_text(value).strip().replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clean_text(value, max_length: int, *, single_line: bool = True) -> tuple[str, bool]:
    """Trimmed text without control characters; returns (text, shortened)."""
    text = _CONTROL.sub("", cell_text(value).replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"\s+", " ", text) if single_line else text
    text = text.strip()
    if len(text) > max_length:
        return text[:max_length].rstrip(), True
    return text, False


def parse_identifier(value, max_length: int = 64) -> str:
    """An order or case number: text as written, never shortened or rounded."""
    if isinstance(value, float) and (not value.is_integer() or abs(value) >= 1e15):
        raise CellError(_l("Excel stored %(value)s as a number and may have lost digits: "
                           "format the column as text and export again.", value=quote(value)))
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
        raise CellError(_l("“%(value)s” is not an amount in yuan, such as 12.50.", value=quote(value)))
    if isinstance(value, (int, float, Decimal)):
        try:
            amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        except InvalidOperation:
            amount = Decimal("NaN")
        if not amount.is_finite():
            raise CellError(_l("“%(value)s” is not an amount in yuan, such as 12.50.", value=quote(value)))
        if isinstance(value, float) and abs(amount - amount.quantize(CENT)) < Decimal("0.000001"):
            amount = amount.quantize(CENT)  # 0.1 + 0.2 computed by Excel
    else:
        text = unicodedata.normalize("NFKC", cell_text(value)).strip()
        text = re.sub(r"^(?:¥|RMB|CNY)\s*", "", text, flags=re.IGNORECASE)
        text = re.sub(r"\s*元$", "", text).replace(" ", "")
        if text.startswith("-") and _AMOUNT.match(text[1:]):
            raise CellError(_l("An amount cannot be negative."))
        if not _AMOUNT.match(text):
            raise CellError(_l("“%(value)s” is not an amount in yuan, such as 12.50.", value=quote(value)))
        amount = Decimal(text.replace(",", ""))
    if amount < 0:
        raise CellError(_l("An amount cannot be negative."))
    if amount != amount.quantize(CENT):
        raise CellError(_l("“%(value)s” has more than two decimal places.", value=quote(value)))
    if amount > MAX_AMOUNT:
        raise CellError(_l("An amount cannot be over 1,000,000 yuan."))
    return amount.quantize(CENT)


def parse_datetime(value, zone: ZoneInfo) -> datetime:
    """A moment in aware UTC. Text and Excel cells without a zone are in the shop's zone."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and 36526 <= value < 73051:
        moment = from_excel(value)  # a date cell without a date format: Excel's day number
    else:
        text = unicodedata.normalize("NFKC", cell_text(value)).strip()
        text = text.replace("年", "-").replace("月", "-").replace("日", " ").strip()
        found = _DATE.match(text)
        if not found:
            raise CellError(_l("“%(value)s” is not a date and time, such as 2026-11-20 14:03.", value=quote(value)))
        year, month, day, hour, minute, second, fraction, offset = found.groups()
        try:
            moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                              int((fraction or "0").ljust(6, "0")))
        except ValueError:
            raise CellError(_l("“%(value)s” is not a real date.", value=quote(value))) from None
        if offset:
            moment = datetime.fromisoformat(moment.isoformat() + ("+00:00" if offset == "Z" else offset))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    if moment < EARLIEST.replace(tzinfo=zone):
        raise CellError(_l("“%(value)s” is before the year 2000.", value=quote(value)))
    return moment.astimezone(UTC)


def parse_phone(value):
    """Digits, +, - and spaces, at most 32 characters; a number the platform masked is not imported."""
    text = unicodedata.normalize("NFKC", cell_text(value)).strip()
    if "*" in text:
        return SKIP
    if re.search(r"[^\d+\-\s().]", text) or not re.search(r"\d", text):
        raise CellError(_l("“%(value)s” is not a phone number.", value=quote(value)))
    phone = re.sub(r"\s+", " ", re.sub(r"[^\d+\- ]", "", text)).strip()
    if len(phone) > 32:
        raise CellError(_l("A phone number has at most 32 characters."))
    return phone


def parse_choice(value, table: dict, choices_hint: str):
    key = table.get(normalise(cell_text(value)), KeyError)
    if key is KeyError:
        raise CellError(_l("“%(value)s” is not one of: %(choices)s.", value=quote(value), choices=choices_hint))
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
    existing: object = None                      # the stored record it matches (update / unchanged)

    def refuse(self, reason: str) -> None:
        self.action = REFUSED
        self.reasons.append(reason)


@dataclass
class ImportPlan:
    """Every row of a file planned: the area's plan adds what it needs (platform, shops …)."""

    table: ImportTable
    columns: Columns
    rows: list[RowPlan]
    problems: list[str]      # the file as a whole is refused
    warnings: list[str]      # worth knowing, nothing refused

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


@dataclass(frozen=True)
class RowKeys:
    """How an area's rows are keyed: by the platform's id when the row has one, else by a natural key; and
    what the refusals say. Both importers (cases, reviews) match rows to stored records with it.

    ``key_of`` returns None for a row whose key cannot be read (a refused cell): it is left alone.
    """

    id_of: Callable[[RowPlan], str | None]
    key_of: Callable[[RowPlan], tuple | None]
    stored_id_of: Callable[[object], str | None]
    same_id: Callable[[int], str]                  # (first row)
    same_key_without_id: Callable[[int], str]      # (first row)
    same_key: Callable[[int], str]                 # (first row)
    ambiguous: Callable[[int], str]                # (how many stored records)
    matched_twice: Callable[[int, str], str]       # (first row, the record's reference)


def refuse_repeated_keys(rows: list[RowPlan], keys: RowKeys) -> None:
    """A key met twice in one file: the later rows are refused, naming the first.

    A row without an id and another row of the same natural key cannot be told apart on the next
    import either, so the later of the two is refused too.
    """
    by_id: dict[str, int] = {}
    by_key: dict[tuple, int] = {}
    by_key_without_id: dict[tuple, int] = {}
    for row in rows:
        key = keys.key_of(row)
        if key is None:
            continue
        row_id = keys.id_of(row)
        if row_id and row_id in by_id:
            row.refuse(keys.same_id(by_id[row_id]))
        elif row_id and key in by_key_without_id:
            row.refuse(keys.same_key_without_id(by_key_without_id[key]))
        elif not row_id and key in by_key:
            row.refuse(keys.same_key(by_key[key]))
        if row_id:
            by_id.setdefault(row_id, row.number)
        else:
            by_key_without_id.setdefault(key, row.number)
        by_key.setdefault(key, row.number)


def matched_rows(rows: list[RowPlan], keys: RowKeys, by_id: dict, by_key: dict) -> Iterator[tuple[RowPlan, object]]:
    """Each row not refused that matches one stored record (``row.existing`` set), with that record.

    ``by_id``: stored records by the platform's id; ``by_key``: lists of stored records by natural key. A row
    with an id matches that record, else a stored record of its natural key that has no id; a row without
    one matches by natural key. More than one candidate, or a record a row before matched already, refuses it.
    """
    targeted: dict[int, int] = {}
    for row in rows:
        if row.action == REFUSED:
            continue
        row_id = keys.id_of(row)
        same_key = by_key.get(keys.key_of(row), [])
        if row_id:
            found = by_id.get(row_id)
            candidates = [found] if found else [record for record in same_key if not keys.stored_id_of(record)]
        else:
            candidates = same_key
        if len(candidates) > 1:
            row.refuse(keys.ambiguous(len(candidates)))
            continue
        if not candidates:
            continue  # a new record
        record = row.existing = candidates[0]
        first = targeted.setdefault(record.id, row.number)
        if first != row.number:
            row.refuse(keys.matched_twice(first, record.reference))
            continue
        yield row, record


class PlanNotReady(Exception):  # a programming error, not the user's: never shown
    """An area's apply_import was given a plan with refused rows, a problem, or nothing to do."""


def plan_digest(plan: ImportPlan) -> str:
    """What the user was shown, in short: a confirmation applies only the plan that was previewed."""
    outline = [(row.number, row.action, getattr(row.existing, "id", None), sorted(row.changes.items()))
               for row in plan.rows]
    return hashlib.sha256(json.dumps([plan.problems, outline], default=str).encode()).hexdigest()


def read_row(number: int, cells: list, columns: Columns, parse_value: Callable[[str, object, RowPlan], object]) -> RowPlan:
    """One row's cells through the area's ``parse_value(name, value, row)``; a CellError refuses the row, saying where.

    ``parse_value`` may return ``SKIP`` for a cell that holds nothing to import (e.g. a masked phone).
    """
    row = RowPlan(number)
    for name, position in columns.index.items():
        value = cells[position] if position < len(cells) else None
        text = cell_text(value).strip()
        row.cells[name] = text
        if text == "":
            continue
        try:
            parsed = parse_value(name, value, row)
        except CellError as error:
            row.refuse(f"{columns.header[name]}: {error}")
            continue
        if parsed is not SKIP:
            row.values[name] = parsed
    return row



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



def neutralise(text: str) -> str:
    """A leading apostrophe keeps Excel from running a cell as a formula (CSV injection)."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return value.strftime(TIME_FORMAT)
    if isinstance(value, int):
        return str(value)
    return neutralise(str(value))


def csv_chunks(rows: Iterable[list], chunk_rows: int = 200) -> Iterator[str]:
    """CSV text in chunks, starting with a UTF-8 BOM so Excel reads the Chinese right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    for count, row in enumerate(rows, start=1):
        writer.writerow([csv_cell(value) for value in row])
        if count % chunk_rows == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def xlsx_cell(sheet, value, bold: bool = False):
    if isinstance(value, str):
        # A string cell is never a formula in Excel; the apostrophe keeps it inert when re-saved as CSV too.
        cell = WriteOnlyCell(sheet, value=neutralise(ILLEGAL_CHARACTERS_RE.sub("", value)))
        cell.data_type = "s"
    else:
        cell = WriteOnlyCell(sheet, value=value)
        if isinstance(value, datetime):
            cell.number_format = XLSX_TIME_FORMAT
        elif isinstance(value, Decimal):
            cell.number_format = "0.00"
    if bold:
        cell.font = Font(bold=True)
    return cell


def write_xlsx(target, header: list[str], rows: Iterable[list], *, title: str, widths: Iterable[int] = ()) -> int:
    """Write a one-sheet workbook in write-only mode (memory stays flat); returns the number of data rows."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.freeze_panes = "A2"
    for position, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(position)].width = width
    sheet.append([xlsx_cell(sheet, text, bold=True) for text in header])
    count = 0
    for row in rows:
        sheet.append([xlsx_cell(sheet, value) for value in row])
        count += 1
    workbook.save(target)
    return count




# --- confirming a preview once ------------------------------------------------------------------------

CLAIM_STALE_AFTER = timedelta(minutes=15)  # a confirmation this old that never finished died mid-way


class AlreadyClaimed(Exception):
    """This preview was confirmed already (``run.finished_at`` set) or is being imported right now."""

    def __init__(self, run: ImportRun):
        super().__init__(run.token)
        self.run = run


def claim_import(token: str, area: str, user: User, filename: str, now: datetime) -> ImportRun:
    """Claim the confirmation of a preview, in its own committed transaction, or raise AlreadyClaimed.

    The token is the claim's primary key, so of two confirmations at the same moment (a double click,
    two people with one file, two servers) the database lets exactly one in. A claim whose import died
    without finishing (its own transaction rolled back) may be taken over after CLAIM_STALE_AFTER.
    """
    run = db.session.get(ImportRun, token)
    if run is not None:
        if run.finished_at is None and now - run.claimed_at > CLAIM_STALE_AFTER:
            taken = db.session.execute(
                sa.update(ImportRun)
                .where(ImportRun.token == token, ImportRun.claimed_at == run.claimed_at, ImportRun.finished_at.is_(None))
                .values(claimed_at=now, user_id=user.id)
                .execution_options(synchronize_session=False))
            db.session.commit()
            if taken.rowcount == 1:
                db.session.refresh(run)
                return run
            db.session.refresh(run)
        raise AlreadyClaimed(run)
    run = ImportRun(token=token, area=area, user_id=user.id, filename=filename[:200], claimed_at=now, result={})
    db.session.add(run)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AlreadyClaimed(db.session.get(ImportRun, token)) from None
    return run


def finish_import(run: ImportRun, result: dict, now: datetime) -> None:
    """Mark the claim done with what the import did, in the import's own transaction (the caller commits)."""
    run.finished_at, run.result = now, result


def release_import(run: ImportRun) -> None:
    """Nothing was imported after all (refused or conflicting): the same preview may be confirmed again."""
    db.session.rollback()
    db.session.execute(sa.delete(ImportRun).where(ImportRun.token == run.token, ImportRun.finished_at.is_(None)))
    db.session.commit()


# --- answers: a download of a whole sheet ----------------------------------------------------------

def _attachment(filename: str) -> dict:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def csv_response(rows: Iterable[list], filename: str) -> Response:
    """Rows (the header first) streamed as CSV with a BOM, formula-looking cells neutralised."""
    return Response(stream_with_context(csv_chunks(rows)), mimetype="text/csv; charset=utf-8", headers=_attachment(filename))


def workbook_response(write: Callable, filename: str):
    """A workbook that ``write(file)`` saves, sent from a temporary file (memory stays flat)."""
    handle = tempfile.TemporaryFile()
    write(handle)
    handle.seek(0)
    return send_file(handle, mimetype=MIME_XLSX, as_attachment=True, download_name=filename)


def xlsx_response(header: list[str], rows: Iterable[list], filename: str, *, title: str, widths: Iterable[int] = ()):
    """Rows as a one-sheet workbook."""
    return workbook_response(lambda handle: write_xlsx(handle, header, rows, title=title, widths=widths), filename)
