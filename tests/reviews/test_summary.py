"""The end-of-day summary: its figures from a hand-made day, its texts (robot markdown, mail, workbook) with
buyers' words kept inert, and its deliveries through a real SMTP server and fake WeCom/DingTalk robots,
retried after a failure until sent, or waiting for a person when retrying cannot help."""

from __future__ import annotations

import hashlib
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa
from flask import render_template

from models import Case, Review, ReviewSummary, Shop, SummaryDelivery, TimelineEvent, db, set_setting
from notify import split_markdown
from reviews import summary, worklist
from tests.conftest import DINGTALK_SECRET, LOCALHOST, dingtalk_url, user_named, wecom_url

ZONE = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 30)
YESTERDAY = TODAY - timedelta(days=1)
HOSTILE = "<script>alert(1)</script> **bold** [x](http://e)"
SENDER = "客服中心 <service@shop.example>"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


NOW = at(TODAY, 17, 30)


def add_review(written: datetime, rating: int = 1, text: str = "空调不制冷", shop_name: str = "测试天猫店", **values) -> Review:
    shop = db.session.scalar(sa.select(Shop).where(Shop.name == shop_name))
    review = Review(platform=shop.platform, shop=shop, rating=rating, text=text, reviewed_at=written,
                    text_digest=hashlib.sha256(f"{text}{written}{values}".encode()).hexdigest(),
                    suggested_cause=values.pop("suggested_cause", "质量问题"), **values)
    db.session.add(review)
    db.session.flush()
    return review


@pytest.fixture
def app(make_app, mailbox):
    """Here every app's mail server is the local aiosmtpd one (make_case uses this app too)."""
    _handler, port = mailbox
    return make_app(SMTP_HOST=LOCALHOST, SMTP_PORT=port, SMTP_SENDER=SENDER)


def configure_recipients(robots, dingtalk_secret: str = DINGTALK_SECRET) -> None:
    set_setting("review_summary_emails", ["部门经理 <head@shop.example>"])
    set_setting("review_summary_cc", ["brand@brand.example"])
    set_setting("review_summary_robots", [{"kind": "wecom", "url": wecom_url(robots), "secret": ""},
                                          {"kind": "dingtalk", "url": dingtalk_url(robots), "secret": dingtalk_secret}])


def hand_made_day(make_case) -> dict[str, Review]:
    """Five reviews of yesterday on today's list, worked on today; see the figures expected below."""
    set_setting("review_reviewers", [user_named("reviewer").id, user_named("lead").id])
    reviews = {
        "hostile": add_review(at(YESTERDAY, 9), rating=1, text=HOSTILE, picture_count=2),
        "logistics": add_review(at(YESTERDAY, 10), rating=2, shop_name="测试京东店", suggested_cause="物流"),
        "middle": add_review(at(YESTERDAY, 11), rating=3),
        "unreached": add_review(at(YESTERDAY, 12), rating=1),
    }
    worklist.form_list(TODAY, at(TODAY, 10), ZONE)
    reviews["late"] = late = add_review(at(YESTERDAY, 23), rating=2, shop_name="测试抖音店")
    worklist.place_new([late], ZONE)
    reviewer = reviews["hostile"].assignee
    worklist.record_contact(reviews["hostile"], reviewer, "phone", "resolved", "", at(TODAY, 10, 30), at(TODAY, 10, 31))
    worklist.handle(reviews["hostile"], reviewer, "replied", at(TODAY, 11), reply="亲，好评返现5元哦")
    worklist.record_follow_up(reviews["hostile"], "已经解决了，谢谢", at(TODAY, 15), None, at(TODAY, 15, 1))
    db.session.commit()
    case = db.session.get(Case, make_case(shop="测试京东店"))
    worklist.handle(reviews["logistics"], reviewer, "case", at(TODAY, 12), case=case)
    worklist.handle(reviews["middle"], reviewer, "no_action", at(TODAY, 13), note="中评，已说明")
    worklist.record_contact(reviews["unreached"], reviewer, "phone", "no_answer", "", at(TODAY, 14), at(TODAY, 14, 1))
    db.session.commit()
    return reviews


