"""Notifications out of the app, written once: mail over SMTP and markdown to WeCom and DingTalk group robots.

The end-of-day negative-review summary and later alerts all go through here, so the
refusals (no recipients, header injection, oversized messages), the retry decision and
the escaping of buyers' text live in one place. No request in here: callers pass plain
settings and get ``None``/a count back, or a ``NotifyError`` whose ``retryable`` says
whether trying again later can help.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Literal

from models import UserError, utcnow

SmtpSecurity = Literal["none", "starttls", "ssl"]
RobotKind = Literal["wecom", "dingtalk"]

ROBOT_MESSAGE_BYTES = 4096  # both robots' markdown content limit, counted in UTF-8 bytes
ROBOT_MESSAGES_PER_MINUTE = 20  # both robots drop (and flag) anything above 20 messages a minute per robot

# Robot errcodes after which trying again later can succeed. -1 is "system busy" on both.
WECOM_RETRYABLE = frozenset({-1, 45009})  # 45009: API frequency limit
DINGTALK_RETRYABLE = frozenset({-1, 130101})  # 130101: sending too fast; 310000 (sign/keyword/IP) is not here


class NotifyError(UserError):
    """A notification did not go out; ``retryable`` tells a scheduler whether another attempt can help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


# --- mail ------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to hand mail over; plain values so config, CLI and tests build it alike."""

    host: str
    port: int
    _: KW_ONLY
    sender: str  # "客服中心 <service@example.com>" or a bare address
    username: str = ""  # empty: the relay takes mail without AUTH (RFC 4954), so no login is attempted
    password: str = field(default="", repr=False)  # kept out of repr() and so out of log lines
    security: SmtpSecurity = "none"  # "starttls": RFC 3207 upgrade on the submission port; "ssl": implicit TLS (RFC 8314)
    timeout: float = 10

    def __post_init__(self) -> None:
        if self.security not in ("none", "starttls", "ssl"):
            raise NotifyError(f"Unknown SMTP security {self.security!r}; use none, starttls or ssl.")


_ADDRESS_HEADER = HeaderRegistry()


def _has_line_break(value: str) -> bool:
    # RFC 5322 §2.2: a header ends at CRLF, so a CR or LF inside a value would start a header of the sender's choosing.
    return "\r" in value or "\n" in value


def _parse_address(entry: str, role: str) -> Address:
    """One list entry is exactly one mailbox (RFC 5322 §3.4), so "a@x, b@y" cannot smuggle in a second recipient."""
    if _has_line_break(entry):
        raise NotifyError(f"Line break in the {role} address {entry!r}: refused (header injection).")
    header = _ADDRESS_HEADER(role, entry)
    if header.defects or len(header.addresses) != 1 or not header.addresses[0].domain:
        raise NotifyError(f"{role} {entry!r} is not one valid e-mail address.")
    return header.addresses[0]


def _build_message(settings: SmtpSettings, to: Sequence[str], cc: Sequence[str], subject: str, text: str,
                   html: str | None) -> tuple[EmailMessage, list[str]]:
    """The message and its envelope recipients (RFC 5321 RCPT TO), both from the same parsed addresses."""
    if isinstance(to, str) or isinstance(cc, str):
        raise TypeError("to and cc are lists of addresses, not one string")
    if not to:
        raise NotifyError("No recipient given: a mail needs at least one To address.")
    if _has_line_break(subject):
        raise NotifyError("Line break in the subject: refused (header injection).")
    sender = _parse_address(settings.sender, "From")
    to_addresses = [_parse_address(entry, "To") for entry in to]
    cc_addresses = [_parse_address(entry, "Cc") for entry in cc]

    message = EmailMessage()
    message["From"] = sender
    message["To"] = to_addresses
    if cc_addresses:
        message["Cc"] = cc_addresses
    message["Subject"] = subject  # non-ASCII goes out as RFC 2047 encoded-words, decoded intact by any client
    message["Date"] = format_datetime(utcnow())  # RFC 5322 §3.6.1: Date is required
    # RFC 5322 §3.6.4; the sender's domain keeps make_msgid from looking up this host's FQDN (slow, often wrong).
    message["Message-ID"] = make_msgid(domain=sender.domain)
    # Base64 for non-ASCII: 8bit bodies need the relay's 8BITMIME (RFC 6152), which an intranet relay may lack.
    encoding = None if text.isascii() else "base64"
    message.set_content(text, charset="utf-8", cte=encoding)
    if html is not None:
        # RFC 2046 §5.1.4: multipart/alternative, plain first and the preferred HTML last.
        message.add_alternative(html, subtype="html", charset="utf-8", cte=None if html.isascii() else "base64")
    recipients = [address.addr_spec for address in [*to_addresses, *cc_addresses]]
    return message, recipients


