"""notify: mail through a real SMTP server and robot messages through a real HTTP server.

Both servers are ours, in threads, on 127.0.0.1 with a port the OS picks; no Flask app is
needed, because notify has no request in it. The fake robots answer like WeCom and
DingTalk, and the DingTalk one checks the 加签 signature with its own code, not notify's.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from models import UserError
from notify import NotifyError, SmtpSettings, escape_markdown, send_mail, send_robot, split_markdown
from tests.conftest import DINGTALK_SECRET, LOCALHOST, SMTP_PASSWORD, SMTP_USER, dingtalk_url, wecom_url

# The fake mail server and robots (fixtures ``mailbox`` and ``robots``) live in conftest.py: the review
# summary's and the scheduler's tests send through them too.
pytestmark = pytest.mark.usefixtures("no_proxy")

# This instant's signature contains "+", so a sign that is not URL-encoded arrives as a space and fails.
NOW = datetime(2025, 6, 1, 12, 1, tzinfo=UTC)
NOW_MS = 1748779260000


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting is refused, and nobody else can take it meanwhile."""
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        yield sock.getsockname()[1]


# --- SMTP ------------------------------------------------------------------


def smtp(port: int, **overrides) -> SmtpSettings:
    return SmtpSettings(LOCALHOST, port, sender="客服中心 <service@shop.example>", timeout=5, **overrides)


def test_notify_error_is_a_user_error():
    error = NotifyError("no", retryable=True)
    assert isinstance(error, UserError)
    assert (error.message, str(error), error.retryable) == ("no", "no", True)


def test_password_stays_out_of_repr():
    assert SMTP_PASSWORD not in repr(smtp(25, username=SMTP_USER, password=SMTP_PASSWORD))


def test_chinese_mail_arrives_intact_with_cc_and_html(mailbox):
    handler, port = mailbox
    subject = "差评日报：3 条新差评（2025年6月1日）"
    text = "您好：\n今天有 3 条差评，请及时处理。\n— 售后系统\n"
    html = "<p>您好：</p><p>今天有 <b>3</b> 条差评。</p>\n"
    send_mail(smtp(port), to=["组长 <lead@shop.example>", "agent@shop.example"], cc=["经理 <manager@shop.example>"],
              subject=subject, text=text, html=html)

    [(message, rcpt_tos, authenticated)] = handler.messages
    assert message["Subject"] == subject
    assert [str(a) for a in message["To"].addresses] == ["组长 <lead@shop.example>", "agent@shop.example"]
    assert [str(a) for a in message["Cc"].addresses] == ["经理 <manager@shop.example>"]
    assert str(message["From"].addresses[0]) == "客服中心 <service@shop.example>"
    assert rcpt_tos == ["lead@shop.example", "agent@shop.example", "manager@shop.example"]
    assert message.get_content_type() == "multipart/alternative"
    assert message.get_body(("plain",)).get_content() == text
    assert message.get_body(("html",)).get_content() == html
    assert message["Date"].datetime.tzinfo is not None
    assert message["Message-ID"].endswith("@shop.example>")
    assert "Bcc" not in message
    assert authenticated is False  # no username: no AUTH attempted


def test_plain_mail_is_one_part_and_logs_in_when_a_username_is_given(mailbox):
    handler, port = mailbox
    send_mail(smtp(port, username=SMTP_USER, password=SMTP_PASSWORD), to=["lead@shop.example"], subject="日报", text="无差评")

    [(message, _rcpt_tos, authenticated)] = handler.messages
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert message.get_content().rstrip("\n") == "无差评"
    assert authenticated is True


def test_wrong_password_is_not_retryable(mailbox):
    handler, port = mailbox
    with pytest.raises(NotifyError, match="login refused") as caught:
        send_mail(smtp(port, username=SMTP_USER, password="wrong"), to=["lead@shop.example"], subject="日报", text="x")
    assert caught.value.retryable is False
    assert handler.messages == []