def test_the_figures_of_a_hand_made_day(app, make_case):
    with app.app_context():
        reviews = hand_made_day(make_case)
        figures = summary.compose(TODAY, ZONE, NOW)
    assert figures["day"] == "2026-11-30" and figures["listed"] and figures["snapshot_count"] == 4
    overall = figures["overall"]
    assert (overall["due"], overall["handled"], overall["handled_same_day"], overall["left"], overall["late"]) == (5, 3, 3, 2, 1)
    assert overall["clear_rate"] == pytest.approx(0.6)
    assert (overall["contacted_negative"], overall["followed_up"], overall["follow_up_rate"]) == (2, 1, 0.5)
    assert figures["targets"] == {"clear_rate": 0.8, "follow_up_rate": 0.5}
    assert figures["by_cause"] == [{"cause": "质量问题", "count": 4}, {"cause": "物流", "count": 1}]
    assert figures["by_shop"] == [{"shop": "测试天猫店", "count": 3}, {"shop": "测试京东店", "count": 1}, {"shop": "测试抖音店", "count": 1}]
    assert figures["done"] == {"handled": 3, "replied": 1, "case": 1, "no_action": 1, "contacts": 2, "reached": 1, "negative": 4}
    assert [(item["ref"], item["state"]) for item in figures["left"]["items"]] == [
        (reviews["unreached"].reference, "contacted"), (reviews["late"].reference, "todo")]
    assert figures["left"]["count"] == 2 and all(item["assignee"] for item in figures["left"]["items"])
    notable = {item["ref"]: item for item in figures["notable"]["items"]}
    assert figures["notable"]["count"] == 3
    hostile = notable[reviews["hostile"].reference]
    assert hostile["kinds"] == ["one_star_pictures", "flagged_reply", "follow_up"]
    assert (hostile["excerpt"], hostile["reply"], hostile["follow_up"]) == (HOSTILE, "亲，好评返现5元哦", "已经解决了，谢谢")
    assert notable[reviews["logistics"].reference]["kinds"] == ["case"] and notable[reviews["logistics"].reference]["case"]
    assert notable[reviews["late"].reference]["kinds"] == ["late"]
    per_reviewer = {row["name"]: row for row in figures["by_reviewer"]}
    assert sum(row["due"] for row in per_reviewer.values()) == 5
    assert set(per_reviewer) <= {"reviewer name", "lead name"}


def test_long_texts_are_cut_to_an_excerpt():
    assert summary.excerpt("好" * 200) == "好" * 79 + "…"
    assert summary.excerpt("a\n\n  b") == "a b"


def test_a_day_whose_list_never_formed_says_so(app):
    with app.app_context():
        figures = summary.compose(TODAY, ZONE, NOW)
        text, (_subject, plain, html) = summary.markdown(figures), summary.mail(figures)
    assert not figures["listed"] and figures["overall"]["due"] == 0 and figures["overall"]["clear_rate"] is None
    assert text.count("\n\n") == 1 and "2026-11-30" in text.split("\n\n")[1]
    assert "2026-11-30" in plain and 'class="warning"' in html