def _transient(error: OSError) -> bool:
    """Network trouble passes with time; a TLS mismatch or a rejected certificate is configuration and does not."""
    if isinstance(error, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):  # the peer hung up mid-handshake
        return True
    return not isinstance(error, ssl.SSLError)


def _smtp_failure(error: OSError, settings: SmtpSettings) -> NotifyError:
    """RFC 5321 §4.2.1: 4yz replies are transient (retry), 5yz permanent; lost connections are transient too."""
    if isinstance(error, smtplib.SMTPAuthenticationError):
        # Retrying a wrong password only gets the account locked.
        return NotifyError(f"SMTP login refused ({error.smtp_code}): check the username and password.", retryable=False)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = {address: code for address, (code, _reply) in error.recipients.items()}
        transient = all(400 <= code < 500 for code in codes.values())
        return NotifyError(f"SMTP server refused every recipient: {codes}.", retryable=transient)
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error.decode("utf-8", "replace") if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
        return NotifyError(f"SMTP server answered {error.smtp_code}: {reply}", retryable=400 <= error.smtp_code < 500)
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return NotifyError(f"SMTP server closed the connection: {error}", retryable=True)
    if isinstance(error, smtplib.SMTPException):  # STARTTLS/AUTH/SMTPUTF8 not offered, no usable AUTH mechanism
        return NotifyError(f"SMTP server cannot take this mail as configured: {error}", retryable=False)
    if isinstance(error, ssl.SSLError) and not _transient(error):
        return NotifyError(f"TLS with the SMTP server failed (check security and port): {error}", retryable=False)
    # Refused, reset, unreachable, DNS, timeout (TimeoutError is an OSError).
    return NotifyError(f"Could not reach the SMTP server {settings.host}:{settings.port}: {error}", retryable=True)


def send_mail(settings: SmtpSettings, *, to: Sequence[str], cc: Sequence[str] = (), subject: str, text: str,
              html: str | None = None) -> None:
    """Send one UTF-8 mail (plain, plus an HTML alternative when given); raise NotifyError on any failure.

    Every address is checked before connecting, so a bad list costs no connection.
    A recipient the server refuses while others were accepted is an error too, not
    retryable: a retry would send the mail again to those who already have it.
    """
    message, recipients = _build_message(settings, to, cc, subject, text, html)
    context = ssl.create_default_context()  # verifies the certificate and host name
    try:
        if settings.security == "ssl":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        else:
            connection = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with connection:  # QUIT on the way out (RFC 5321 §4.1.1.10)
            if settings.security == "starttls":
                connection.starttls(context=context)  # raises when not offered: never fall back to plain text
            if settings.username:
                connection.login(settings.username, settings.password)
            refused = connection.send_message(message, to_addrs=recipients)
    except OSError as error:  # smtplib.SMTPException is an OSError too
        raise _smtp_failure(error, settings) from error
    if refused:
        codes = {address: code for address, (code, _reply) in refused.items()}
        raise NotifyError(f"Mail sent, but the server refused some recipients: {codes}.", retryable=False)


# --- group robots ----------------------------------------------------------

