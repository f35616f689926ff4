"""What every marketplace connector does, and the errors it may raise.

A connector speaks one open platform's protocol (signing, time formats, paging, error codes) and turns one
of its records into the fields of our imports (cases/importing.FIELDS, reviews/importing.FIELDS), so that a
synced record goes through the same checks and the same rules as a row of the platform's export file. It
keeps no state between calls and writes nothing: sync/runner.py owns cursors, retries and the database.

    connector = CONNECTORS["taobao"](credentials)
    page = connector.fetch("cases", start, end, page_no=1)      # what changed in [start, end), one page
    for record in page.records:
        connector.record_id("cases", record)                    # the platform's id of the record
        connector.shop_of("cases", record)                      # the shop it belongs to, as the platform names it
        connector.row("cases", record)                          # {our field name: value}, or raises BadRecord
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import requests

KINDS = ("cases", "reviews")
# All three platforms write times as "yyyy-MM-dd HH:mm:ss" in China time (GMT+8), in requests and in records.
CHINA = ZoneInfo("Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
TIMEOUT = 20  # seconds for one API call; the platforms answer in well under one


class ConnectorError(Exception):
    """A call that failed; ``message`` says why in words a shop's admin can act on (shown on the sync panel)."""

    def __init__(self, message: str, *, code: str = ""):
        super().__init__(message)
        self.message = message
        self.code = code  # the platform's own error code, kept for the log


class TransientError(ConnectorError):
    """Worth retrying: the platform's rate limit, a server error, a timeout, a dropped connection.
    ``retry_after`` is the wait in seconds the platform asked for, when it said one."""

    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None):
        super().__init__(message, code=code)
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    """Not worth retrying until a person acts: a refused signature, an invalid or expired token, a missing
    permission. The shop's sync stops and the panel says this message. ``token`` is True when the
    token is the cause (expired, revoked, for another app): the shop page then asks for a new one."""

    def __init__(self, message: str, *, code: str = "", token: bool = False):
        super().__init__(message, code=code)
        self.token = token


class BadRecord(Exception):
    """One record that cannot be mapped (a missing field, a value of the wrong type): it is skipped and logged."""

    def __init__(self, record_id: str, message: str):
        super().__init__(f"{record_id}: {message}")
        self.record_id = record_id
        self.message = message


@dataclass(frozen=True)
class Credentials:
    """What a shop's connection holds, decrypted, for one run."""

    app_key: str
    app_secret: str
    access_token: str
    shop_ref: str   # the shop as the platform names it: Taobao's seller nick, JD's venderId, Douyin's shop_id
    api_url: str    # the endpoint (Taobao, JD) or base address (Douyin); the real one unless an admin changed it


@dataclass
class Page:
    records: list[dict] = field(default_factory=list)  # as the API returned them
    has_more: bool = False


class Connector:
    """One platform's API. Subclasses set the class attributes and implement the four methods."""

    family: str = ""          # platforms.statuses.FAMILY's value: taobao, jd, douyin
    default_url: str = ""     # the platform's real endpoint
    page_size: int = 50       # records asked for per page (at most what the platform allows)
    window: int = 0           # the longest time window one query may span, in seconds (0: no limit)

    def __init__(self, credentials: Credentials, *, http: requests.Session | None = None, timeout: float = TIMEOUT):
        self.credentials = credentials
        self.http = http or requests.Session()
        self.timeout = timeout

    def fetch(self, kind: str, start: datetime, end: datetime, page_no: int) -> Page:
        """Records of ``kind`` modified in [start, end) (aware UTC), page ``page_no`` (from 1), in the platform's
        order. Raises TransientError or PermanentError."""
        raise NotImplementedError

    def record_id(self, kind: str, record: dict) -> str:
        """The platform's id of a record, or "" when it has none (the record is then refused)."""
        raise NotImplementedError

    def shop_of(self, kind: str, record: dict) -> str | None:
        """The shop the record belongs to as the platform names it (compared with Credentials.shop_ref), or
        None when the record does not say."""
        raise NotImplementedError

    def row(self, kind: str, record: dict) -> dict:
        """The record as our import fields: for "cases" the names of cases/importing.FIELDS, for "reviews"
        those of reviews/importing.FIELDS; values as text, Decimal or aware datetime, as a cell of an export
        would be. The shop is not part of it (the runner sets it). Raises BadRecord."""
        raise NotImplementedError

    def post(self, url: str, **kwargs) -> requests.Response:
        """One HTTP call; network failures become TransientError."""
        try:
            return self.http.post(url, timeout=self.timeout, **kwargs)
        except requests.Timeout as error:
            raise TransientError(f"the platform did not answer in {self.timeout:g} s", code="timeout") from error
        except requests.ConnectionError as error:
            raise TransientError(f"could not reach {url}: {error.__class__.__name__}", code="connection") from error

    @staticmethod
    def raise_for_http(response: requests.Response) -> None:
        """An HTTP status that is not the platform's own error body: 429 and 5xx are transient, others permanent."""
        if response.status_code == 429 or response.status_code >= 500:
            retry = response.headers.get("Retry-After")
            raise TransientError(f"HTTP {response.status_code}", code=str(response.status_code),
                                 retry_after=float(retry) if retry and retry.isdigit() else None)
        if response.status_code >= 400:
            raise PermanentError(f"HTTP {response.status_code}", code=str(response.status_code))


# --- values as the platforms write them, or the record's fault -------------------------------------------------

def china_time(moment: datetime) -> str:
    """An aware moment as the platforms write it: China time, whole seconds."""
    return moment.astimezone(CHINA).strftime(TIME_FORMAT)


def china_moment(record_id: str, name: str, value) -> datetime:
    """A record's "yyyy-MM-dd HH:mm:ss" China time (anything after the seconds ignored) as aware UTC."""
    try:
        return datetime.strptime(str(value).strip()[:19], TIME_FORMAT).replace(tzinfo=CHINA).astimezone(UTC)
    except ValueError:
        raise BadRecord(record_id, f"{name} is not a time as yyyy-MM-dd HH:mm:ss: {value!r}") from None


def amount_of(record_id: str, name: str, value) -> Decimal:
    """A record's amount (yuan or fen, as text or a JSON number) as a finite Decimal, as the platform wrote it."""
    if isinstance(value, bool):
        raise BadRecord(record_id, f"{name} is not an amount: {value!r}")
    try:
        found = Decimal(str(value).strip())
    except InvalidOperation:
        raise BadRecord(record_id, f"{name} is not an amount: {value!r}") from None
    if not found.is_finite():
        raise BadRecord(record_id, f"{name} is not an amount: {value!r}")
    return found