@pytest.mark.parametrize(
    ("field_name", "value"),
    [
        ("subject", "日报\r\nBcc: victim@evil.example"),
        ("subject", "日报\nX-Injected: 1"),
        ("to", ["lead@shop.example\r\nBcc: victim@evil.example"]),
        ("cc", ["manager@shop.example\nBcc: victim@evil.example"]),
    ],
)
def test_header_injection_is_refused_before_connecting(mailbox, field_name, value):
    handler, port = mailbox
    arguments = {"to": ["lead@shop.example"], "subject": "日报", "text": "x"} | {field_name: value}
    with pytest.raises(NotifyError, match="header injection") as caught:
        send_mail(smtp(port), **arguments)
    assert caught.value.retryable is False
    assert handler.messages == []


def test_line_break_in_sender_is_refused(mailbox):
    handler, port = mailbox
    settings = SmtpSettings(LOCALHOST, port, sender="service@shop.example\r\nBcc: victim@evil.example")
    with pytest.raises(NotifyError, match="header injection"):
        send_mail(settings, to=["lead@shop.example"], subject="日报", text="x")
    assert handler.messages == []


@pytest.mark.parametrize("to", [[], ["lead@shop.example, victim@evil.example"], ["not-an-address"], ["a@b@c.example"]])
def test_bad_recipient_lists_are_refused(mailbox, to):
    handler, port = mailbox
    with pytest.raises(NotifyError):
        send_mail(smtp(port), to=to, subject="日报", text="x")
    assert handler.messages == []


def test_refused_connection_is_retryable(closed_port):
    with pytest.raises(NotifyError, match="Could not reach the SMTP server") as caught:
        send_mail(smtp(closed_port), to=["lead@shop.example"], subject="日报", text="x")
    assert caught.value.retryable is True


@pytest.mark.parametrize(("reply", "retryable"), [("451 4.3.0 Try again later", True), ("554 5.7.1 Rejected as spam", False)])
def test_smtp_reply_class_decides_retry(mailbox, reply, retryable):
    handler, port = mailbox
    handler.data_reply = reply
    with pytest.raises(NotifyError, match=reply[:3]) as caught:
        send_mail(smtp(port), to=["lead@shop.example"], subject="日报", text="x")
    assert caught.value.retryable is retryable


def test_some_recipients_refused_is_reported_and_not_retried(mailbox):
    handler, port = mailbox
    handler.refuse = {"gone@shop.example"}
    with pytest.raises(NotifyError, match="gone@shop.example") as caught:
        send_mail(smtp(port), to=["lead@shop.example", "gone@shop.example"], subject="日报", text="x")
    assert caught.value.retryable is False  # lead@ has the mail: a retry would send it twice
    [(_message, rcpt_tos, _authenticated)] = handler.messages
    assert rcpt_tos == ["lead@shop.example"]


def test_every_recipient_refused_is_not_retryable(mailbox):
    handler, port = mailbox
    handler.refuse = {"gone@shop.example"}
    with pytest.raises(NotifyError, match="refused every recipient") as caught:
        send_mail(smtp(port), to=["gone@shop.example"], subject="日报", text="x")
    assert caught.value.retryable is False


def test_unknown_security_is_refused():
    with pytest.raises(NotifyError, match="security"):
        SmtpSettings(LOCALHOST, 25, sender="service@shop.example", security="tls")


# --- robots ----------------------------------------------------------------


def test_wecom_gets_one_markdown_message(robots):
    assert send_robot("wecom", wecom_url(robots), title="差评日报", markdown="## 差评日报\n今天 **3** 条") == 1
    [request] = robots.requests
    assert request.path == "/cgi-bin/webhook/send"
    assert request.query == {"key": ["test-key"]}
    assert request.body == {"msgtype": "markdown", "markdown": {"content": "## 差评日报\n今天 **3** 条"}}


