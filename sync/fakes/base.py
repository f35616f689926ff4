"""What every fake platform keeps and how a test or the demo drives it; each platform's module speaks its protocol.

A fake holds the records of one shop, each with the moment it was last modified (what the APIs page by), and
answers the platform's calls for them as the public definition says: checking the signature and the token,
paging, and its own error bodies. A test can queue failures (``fail``) and store a malformed record as given
(``put_raw``); every call it answered is kept in ``calls``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from werkzeug.wrappers import Request, Response

FAILURES = ("rate_limit", "server_error", "bad_token")


def utcnow() -> datetime:
    return datetime.now(UTC)


class FakePlatform:
    """A WSGI application; subclasses implement ``handle`` and the record builders."""

    family = ""
    path = "/"  # where the platform's endpoint is, below the fake's prefix (Taobao /router/rest …)

    def __init__(self, *, app_key: str = "demo-app-key", app_secret: str = "demo-app-secret",
                 access_token: str = "demo-access-token", shop_ref: str = "demo-shop",
                 clock: Callable[[], datetime] = utcnow):
        self.app_key, self.app_secret, self.access_token, self.shop_ref = app_key, app_secret, access_token, shop_ref
        self.clock = clock
        self.records: dict[str, dict[str, tuple[datetime, dict]]] = {"cases": {}, "reviews": {}}
        self.failures: list[str] = []
        self.calls: list[dict] = []   # the parameters of every call answered (signature checked or not)
        self.lock = threading.RLock()
        self.serial = itertools.count(1)

    # --- the store ---------------------------------------------------------------------------------

    def put(self, kind: str, record_id: str, record: dict, modified: datetime | None = None) -> dict:
        """Store (or replace) a record as the platform would return it, modified now unless said."""
        with self.lock:
            self.records[kind][str(record_id)] = (modified or self.clock(), record)
        return record

    put_raw = put  # a malformed record is stored as given: nothing here checks a record

    def get(self, kind: str, record_id: str) -> dict:
        return self.records[kind][str(record_id)][1]

    def modified_between(self, kind: str, start: datetime, end: datetime) -> list[dict]:
        """Records modified in [start, end), oldest first (ties by id), as the platforms page them."""
        with self.lock:
            chosen = [(moment, record_id, record) for record_id, (moment, record) in self.records[kind].items()
                      if start <= moment < end]
        chosen.sort(key=lambda item: (item[0], item[1]))
        return [record for _moment, _id, record in chosen]

    def fail(self, what: str, times: int = 1) -> None:
        """The next ``times`` calls answer with the platform's error for ``what`` (FAILURES)."""
        if what not in FAILURES:
            raise ValueError(what)
        with self.lock:
            self.failures.extend([what] * times)

    def next_failure(self) -> str | None:
        with self.lock:
            return self.failures.pop(0) if self.failures else None

    # --- builders each platform implements, in its own record shape -----------------------------------

    # The platform's after-sales status values along an ordinary return, first to last (for the demo).
    FLOW: tuple[str, ...] = ()

    def new_after_sale(self, **fields) -> dict:
        """Store a new, valid after-sales record with believable values; ``fields`` override them."""
        raise NotImplementedError

    def change_after_sale(self, record_id: str, **fields) -> dict:
        """Change fields of a stored after-sales record (its status, say) and mark it modified now."""
        raise NotImplementedError

    def new_review(self, **fields) -> dict:
        """Store a new review (a bad one unless said) with believable values; ``fields`` override them."""
        raise NotImplementedError

    # --- HTTP ----------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def __call__(self, environ, start_response):
        return self.handle(Request(environ))(environ, start_response)
