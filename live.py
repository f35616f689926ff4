"""Live regions: a poll answers 204 when nothing it shows can have changed.

A region's token is ``<latest timeline id>.<valid until, epoch seconds>``. Every change is
recorded in the timeline with a topic (models.event_topic); a region that names its topics
follows only those (the board: cases, people, deadline rules), so a compensation decision or an
account's limit does not redraw every board; a region that names none follows every change.
``valid until`` is the next moment a clock shown in the region turns a colour, so a region still
refreshes when a deadline passes with no data change.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import Flask, request, session
from gunicorn.glogging import Logger as GunicornLogger

from models import db, get_setting, latest_event_id, latest_of_topics, utcnow

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
class News:
    """The newest urgent item a header counter counts: what a sound and a browser notification announce.

    ``marker`` grows with every new item of its kind (a timeline or row id), 0 when there is none. The browser
    keeps the last marker it announced per person and counter (localStorage, shared by the person's tabs), so
    an item is announced once, not again on a reload or in a second tab; a browser with nothing kept takes the
    current marker as its starting point and announces nothing older.
    """

    marker: int = 0
    text: str = ""
    url: str = ""


@dataclass(frozen=True)
class HeaderCounter:
    """One number in the header. ``value`` None: the area does not count it yet."""

    key: str
    label: str
    value: int | None
    url: str
    changes_at: datetime | None = None  # when the number can change with no data change
    urgent: bool = False
    waiting: bool = False  # work waiting for me: counted in the tab's title (title_count)
    news: News | None = None  # the newest urgent item it counts, announced once (static/notify.js)
    detail: str = ""  # a line under the number, e.g. the newest item named


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


def title_count(counters: list[HeaderCounter]) -> int:
    """The number in the tab's title: the counters of work waiting for me (``waiting``), added up.

    Waiting: my overdue cases, approvals waiting for my decision, handoffs waiting for my team, major complaints
    nobody acknowledged (leads), reviews left on my list, score appeals waiting for me. Not counted: news about
    my own requests (a result to read, not work in my queue).
    """
    return sum(counter.value or 0 for counter in counters if counter.waiting)


def count_rows(statement) -> int:
    """How many rows a page's own statement lists (its order and paging dropped): a counter and its page
    share one definition, so they cannot disagree."""
    inner = statement.order_by(None).limit(None).offset(None).subquery()
    return db.session.scalar(sa.select(sa.func.count()).select_from(inner)) or 0


def poll_seconds() -> int:
    """How often live regions poll: faster in big-promotion mode."""
    return int(get_setting("promo_poll_seconds") if get_setting("promo_mode") else get_setting("poll_seconds"))


def region(view=None, *, topics: tuple[str, ...] | None = None):
    """Mark a view as a live region: an htmx poll with a current token is answered 204 before the view runs.

    ``topics``: the timeline topics the region shows (None: every change); the view builds its token
    with ``latest(view_topics)`` so that the poll and the page agree.
    """
    def mark(function):
        function.live_region = True
        function.live_topics = topics
        return function

    return mark(view) if view is not None else mark


def latest(topics: tuple[str, ...] | None) -> int:
    """The newest timeline id of ``topics`` (of everything when None), in the request's session."""
    return latest_event_id(topics)


def install(app: Flask) -> None:
    """Answer unchanged polls first thing, with one indexed query and no user loaded.

    Safe without loading the user: the 204 reveals nothing new (a deactivated account polling an
    unchanged region learns only that nothing changed), and the first answer that is not 204 goes
    through the view, which checks the session. Requests without a logged-in session go on to the
    view, which sends them to the login page. Install it before the other extensions so that an
    unchanged poll skips their hooks too.
    """
    statements: dict = {}  # topics -> the max-id query as SQL text, built once per worker

    @app.before_request
    def unchanged_poll():
        token = request.args.get("v")
        if not token or request.method != "GET" or request.headers.get("HX-Request") != "true":
            return None
        view = app.view_functions.get(request.endpoint)
        if not getattr(view, "live_region", False) or "_user_id" not in session:
            return None
        topics = view.live_topics
        sql = statements.get(topics)
        if sql is None:
            sql = statements[topics] = poll_sql(topics, db.engine.dialect)
        # A pooled DBAPI connection and plain SQL: no ORM session, no statement compiling or cache lookup, as
        # this runs many times a second (measured: 0.87 of the bare route's throughput through SQLAlchemy's
        # Connection, 0.99 on the bare cursor).
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            event_id = cursor.fetchone()[0] or 0
            cursor.close()
        finally:
            connection.close()
        if is_unchanged(token, event_id, utcnow()):
            request.environ["live.unchanged"] = True  # QuietPollLogger leaves it out of the access log
            return "", 204
        return None


def poll_sql(topics: tuple[str, ...] | None, dialect) -> str:
    """The newest timeline id of ``topics`` as SQL text for ``dialect``. The topics are names written in the
    code (never input), so they are inlined: the text runs on a bare DBAPI cursor with no parameters."""
    statement = LATEST_EVENT if topics is None else latest_of_topics(topics)
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


class QuietPollLogger(GunicornLogger):
    """Gunicorn's logger without the access-log line of a poll answered 204 "nothing changed".

    One idle browser polls every region every few seconds: thousands of lines an hour that say
    nothing. Every other request is logged as before. ``--logger-class live.QuietPollLogger``.
    """

    def access(self, resp, req, environ, request_time):
        if environ.get("live.unchanged") and str(getattr(resp, "status", "")).startswith("204"):
            return
        super().access(resp, req, environ, request_time)


class FragmentCache:
    """Rendered fragments shared by every request of this worker, bounded, least recently used out first.

    A key must hold everything the fragment shows (a record's version, the locale, the viewer's
    permissions …), so that a hit is byte-identical to a fresh render; a value carries the moment it
    stops being true (a countdown's next minute) and is not served after it. Threads of a gthread
    worker share it under one lock.
    """

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, now: datetime):
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or (entry[1] is not None and now >= entry[1]):
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: Hashable, value, valid_until: datetime | None) -> None:
        with self._lock:
            self._entries[key] = (value, valid_until)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)