def test_buyer_text_stays_inert_in_markdown_mail_and_workbook(app, make_case):
    with app.app_context():
        hand_made_day(make_case)
        figures = summary.compose(TODAY, ZONE, NOW)
        text = summary.markdown(figures)
        subject, plain, html = summary.mail(figures)
        handle = io.BytesIO()
        summary.write_xlsx(figures, handle)
    with app.test_request_context():
        page = render_template("reviews/_summary_body.html", figures=figures)

    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt; \\*\\*bold\\*\\* \\[x\\]\\(http://e\\)" in text
    for raw in ("<script", "**bold**", "[x](", "(http://e)"):
        assert raw not in text
    for markup in (html, page):
        assert "&lt;script&gt;alert(1)&lt;/script&gt; **bold** [x](http://e)" in markup
        assert "<script" not in markup and 'href="http://e"' not in markup
    assert "href=" not in html  # the mail has no links into the app
    assert '<a href="/reviews/' in page  # the page links each review
    assert HOSTILE in plain  # plain text is not interpreted: the buyer's words as written
    assert "2026-11-30" in subject and "\n" not in subject

    workbook = openpyxl.load_workbook(handle)
    assert len(workbook.sheetnames) == 5
    cells = [cell for sheet in workbook for row in sheet.iter_rows() for cell in row if cell.value == HOSTILE]
    assert cells and all(cell.data_type == "s" for cell in cells)
    overview = workbook[workbook.sheetnames[0]]
    values = {row[0]: row[1] for row in overview.iter_rows(values_only=True) if row and row[0]}
    assert 0.6 in values.values()  # rates are numbers (shown as percentages)


def test_a_formula_in_buyer_text_is_neutralised_in_the_workbook(app):
    with app.app_context():
        add_review(at(YESTERDAY, 9), rating=1, text="=HYPERLINK(\"http://evil\")", picture_count=1)
        worklist.form_list(TODAY, at(TODAY, 10), ZONE)
        handle = io.BytesIO()
        summary.write_xlsx(summary.compose(TODAY, ZONE, NOW), handle)
    cells = [cell for sheet in openpyxl.load_workbook(handle) for row in sheet.iter_rows() for cell in row
             if isinstance(cell.value, str) and "HYPERLINK" in cell.value]
    assert cells and all(cell.value.startswith("'=") and cell.data_type == "s" for cell in cells)


def test_the_summary_goes_by_mail_and_to_both_robots_and_is_kept_with_its_date(app, mailbox, robots, make_case):
    handler, _port = mailbox
    with app.app_context():
        configure_recipients(robots)
        hand_made_day(make_case)
        kept = summary.create(TODAY, user_named("lead"), NOW, ZONE)
        db.session.commit()
        assert [(d.channel, d.status, d.robot_index) for d in kept.deliveries] == [
            ("email", "pending", None), ("wecom", "pending", 0), ("dingtalk", "pending", 1)]
        smtp = summary.smtp_settings(app.config)
        assert all(summary.deliver(delivery, NOW, smtp) for delivery in kept.deliveries)
        summary_id = kept.id

    with app.app_context():
        kept = db.session.get(ReviewSummary, summary_id)
        assert kept.day == TODAY and kept.figures["day"] == "2026-11-30" and kept.created_by.username == "lead"
        assert [(d.status, d.attempts, d.sent_at) for d in kept.deliveries] == [("sent", 1, NOW)] * 3
        assert kept.deliveries[0].target == "部门经理 <head@shop.example>; cc brand@brand.example"
        assert kept.deliveries[1].target.endswith("/cgi-bin/webhook/send?key=***")
        assert kept.deliveries[2].target.endswith("/robot/send?access_token=***")
        events = db.session.scalars(sa.select(TimelineEvent).where(TimelineEvent.subject_type == "review_summary")
                                    .order_by(TimelineEvent.id)).all()
        assert [event.action for event in events] == ["review_summary_created"] + ["review_summary_sent"] * 3
        stored = " ".join(str(event.detail) for event in events) + " ".join(d.target + d.last_error for d in kept.deliveries)
        assert "test-key" not in stored and "test-token" not in stored and DINGTALK_SECRET not in stored
        markdown = kept.markdown

    [(message, rcpt_tos, _authenticated)] = handler.messages
    assert rcpt_tos == ["head@shop.example", "brand@brand.example"]
    assert "2026-11-30" in message["Subject"]
    assert "&lt;script&gt;" in message.get_body(("html",)).get_content()
    assert [request.path for request in robots.requests] == ["/cgi-bin/webhook/send", "/robot/send"]
    assert robots.contents() == [markdown, markdown]  # the DingTalk robot checked the signature, or it would refuse
    assert "2026-11-30" in robots.requests[1].body["markdown"]["title"]


def test_a_failed_robot_and_a_refusing_mail_server_are_retried_until_sent(app, mailbox, robots):
    handler, _port = mailbox
    with app.app_context():
        configure_recipients(robots)
        worklist.form_list(TODAY, at(TODAY, 10), ZONE)
        kept = summary.create(TODAY, None, NOW, ZONE)
        db.session.commit()
        smtp = summary.smtp_settings(app.config)
        email, wecom, dingtalk = kept.deliveries
        robots.replies = [(200, -1)]  # WeCom: "system busy"
        handler.data_reply = "451 4.3.0 Try again later"
        for delivery in kept.deliveries:
            summary.deliver(delivery, NOW, smtp)
        assert (email.status, email.attempts, email.next_attempt_at) == ("failed", 1, NOW + timedelta(minutes=5))
        assert "451" in email.last_error
        assert (wecom.status, wecom.next_attempt_at) == ("failed", NOW + timedelta(minutes=5))
        assert "errcode -1" in wecom.last_error and "test-key" not in wecom.last_error
        assert dingtalk.status == "sent"

        assert summary.retry_due(NOW + timedelta(minutes=4), smtp) == {"sent": 0, "failed": 0}  # not due yet
        handler.data_reply = "250 OK"
        robots.replies = [(200, -1)]  # busy again
        assert summary.retry_due(NOW + timedelta(minutes=5), smtp) == {"sent": 1, "failed": 1}
        assert email.status == "sent" and email.attempts == 2
        assert (wecom.status, wecom.attempts, wecom.next_attempt_at) == ("failed", 2, NOW + timedelta(minutes=20))
        assert summary.retry_due(NOW + timedelta(minutes=20), smtp) == {"sent": 1, "failed": 0}
        assert (wecom.status, wecom.attempts, wecom.next_attempt_at) == ("sent", 3, None)
        assert summary.retry_due(NOW + timedelta(days=1), smtp) == {"sent": 0, "failed": 0}  # nothing sent twice
        actions = db.session.scalars(sa.select(TimelineEvent.action).where(TimelineEvent.subject_type == "review_summary")).all()
        assert actions.count("review_summary_failed") == 3 and actions.count("review_summary_sent") == 3
        markdown = kept.markdown
    assert len(handler.messages) == 1
    assert robots.contents() == [markdown] * 4  # WeCom thrice (busy, busy, taken), DingTalk once


def test_the_backoff_grows_then_stays_at_two_hours():
    assert [summary.backoff(attempt) for attempt in range(1, 8)] == [
        timedelta(minutes=minutes) for minutes in (5, 15, 30, 60, 120, 120, 120)]


def test_a_failure_that_time_cannot_fix_waits_for_a_person_to_resend(make_app, mailbox, robots):
    app = make_app()  # no SMTP_HOST
    with app.app_context():
        configure_recipients(robots, dingtalk_secret="SECwrong-secret")
        kept = summary.create(TODAY, None, NOW, ZONE)
        db.session.commit()
        assert summary.smtp_settings(app.config) is None
        for delivery in kept.deliveries:
            summary.deliver(delivery, NOW, None)
        email, wecom, dingtalk = kept.deliveries
        assert (email.status, email.next_attempt_at, email.last_error) == ("failed", None, summary.NO_MAIL_SERVER)
        assert (dingtalk.status, dingtalk.next_attempt_at) == ("failed", None)
        assert "310000" in dingtalk.last_error and "SECwrong" not in dingtalk.last_error
        assert wecom.status == "sent"

        assert summary.retry_due(NOW + timedelta(days=2), None) == {"sent": 0, "failed": 0}
        assert dingtalk.attempts == 1

        configure_recipients(robots)  # a person fixes the secret and presses resend
        later = NOW + timedelta(hours=1)
        assert summary.resend(dingtalk, user_named("lead"), later) is True
        db.session.commit()
        assert summary.deliver(dingtalk, later, None) is True
        assert (dingtalk.status, dingtalk.attempts, dingtalk.sent_at) == ("sent", 2, later)
        assert summary.resend(dingtalk, user_named("lead"), later) is False  # sent: nothing to do
        assert summary.deliver(dingtalk, later, None) is False
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SummaryDelivery)) == 3  # never deleted
    assert [request.path for request in robots.requests].count("/robot/send") == 2


