"""Writing cases (and the import template) to CSV or XLSX: plain functions, no request in them.

Both formats carry the same columns: our Chinese column names (the import template's, so an
export can be edited and imported again) or, for English users, the translated labels;
labels instead of keys; times in the shop's zone. The writers (and their formula
neutralising) are the shared ones of ``spreadsheets``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from cases import importing as case_import
from cases.board import deadline_order
from cases.flow import mask_phone
from cases.labels import CASE_CATEGORIES, CASE_KINDS, FLAGS, PRIORITIES, RESPONSIBILITIES, state_label
from models import PLATFORMS, Case


@dataclass(frozen=True)
class ExportColumn:
    key: str
    header_zh: str
    label: object                       # lazy English msgid
    value: Callable[[Case, ExportOptions], object]
    width: int = 14


@dataclass(frozen=True)
class ExportOptions:
    zone: ZoneInfo
    # Full numbers instead of masked ones: only for a person with the ``export_phones`` permission who gave a
    # reason, the export recorded first (blueprints/imports.export_cases checks and records; this only writes).
    full_phones: bool = False


def _local(moment: datetime | None, options: ExportOptions):
    return None if moment is None else moment.astimezone(options.zone).replace(tzinfo=None)


def _imported(key: str, value, width: int = 14) -> ExportColumn:
    spec = case_import.FIELDS[key]
    return ExportColumn(key, spec.header_zh, spec.label, value, width)


EXPORT_COLUMNS: tuple[ExportColumn, ...] = (
    ExportColumn("case_no", "工单号", _l("Case no."), lambda c, o: c.id, 9),
    ExportColumn("platform", "平台", _l("Platform"), lambda c, o: PLATFORMS.get(c.platform, c.platform), 10),
    _imported("shop", lambda c, o: c.shop.name if c.shop else "", 16),
    _imported("platform_case_id", lambda c, o: c.platform_case_id or "", 20),
    _imported("order_no", lambda c, o: c.order_no, 22),
    _imported("buyer_nick", lambda c, o: c.buyer_nick, 16),
    _imported("buyer_phone", lambda c, o: (c.buyer_phone or "") if o.full_phones else mask_phone(c.buyer_phone)),
    _imported("kind", lambda c, o: CASE_KINDS.get(c.kind, c.kind), 12),
    _imported("category", lambda c, o: CASE_CATEGORIES.get(c.category, c.category), 18),
    _imported("priority", lambda c, o: PRIORITIES.get(c.priority, c.priority), 10),
    ExportColumn("state", "状态", _l("State"), lambda c, o: state_label(c), 12),
    ExportColumn("assignee", "处理人", _l("Assignee"), lambda c, o: c.assignee.display_name if c.assignee else "", 12),
    _imported("order_amount", lambda c, o: c.order_amount, 11),
    _imported("refund_amount", lambda c, o: c.refund_amount, 11),
    _imported("flag", lambda c, o: FLAGS.get(c.flag, c.flag) if c.flag else "", 8),
    _imported("flag_note", lambda c, o: c.flag_note, 20),
    _imported("summary", lambda c, o: c.summary, 40),
    _imported("received_at", lambda c, o: _local(c.received_at, o), 17),
    _imported("platform_deadline_at", lambda c, o: _local(c.platform_deadline_at, o), 17),
    ExportColumn("next_due_at", "下一截止时间", _l("Next deadline"), lambda c, o: _local(c.next_due_at, o), 17),
    ExportColumn("created_at", "录入时间", _l("Entered at"), lambda c, o: _local(c.created_at, o), 17),
    ExportColumn("closed_at", "关闭时间", _l("Closed at"), lambda c, o: _local(c.closed_at, o), 17),
    ExportColumn("responsibility", "责任方", _l("Responsible party"), lambda c, o: RESPONSIBILITIES.get(c.responsibility, c.responsibility or ""), 12),
    ExportColumn("responsible_person", "责任人", _l("Responsible person"), lambda c, o: c.responsible_person, 12),
    ExportColumn("cause", "问题原因", _l("Cause"), lambda c, o: c.cause, 30),
    ExportColumn("result", "处理结果", _l("Result"), lambda c, o: c.result, 30),
)


def column_titles(chinese: bool) -> list[str]:
    return [column.header_zh if chinese else str(column.label) for column in EXPORT_COLUMNS]


def case_cells(case: Case, options: ExportOptions) -> list:
    """One case as typed cells: str, int, Decimal, local naive datetime or None. Labels are str."""
    cells = []
    for column in EXPORT_COLUMNS:
        value = column.value(case, options)
        if value is not None and not isinstance(value, (str, int, Decimal, datetime)):
            value = str(value)  # lazy labels in the current language
        cells.append(value)
    return cells


def export_rows(cases: Iterable[Case], options: ExportOptions) -> Iterator[list]:
    for case in cases:
        yield case_cells(case, options)


def export_widths() -> list[int]:
    return [column.width for column in EXPORT_COLUMNS]


# --- the import template ---------------------------------------------------------------------

def _instructions() -> list[tuple[str, str, str]]:
    """(column, required?, what goes in it) for the template's second sheet, in the user's language."""
    kinds = "、".join(case_import.KIND_SYNONYMS[key][0] for key in CASE_KINDS)
    categories = "、".join(case_import.CATEGORY_SYNONYMS[key][0] for key in CASE_CATEGORIES)
    texts = {
        "order_no": _("Required. The marketplace order number; keep the column as text so no digit is lost."),
        "platform_case_id": _("The marketplace's refund or after-sales number. With it, a second import updates the "
                              "same case; without it, the order no. and the case kind find the case."),
        "buyer_nick": _("Required. At most 64 characters."),
        "buyer_phone": _("Digits, +, - and spaces. A masked number (with *) is skipped."),
        "kind": _("Required. One of: %(values)s.", values=kinds),
        "category": _("One of: %(values)s. Empty: other.", values=categories),
        "priority": _("P0 (urgent), P1 (high), P2 (normal, when empty) or P3 (low)."),
        "order_amount": _("Yuan, at most two decimals, such as 1299.00."),
        "refund_amount": _("Yuan, at most two decimals, such as 12.50."),
        "received_at": _("When the buyer asked, in the shop's time zone, such as 2026-11-20 14:03. Empty: the "
                         "time of the import."),
        "platform_deadline_at": _("The marketplace's deadline for the shop, such as 2026-11-22 14:03."),
        "summary": _("What the buyer asked for; at most 500 characters."),
        "flag": _("%(values)s, or empty for no flag.", values="、".join(case_import.FLAG_SYNONYMS[key][0] for key in FLAGS)),
        "flag_note": _("At most 200 characters."),
        "shop": _("Required unless a shop is chosen for the whole file. The shop's name as in the system."),
    }
    required = set(case_import.REQUIRED)
    return [(case_import.FIELDS[name].header_zh, _("yes") if name in required else "", texts[name])
            for name in case_import.TEMPLATE_FIELDS]


def template_xlsx(target) -> None:
    """The template as a workbook: the columns with one fake example, drop-down lists, and a sheet of instructions."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "售后单"
    for row in case_import.template_rows():
        sheet.append(row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    names = list(case_import.TEMPLATE_FIELDS)
    for position, name in enumerate(names, start=1):
        letter = get_column_letter(position)
        sheet.column_dimensions[letter].width = 30 if name == "summary" else 18
        if name in ("order_no", "platform_case_id", "buyer_phone"):
            sheet.column_dimensions[letter].number_format = "@"  # long numbers stay text
    lists = {
        "kind": [case_import.KIND_SYNONYMS[key][0] for key in CASE_KINDS],
        "category": [case_import.CATEGORY_SYNONYMS[key][0] for key in CASE_CATEGORIES],
        "priority": [f"P{level}" for level in PRIORITIES],
        "flag": [case_import.FLAG_SYNONYMS[key][0] for key in FLAGS],
    }
    for name, values in lists.items():
        # A suggestion, not a lock: the synonyms the importer accepts stay allowed.
        validation = DataValidation(type="list", formula1='"' + ",".join(values) + '"', allow_blank=True,
                                    showErrorMessage=False)
        letter = get_column_letter(names.index(name) + 1)
        validation.add(f"{letter}2:{letter}5000")
        sheet.add_data_validation(validation)
    notes = workbook.create_sheet("说明")
    notes.append([_("Column"), _("Required"), _("What to enter")])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    for row in _instructions():
        notes.append(list(row))
    notes.column_dimensions["A"].width = 16
    notes.column_dimensions["B"].width = 10
    notes.column_dimensions["C"].width = 100
    workbook.save(target)


def export_statement(case_filter, user, now):
    """The cases of a filter in the list's order, with their shop, assignee and the long texts the export
    writes in the same statement (the list leaves those texts unloaded: a SELECT per case and text), in batches."""
    return (sa.select(Case).where(*case_filter.where(user, now)).order_by(*deadline_order())
            .options(so.joinedload(Case.shop), so.joinedload(Case.assignee)).execution_options(yield_per=500))
