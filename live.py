"""Live regions: a poll answers 204 when nothing it shows can have changed.

A region's token is ``<latest timeline id>.<valid until, epoch seconds>``. The
timeline id changes on every write anywhere (every change is recorded there),
and ``valid until`` is the next moment a clock shown in the region turns a
colour, so a region still refreshes when a deadline passes with no data change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import Flask, request, session

from models import db, get_setting, utcnow

NEVER = 0
LATEST_EVENT = sa.text("SELECT max(id) FROM timeline_events")


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


# The header's numbers: each area's blueprint adds its own with @header_counter(order=…).
COUNTER_SOURCES: dict[str, tuple[int, Callable]] = {}


def header_counter(order: int):
    """Register ``source(user, now) -> HeaderCounter | None``; ``order`` is its place in the header."""

    def decorator(source):
        COUNTER_SOURCES[f"{source.__module__}.{source.__qualname__}"] = (order, source)
        return source

    return decorator


def header_counters(user, now) -> list[HeaderCounter]:
    sources = [source for _order, source in sorted(COUNTER_SOURCES.values(), key=lambda item: item[0])]
    return [counter for source in sources if (counter := source(user, now)) is not None]


def poll_seconds() -> int:
    """How often live regions poll: faster in big-promotion mode."""
    return int(get_setting("promo_poll_seconds") if get_setting("promo_mode") else get_setting("poll_seconds"))


def region(view):
    """Mark a view as a live region: an htmx poll with a current token is answered 204 before the view runs."""
    view.live_region = True
    return view


def install(app: Flask) -> None:
    """Answer unchanged polls first thing, with one indexed query and no user loaded.

    Safe without loading the user: the 204 reveals nothing, and every change to an account
    (deactivation, new password) is written to the timeline, which invalidates every token.
    Requests without a logged-in session go on to the view, which sends them to the login page.
    Install it before the other extensions so that an unchanged poll skips their hooks too.
    """
    @app.before_request
    def unchanged_poll():
        token = request.args.get("v")
        if not token or request.method != "GET" or request.headers.get("HX-Request") != "true":
            return None
        view = app.view_functions.get(request.endpoint)
        if not getattr(view, "live_region", False) or "_user_id" not in session:
            return None
        with db.engine.connect() as connection:  # no ORM session: this runs many times a second
            event_id = connection.execute(LATEST_EVENT).scalar() or 0
        if is_unchanged(token, event_id, utcnow()):
            return "", 204
        return None