def test_a_delivery_being_sent_is_not_taken_twice(app, robots):
    with app.app_context():
        set_setting("review_summary_robots", [{"kind": "wecom", "url": wecom_url(robots), "secret": ""}])
        kept = summary.create(TODAY, None, NOW, ZONE)
        db.session.commit()
        [delivery] = kept.deliveries
        assert summary._take(delivery, NOW)  # a scheduler took it and is sending
        assert summary.retry_due(NOW + timedelta(minutes=1), None) == {"sent": 0, "failed": 0}
        assert summary.resend(delivery, user_named("lead"), NOW + timedelta(minutes=1)) is False
        assert summary.deliver(delivery, NOW + timedelta(minutes=1), None) is False
        # the sender died: its lease runs out and the delivery is due again
        assert summary.retry_due(NOW + summary.SENDING_LEASE, None) == {"sent": 1, "failed": 0}
    assert len(robots.requests) == 1


def test_the_robot_message_fits_one_message_with_300_reviews_left(app):
    with app.app_context():
        for number in range(300):
            add_review(at(YESTERDAY, 8) + timedelta(minutes=number), rating=1 + number % 3, text=f"{HOSTILE} 第{number}条" * 3,
                       picture_count=number % 2)
        worklist.form_list(TODAY, at(TODAY, 10), ZONE)
        figures = summary.compose(TODAY, ZONE, NOW)
        text = summary.markdown(figures)
    assert figures["left"]["count"] == 300 and len(figures["left"]["items"]) == 300
    assert len(text.encode("utf-8")) <= 4096 and split_markdown(text) == [text]
    left_block = text.rstrip("\n").split("\n\n")[-1].split("\n")
    shown = [line for line in left_block if line.startswith("- R")]
    assert 0 < len(shown) < 300 and str(300 - len(shown)) in left_block[-1]