def test_dingtalk_signed_with_the_right_secret_is_accepted(robots):
    sent = send_robot("dingtalk", dingtalk_url(robots), title="差评日报", markdown="今天 3 条", secret=DINGTALK_SECRET, now=NOW)
    assert sent == 1
    [request] = robots.requests
    assert request.query["access_token"] == ["test-token"]
    assert request.query["timestamp"] == [str(NOW_MS)]
    assert request.body == {"msgtype": "markdown", "markdown": {"title": "差评日报", "text": "今天 3 条"}}


def test_dingtalk_signed_with_a_wrong_secret_is_refused_for_good(robots):
    with pytest.raises(NotifyError, match="310000") as caught:
        send_robot("dingtalk", dingtalk_url(robots), title="差评日报", markdown="今天 3 条", secret="SECwrong", now=NOW)
    assert caught.value.retryable is False
    assert "test-token" not in caught.value.message  # the webhook's credential stays out of error messages


def test_dingtalk_unsigned_is_refused_by_a_signing_robot(robots):
    with pytest.raises(NotifyError, match="310000"):
        send_robot("dingtalk", dingtalk_url(robots), title="差评日报", markdown="今天 3 条", now=NOW)
    assert "timestamp" not in robots.requests[0].query


def test_secrets_that_cannot_be_dingtalk_signing_secrets_are_refused(robots):
    with pytest.raises(NotifyError, match="starts with SEC"):
        send_robot("dingtalk", dingtalk_url(robots), title="t", markdown="x", secret="not-a-secret", now=NOW)
    with pytest.raises(NotifyError, match="Only DingTalk"):
        send_robot("wecom", wecom_url(robots), title="t", markdown="x", secret=DINGTALK_SECRET, now=NOW)
    assert robots.requests == []


def chinese_summary(min_bytes: int) -> str:
    lines = []
    while sum(len(line.encode()) for line in lines) < min_bytes:
        lines.append(f"{len(lines) + 1}. 订单 {len(lines):06d}：买家说包装破损、物流太慢，客服回复不及时，要求退款。\n")
    return "".join(lines)


@pytest.mark.parametrize("kind", ["wecom", "dingtalk"])
def test_long_summary_goes_out_in_pieces_that_join_back(robots, kind):
    summary = chinese_summary(10_000)
    url, secret = (wecom_url(robots), "") if kind == "wecom" else (dingtalk_url(robots), DINGTALK_SECRET)
    sent = send_robot(kind, url, title="差评日报", markdown=summary, secret=secret, now=NOW)

    contents = robots.contents()
    assert sent == len(contents) == 3
    assert all(len(content.encode("utf-8")) <= 4096 for content in contents)
    assert all(content.endswith("\n") for content in contents)  # cut between lines
    assert "".join(contents) == summary
    if kind == "dingtalk":
        assert [r.body["markdown"]["title"] for r in robots.requests] == ["差评日报 (1/3)", "差评日报 (2/3)", "差评日报 (3/3)"]


def test_more_than_twenty_pieces_are_refused_before_anything_is_sent(robots):
    summary = chinese_summary(21 * 4096)
    assert len(split_markdown(summary)) > 20
    with pytest.raises(NotifyError, match="at most 20") as caught:
        send_robot("wecom", wecom_url(robots), title="差评日报", markdown=summary)
    assert caught.value.retryable is False
    assert robots.requests == []


def test_buyer_text_arrives_escaped(robots):
    buyer = "<script>alert(1)</script> 看这里 [x](javascript:alert(1)) **免费** <@all>\n# 退款"
    send_robot("wecom", wecom_url(robots), title="差评", markdown=f"**买家原话**：{escape_markdown(buyer)}\n")

    [content] = robots.contents()
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in content
    assert "\\[x\\]\\(javascript:alert\\(1\\)\\)" in content
    assert "\\*\\*免费\\*\\*" in content
    assert "&lt;@all&gt;" in content
    for raw in ("<script", "[x](", "<@", "\n#"):
        assert raw not in content
    assert content.startswith("**买家原话**：")  # our own markup is untouched


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("好评 4.5 分，2025-06-01 收货", "好评 4.5 分，2025-06-01 收货"),  # ordinary punctuation stays readable
        ("# 标题", "\\# 标题"),
        ("- 列表", "\\- 列表"),
        ("1. 第一", "1\\. 第一"),
        ("a & b", "a &amp; b"),
        ("第一行\r\n\r\n> 引用", "第一行 &gt; 引用"),
        ("`code` ~~删~~ a_b | c \\", "\\`code\\` \\~\\~删\\~\\~ a\\_b \\| c \\\\"),
    ],
)
def test_escape_markdown(text, escaped):
    assert escape_markdown(text) == escaped


