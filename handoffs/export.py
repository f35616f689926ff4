"""The handoff sheet as teams kept it in their shared spreadsheet: one row per item, our Chinese column names."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta, tzinfo

from flask_babel import lazy_gettext as _l

from handoffs.labels import HANDOFF_KINDS, HANDOFF_STATES
from models import Handoff
from spreadsheets import speaks_chinese

MAX_DAYS = 366

COLUMNS = (  # (Chinese title, English label, width)
    ("交接单号", _l("Handoff no."), 10), ("类型", _l("Kind"), 14), ("订单号", _l("Order number"), 22),
    ("工单号", _l("Case no."), 9), ("发起人", _l("Raised by"), 12), ("发起团队", _l("Raising team"), 12),
    ("负责团队", _l("Owed by (team)"), 12), ("负责人", _l("Owed by (person)"), 12), ("事项", _l("What is asked"), 40),
    ("状态", _l("State"), 14), ("发起时间", _l("Raised at"), 17), ("截止时间", _l("Due"), 17),
    ("确认时间", _l("Acknowledged at"), 17), ("预计完成", _l("Expected by"), 17), ("完成时间", _l("Done at"), 17),
    ("处理结果", _l("What was done"), 30), ("关闭时间", _l("Closed at"), 17), ("退回次数", _l("Times sent back"), 9),
)
WIDTHS = [width for _zh, _label, width in COLUMNS]


def column_titles() -> list[str]:
    return [zh if speaks_chinese() else str(label) for zh, label, _width in COLUMNS]


def date_range(start: str, end: str, today: date) -> tuple[date, date]:
    """The days asked for (YYYY-MM-DD, inclusive), by default the last 7; at most a year, never reversed."""
    def parse(text: str, default: date) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            return default

    last = parse(end, today)
    first = parse(start, last - timedelta(days=6))
    if first > last:
        first, last = last, first
    return max(first, last - timedelta(days=MAX_DAYS)), last


def _local(moment: datetime | None, zone: tzinfo):
    return None if moment is None else moment.astimezone(zone).replace(tzinfo=None)


def rows(items: Iterable[Handoff], zone: tzinfo) -> Iterator[list]:
    for item in items:
        yield [item.reference, str(HANDOFF_KINDS.get(item.kind, item.kind)), item.order_no, item.case_id,
               item.raised_by.display_name if item.raised_by else "", item.raised_team.name if item.raised_team else "",
               item.owed_team.name, item.owed_user.display_name if item.owed_user else "", item.request,
               str(HANDOFF_STATES.get(item.state, item.state)), _local(item.created_at, zone), _local(item.due_at, zone),
               _local(item.acknowledged_at, zone), _local(item.expected_at, zone), _local(item.done_at, zone),
               item.done_note, _local(item.closed_at, zone), item.sent_back_count]