def test_robot_urls_are_stored_without_their_keys():
    assert summary.redact_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123") == \
        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"
    assert summary.redact_url("https://user:pw@oapi.dingtalk.com/robot/send?access_token=t0k&x=1") == \
        "https://oapi.dingtalk.com/robot/send?access_token=***&x=1"


def test_smtp_settings_come_from_the_config():
    assert summary.smtp_settings({"SMTP_HOST": ""}) is None
    settings = summary.smtp_settings({"SMTP_HOST": "mail.example", "SMTP_SECURITY": "starttls", "SMTP_SENDER": SENDER,
                                      "SMTP_USERNAME": "robot", "SMTP_PASSWORD": "pw"})
    assert (settings.host, settings.port, settings.security, settings.username) == ("mail.example", 587, "starttls", "robot")
    assert summary.smtp_settings({"SMTP_HOST": "mail.example", "SMTP_PORT": 2525}).port == 2525


def test_the_summary_pages_render_the_fragment_escaped(app, login_as, make_case):
    with app.app_context():
        hand_made_day(make_case)
        kept = summary.create(TODAY, None, NOW, ZONE)
        db.session.commit()
        kept_id = kept.id
    client = login_as("lead")
    html = client.get(f"/reviews/summary/{kept_id}").get_data(as_text=True)
    assert 'id="review-summary"' in html and "&lt;script&gt;alert(1)&lt;/script&gt; **bold**" in html
    assert "<script>alert" not in html
    today = client.get("/reviews/summary")
    assert today.status_code == 200 and 'id="review-summary"' in today.get_data(as_text=True)