@pytest.mark.parametrize(
    ("kind", "errcode", "retryable"),
    [("wecom", 45009, True), ("wecom", 93000, False), ("dingtalk", 130101, True), ("dingtalk", 310000, False)],
)
def test_robot_errcodes_decide_retry(robots, kind, errcode, retryable):
    robots.replies = [(200, errcode)]
    url = wecom_url(robots) if kind == "wecom" else dingtalk_url(robots)
    with pytest.raises(NotifyError, match=str(errcode)) as caught:
        send_robot(kind, url, title="t", markdown="x", secret=DINGTALK_SECRET if kind == "dingtalk" else "", now=NOW)
    assert caught.value.retryable is retryable


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (503, True), (429, True), (404, False), (302, False)])
def test_http_status_decides_retry(robots, status, retryable):
    robots.replies = [(status, 0)]
    with pytest.raises(NotifyError, match=f"HTTP {status}") as caught:
        send_robot("wecom", wecom_url(robots), title="t", markdown="x")
    assert caught.value.retryable is retryable
    assert "test-key" not in caught.value.message
    assert len(robots.requests) == 1  # a redirect is not followed


def test_failure_after_some_pieces_says_how_many_went_out(robots):
    robots.replies = [(200, 0), (200, 45009)]
    with pytest.raises(NotifyError, match="1 of 3 messages had been sent") as caught:
        send_robot("wecom", wecom_url(robots), title="t", markdown=chinese_summary(10_000))
    assert caught.value.retryable is True
    assert len(robots.requests) == 2


def test_unreachable_robot_is_retryable(closed_port):
    with pytest.raises(NotifyError, match="Could not reach") as caught:
        send_robot("wecom", f"http://{LOCALHOST}:{closed_port}/cgi-bin/webhook/send?key=k", title="t", markdown="x")
    assert caught.value.retryable is True


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "qyapi.weixin.qq.com/cgi-bin/webhook/send", "http://"])
def test_only_http_urls_are_accepted(url):
    with pytest.raises(NotifyError, match="http"):
        send_robot("wecom", url, title="t", markdown="x")


def test_empty_markdown_is_refused(robots):
    with pytest.raises(NotifyError, match="Nothing to send"):
        send_robot("wecom", wecom_url(robots), title="t", markdown=" \n")
    assert robots.requests == []


# --- splitting -------------------------------------------------------------


def test_split_keeps_short_text_whole():
    assert split_markdown("## 标题\n内容\n") == ["## 标题\n内容\n"]
    assert split_markdown("") == []


def test_split_cuts_between_lines():
    assert split_markdown("aaaa\nbbbb\ncc\n", limit=10) == ["aaaa\nbbbb\n", "cc\n"]


def test_split_cuts_an_overlong_line_between_characters():
    line = "差" * 7 + "😀" * 2 + "\n"  # 21 + 8 + 1 bytes, one line
    chunks = split_markdown(line + "好\n", limit=10)
    assert "".join(chunks) == line + "好\n"
    assert all(len(chunk.encode("utf-8")) <= 10 for chunk in chunks)
    assert chunks == ["差差差", "差差差", "差😀", "😀\n好\n"]


def test_split_refuses_a_limit_below_one_character():
    with pytest.raises(ValueError):
        split_markdown("x", limit=3)
