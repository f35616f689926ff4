"""Live regions: a poll answers 204 when nothing it shows can have changed.

A region's token is ``<latest timeline id>.<valid until, epoch seconds>``. The
timeline id changes on every write anywhere (every change is recorded there),
and ``valid until`` is the next moment a clock shown in the region turns a
colour, so a region still refreshes when a deadline passes with no data change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

NEVER = 0


def make_token(event_id: int, valid_until: datetime | None) -> str:
    return f"{event_id}.{int(valid_until.timestamp()) if valid_until else NEVER}"


def is_unchanged(client_token: str | None, event_id: int, now: datetime) -> bool:
    """True when the client's token is current: same data, no clock boundary crossed."""
    if not client_token:
        return False
    seen, _, until = client_token.partition(".")
    if not seen.isdigit() or not until.isdigit():
        return False
    if int(seen) != event_id:
        return False
    deadline = int(until)
    return deadline == NEVER or now.timestamp() < deadline


def earliest(times) -> datetime | None:
    present = [t for t in times if t is not None]
    return min(present) if present else None


@dataclass(frozen=True)
class HeaderCounter:
    """One number in the header. ``value`` None: the area does not count it yet."""

    key: str
    label: str
    value: int | None
    url: str
    changes_at: datetime | None = None  # when the number can change with no data change
    urgent: bool = False