# CommonMark §2.4: ASCII punctuation may be backslash-escaped; these open or close inline markup anywhere in a line
# (code, emphasis, strikethrough, links and images, table cells). <, > and & become entities instead (§6.6 raw HTML,
# §2.5 entity references): WeCom renders <font> and <@userid> mentions, DingTalk some HTML.
_INLINE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"} | {char: "\\" + char for char in "\\`*_[]()|~"})
# Block markers count only at the start of a line (CommonMark §4-5: "# ", "- ", "+ ", setext "=", "1. "); with its line
# breaks gone, imported text has one line start, its own, so 4.5 or 2024-05-01 inside a review stay unescaped.
_LEADING_MARKER = re.compile(r"^(\s*\d*)([#+=.-])")
_LINE_BREAKS = re.compile(r"\s*[\r\n\u2028\u2029]+\s*")


def escape_markdown(text: str) -> str:
    """Make imported text (buyers' reviews, names) show as itself in a robot message, never as markup.

    ``<script>`` arrives as ``&lt;script&gt;``, ``[x](javascript:…)`` as ``\\[x\\]\\(javascript:…\\)``,
    ``<@userid>`` cannot mention anyone and ``**`` cannot bold. Line breaks become one space,
    so a review stays on its line and cannot open a heading, quote, list or code block.
    Escape each piece of imported text, then put it into your own markdown; never escape a
    whole message, which would neutralise your own markup too. Links and tags need an
    opening and a closing character, both escaped, so they stay inert even where
    ``split_markdown`` has to cut an overlong line through an escape.
    """
    flat = _LINE_BREAKS.sub(" ", text).translate(_INLINE_ESCAPES)
    return _LEADING_MARKER.sub(r"\1\\\2", flat, count=1)


_LINE = re.compile(r"[^\n]*\n|[^\n]+")


def fitting(render: Callable[[int], str], limits: Sequence[int], size: int = ROBOT_MESSAGE_BYTES) -> str:
    """``render(limit)`` for the first limit (longest lists first) whose text fits one robot message; the last
    one's otherwise (send_robot splits what still does not fit)."""
    for limit in limits:
        text = render(limit)
        if len(text.encode("utf-8")) <= size:
            break
    return text


def split_markdown(text: str, limit: int = ROBOT_MESSAGE_BYTES) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` UTF-8 bytes whose concatenation is ``text``.

    Cuts fall between lines, so markdown blocks stay whole; only a single line longer than
    ``limit`` is cut inside, and then between characters, never inside a UTF-8 sequence.
    """
    if limit < 4:
        raise ValueError("limit must be at least 4 bytes: one UTF-8 character can take four")
    chunks: list[str] = []
    current: list[str] = []
    current_bytes = 0
    for line in _LINE.findall(text):
        size = len(line.encode("utf-8"))
        if current_bytes + size > limit and current:
            chunks.append("".join(current))
            current, current_bytes = [], 0
        if size <= limit:
            current.append(line)
            current_bytes += size
            continue
        piece: list[str] = []
        piece_bytes = 0
        for char in line:
            char_bytes = len(char.encode("utf-8"))
            if piece_bytes + char_bytes > limit:
                chunks.append("".join(piece))
                piece, piece_bytes = [], 0
            piece.append(char)
            piece_bytes += char_bytes
        current, current_bytes = piece, piece_bytes  # the line's tail can share a message with the next lines
    if current:
        chunks.append("".join(current))
    return chunks


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk custom robot 加签: base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), not yet URL-encoded.

    The robot accepts a timestamp within an hour of its own clock.
    """
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _signed_url(url: str, secret: str, now: datetime) -> str:
    timestamp_ms = (now - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    sign = urllib.parse.quote_plus(dingtalk_sign(secret, timestamp_ms))  # base64's + / = must survive the query string
    return f"{url}{'&' if urllib.parse.urlsplit(url).query else '?'}timestamp={timestamp_ms}&sign={sign}"


def _redacted(url: str) -> str:
    """The webhook's key/access_token is a credential: errors name the host and path only."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a bodiless GET (RFC 9110 §15.4 allows it); a webhook never redirects,
    # so a 3xx is reported as the failure it is rather than followed.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _post_json(url: str, payload: dict, timeout: float) -> dict:
    """POST one JSON body and return the JSON reply; a non-2xx status, a lost connection or a non-JSON reply raise."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    where = _redacted(url)
    opener = urllib.request.build_opener(_NoRedirect)  # built per call: it reads the proxy settings of the moment
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as error:  # urllib raises this for every status outside 2xx
        error.close()
        # RFC 9110 §15.6: 5xx are the server's trouble; RFC 6585 §4: 429 is "slow down". Both pass with time.
        retryable = error.code >= 500 or error.code == 429
        raise NotifyError(f"Robot webhook {where} answered HTTP {error.code}.", retryable=retryable) from error
    except urllib.error.URLError as error:
        transient = isinstance(error.reason, OSError) and _transient(error.reason)  # a str reason is a bad URL
        raise NotifyError(f"Could not reach robot webhook {where}: {error.reason}", retryable=transient) from error
    except OSError as error:  # a timeout or reset while reading the reply
        raise NotifyError(f"Robot webhook {where} did not answer: {error}", retryable=True) from error
    try:
        reply = json.loads(body)
    except ValueError as error:
        raise NotifyError(f"Robot webhook {where} answered something that is not JSON.", retryable=False) from error
    if not isinstance(reply, dict):
        raise NotifyError(f"Robot webhook {where} answered unexpected JSON.", retryable=False)
    return reply


def send_robot(kind: RobotKind, url: str, *, title: str, markdown: str, secret: str = "", timeout: float = 10,
               now: datetime | None = None) -> int:
    """Post ``markdown`` to a WeCom or DingTalk group robot, one message per ≤4096-byte piece; return how many.

    ``markdown`` is sent as written: escape imported text with ``escape_markdown`` first.
    ``title`` is DingTalk's notification preview (numbered when there are several
    pieces); WeCom has no title field, so put a heading in the markdown for it.
    ``secret`` (DingTalk's "SEC…" signing secret) signs the URL with a timestamp taken
    from ``now`` (aware; default: the app's clock). More than 20 pieces is refused before
    anything is sent, because both robots allow 20 messages a minute. When a later piece
    fails, the earlier ones have already gone out; the error says how many.
    """
    if kind not in ("wecom", "dingtalk"):
        raise NotifyError(f"Unknown robot kind {kind!r}; use wecom or dingtalk.")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise NotifyError("A robot webhook must be an http:// or https:// URL.")
    if secret and kind != "dingtalk":
        raise NotifyError("Only DingTalk robots are signed; a WeCom webhook's key is in its URL.")
    if secret and not secret.startswith("SEC"):
        raise NotifyError("A DingTalk signing secret starts with SEC; check the robot's security settings.")
    if kind == "dingtalk" and not title.strip():
        raise NotifyError("A DingTalk markdown message needs a title.")
    if not markdown.strip():
        raise NotifyError("Nothing to send: the markdown is empty.")
    chunks = split_markdown(markdown)
    if len(chunks) > ROBOT_MESSAGES_PER_MINUTE:
        raise NotifyError(
            f"The message needs {len(chunks)} robot messages; a robot takes at most {ROBOT_MESSAGES_PER_MINUTE} a minute. "
            "Shorten it or send a link instead.",
            retryable=False,
        )
    if now is None:
        now = utcnow()
    if now.tzinfo is None:
        raise ValueError("naive datetime given; use models.utcnow()")
    target = _signed_url(url, secret, now) if secret else url
    retryable_codes = WECOM_RETRYABLE if kind == "wecom" else DINGTALK_RETRYABLE
    for number, chunk in enumerate(chunks, start=1):
        if kind == "wecom":
            payload = {"msgtype": "markdown", "markdown": {"content": chunk}}
        else:
            piece_title = title if len(chunks) == 1 else f"{title} ({number}/{len(chunks)})"
            payload = {"msgtype": "markdown", "markdown": {"title": piece_title, "text": chunk}}
        try:
            reply = _post_json(target, payload, timeout)
            errcode = reply.get("errcode")
            if errcode != 0:
                raise NotifyError(f"The {kind} robot refused the message: errcode {errcode}, {reply.get('errmsg', '')!s}.",
                                  retryable=errcode in retryable_codes)
        except NotifyError as error:
            if number == 1:
                raise
            raise NotifyError(f"{error.message} {number - 1} of {len(chunks)} messages had been sent.",
                              retryable=error.retryable) from error
    return len(chunks)
