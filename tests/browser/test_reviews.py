"""The negative-review worklist (差评日清) in a real Chromium: a reviewer clears the day's list and a lead sends the
summary to a real SMTP server and a fake group robot; a half-written reply survives a refresh; a reply too long for
the marketplace is refused in the flash area; accessibility and phone fit; nothing is fetched from elsewhere."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from models import Review, ReviewSummary, db, get_setting, set_setting, utcnow
from reviews import summary as review_summary
from reviews import worklist
from tests.browser.conftest import axe_violations, format_violations, log_in
from tests.conftest import DINGTALK_SECRET, LOCALHOST, dingtalk_url, user_named
from tests.reviews.test_views import add_reviews

POLL_SECONDS = 2
LIVE = (3 * POLL_SECONDS + 2) * 1000  # a change made elsewhere shows within a few polls, or the test fails
LAPTOP, PHONE = {"width": 1366, "height": 768}, {"width": 390, "height": 844}
SENDER = "客服中心 <service@shop.example>"
HOSTILE = "<script>alert(1)</script><b>差评</b>空调不制冷，客服也不理人"
TMALL_MAX = 500


@pytest.fixture
def app(make_app, mailbox):
    """Every app here sends its mail through the local aiosmtpd server (the summary's config keys)."""
    _handler, port = mailbox
    return make_app(SMTP_HOST=LOCALHOST, SMTP_PORT=port, SMTP_SENDER=SENDER)


@pytest.fixture
def fast_polls(app):
    """Set before any page loads: the live regions render their poll interval into hx-trigger."""
    with app.app_context():
        set_setting("poll_seconds", POLL_SECONDS)
        db.session.commit()


def add_review(app, text: str, rating: int = 1, **values) -> int:
    """One review of yesterday on today's list, shared to the reviewer (Tmall: replies of at most 500 characters)."""
    (review_id,) = add_reviews(app, 1, text=text, rating=rating, **values)
    return review_id


def review_state(app, review_id: int) -> str:
    with app.app_context():
        return db.session.get(Review, review_id).state


# Counts the review page's refreshes once they have settled; app.js puts back what was typed only then.
COUNT_SETTLES = """document.addEventListener("htmx:afterSettle", (event) => {
  if (event.detail.target && event.detail.target.id === "review-live") window.reviewSettles = (window.reviewSettles || 0) + 1;
});"""


def take_step(page, step: str, flash: str) -> None:
    """Press a step's button on the review page; its answer lands in the flash area, then the page refreshes.

    Waits for that refresh to settle: app.js puts back the fields it kept across the swap at htmx:afterSettle,
    20 ms after the swap, and it keeps an untouched <select> with no selected option too, so a choice made in
    between would be undone.
    """
    before = page.evaluate("window.reviewSettles || 0")
    page.locator(f"#{step}-form button[type=submit]").click()
    expect(page.locator("#flash")).to_contain_text(flash)
    page.wait_for_function("before => (window.reviewSettles || 0) > before", arg=before)


def open_from_list(page, review_id: int) -> None:
    page.locator(f"#review-{review_id} a[href$='/reviews/{review_id}']").click()
    page.wait_for_url(f"**/reviews/{review_id}")


def back_to_list(page, left: int) -> None:
    """Back through the breadcrumb; the list and the header's number both say how many are left."""
    page.locator(".breadcrumbs a[href$='/reviews/']").click()
    page.wait_for_url(re.compile(r"/reviews/$"))
    expect(page.locator("#reviews-left")).to_have_text(str(left))
    expect(page.locator("#header-counters [data-counter=reviews] .counter-value")).to_have_text(str(left))
    expect(page.locator("#review-worklist tr.review-row")).to_have_count(left)


def test_a_reviewer_clears_the_days_list_and_a_lead_sends_the_summary(app, fast_polls, make_case, mailbox, robots, page):
    hostile = add_review(app, HOSTILE, rating=1)
    late_parcel = add_review(app, "快递太慢，一个星期才到，外箱都压扁了", rating=2)
    middle = add_review(app, "还行吧，就是噪音有点大", rating=3)
    broken = add_review(app, "收到就坏了，开机没反应", rating=1, order_no="TM-BROKEN-1")
    case_id = make_case(order_no="TM-BROKEN-1")  # the same Tmall order: the review links it
    with app.app_context():
        opening, closing = get_setting("review_reply_opening"), get_setting("review_reply_closing")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.add_init_script(COUNT_SETTLES)

    log_in(page, "reviewer")
    page.locator("nav.areas a[href$='/reviews/']").click()
    page.wait_for_url(re.compile(r"/reviews/$"))
    expect(page.locator("#review-worklist tr.review-row")).to_have_count(4)
    expect(page.locator("#header-counters [data-counter=reviews] .counter-value")).to_have_text("4")
    expect(page.locator("#clear-rate")).to_have_text("0%")
    expect(page.locator(f"#review-{hostile} .review-text")).to_contain_text("<script>alert(1)</script><b>差评</b>")

    # 1 star, written with markup: shown as text; a phone call, then a reply drafted from the brand's lines
    open_from_list(page, hostile)
    text = page.locator("#review-text")
    assert "<script>alert(1)</script><b>差评</b>" in text.text_content()
    expect(text.locator("script, b")).to_have_count(0)
    assert page.evaluate("[...document.scripts].map(s => s.src.split(\"/\").pop())") == ["htmx-2.0.11.min.js", "app.js", "notify.js"]  # nothing added
    page.select_option("#contact-channel", "phone")
    page.select_option("#contact-outcome", "resolved")
    page.fill("#contact-note", "已电话联系，同意上门换新")
    take_step(page, "contact", "联系已记录")
    expect(page.locator("#review-contacts-title .count")).to_have_text("1")
    expect(page.locator("#review-live .contacts")).to_contain_text("已电话联系，同意上门换新")
    expect(page.locator("#review-live .state-badge")).to_have_text("已联系")
    reply = page.locator("#handle-reply")
    draft = reply.input_value()
    assert draft.startswith(opening) and draft.endswith(closing), draft
    expect(page.locator("#handle-outcome")).to_have_value("replied")
    posted = opening + "已为您安排上门换新，给您添麻烦了。" + closing
    reply.fill(posted)
    take_step(page, "handle", "已处理")
    expect(page.locator("#review-live .state-badge")).to_contain_text("已处理")
    expect(page.locator("#review-live .facts")).to_contain_text("已为您安排上门换新")
    expect(page.locator("#handle-form")).to_have_count(0)  # handled: the reopen form instead
    assert "<script>alert(1)</script>" in page.locator("#review-text").text_content()  # still text after the swap
    back_to_list(page, 3)

    # 2 stars about the courier: the suggested cause corrected, no action with the reason
    open_from_list(page, late_parcel)
    expect(page.locator("#set_cause-cause")).to_have_value("质量问题")  # the suggestion comes selected
    page.select_option("#set_cause-cause", "物流")
    take_step(page, "set_cause", "原因已保存")
    expect(page.locator("#review-cause-title + p")).to_contain_text("已确认：物流")
    page.select_option("#handle-outcome", "no_action")
    page.fill("#handle-note", "买家已签收，物流延误已向快递投诉")
    take_step(page, "handle", "已处理")
    expect(page.locator("#review-live .state-badge")).to_contain_text("已处理")
    back_to_list(page, 2)

    # 3 stars: the suggested cause confirmed as it is, the drafted reply posted unchanged
    open_from_list(page, middle)
    take_step(page, "set_cause", "原因已保存")
    expect(page.locator("#review-cause-title + p")).to_contain_text("已确认：质量问题")
    expect(page.locator("#handle-reply")).to_have_value(draft)
    take_step(page, "handle", "已处理")
    expect(page.locator("#review-live .state-badge")).to_contain_text("已处理")
    back_to_list(page, 1)

    # dead on arrival: linked to the case already open for the same order
    open_from_list(page, broken)
    page.select_option("#handle-outcome", "case")
    page.select_option("#handle-case_id", str(case_id))
    take_step(page, "handle", "已处理")
    expect(page.locator("#review-live .state-badge")).to_contain_text("已处理")
    expect(page.locator(f"#review-live .facts a[href$='/cases/{case_id}']")).to_have_count(1)
    back_to_list(page, 0)
    expect(page.locator("#review-worklist .empty")).to_be_visible()
    expect(page.locator("#clear-rate")).to_have_text("100%")
    page.select_option("#filter-state", "handled")
    page.locator("form.filters button[type=submit]").click()
    expect(page.locator("#review-worklist tr.review-row")).to_have_count(4)
    expect(page.locator(f"#review-{hostile} .review-text")).to_contain_text("<script>alert(1)</script>")
    expect(page.locator("main script, main b")).to_have_count(0)
    assert dialogs == []

    with app.app_context():
        handled = {review.id: review for review in db.session.scalars(sa.select(Review))}
        assert {review.state for review in handled.values()} == {"handled"}
        assert (handled[hostile].outcome, handled[hostile].reply_text) == ("replied", posted)
        assert (handled[late_parcel].outcome, handled[late_parcel].cause) == ("no_action", "物流")
        assert (handled[middle].outcome, handled[middle].reply_text) == ("replied", draft)
        assert (handled[broken].outcome, handled[broken].case_id) == ("case", case_id)

    # the lead sets where the summary goes, then sends it by hand
    page.locator("header form[action$='/auth/logout'] button").click()
    log_in(page, "lead")
    page.goto("/reviews/")
    page.locator(".page-head a[href$='/reviews/settings']").click()
    page.wait_for_url("**/reviews/settings")
    page.fill("#emails", "head@shop.example")
    page.fill("#cc", "brand@brand.example")
    page.fill("#robots", f"dingtalk {dingtalk_url(robots)} {DINGTALK_SECRET}")
    page.locator("main form button[type=submit].primary").click()
    expect(page.locator("#flash")).to_contain_text("差评日清设置已保存")
    expect(page.locator("#robots")).to_have_value(f"dingtalk {dingtalk_url(robots)}")  # the secret is kept, not shown

    page.goto("/reviews/")
    page.locator(".page-head a[href$='/reviews/summary']").click()
    page.wait_for_url("**/reviews/summary")
    expect(page.locator("#review-summary")).to_contain_text("100%")
    page.locator("form[action$='/reviews/summary/send'] button[type=submit]").click()
    expect(page.locator("#flash")).to_contain_text("汇总已发送并保存")

    day = worklist.shop_date(utcnow(), app.config["SHOP_TZ"]).isoformat()
    handler, _port = mailbox
    assert len(handler.messages) == 1
    message, recipients, _authenticated = handler.messages[0]
    assert day in message["Subject"]
    assert sorted(recipients) == ["brand@brand.example", "head@shop.example"]
    html = message.get_body(("html",)).get_content()
    assert "100%" in html and "<script" not in html
    assert len(robots.requests) == 1
    robot = robots.requests[0]
    assert robot.path == "/robot/send" and robot.body["msgtype"] == "markdown"
    assert day in robots.contents()[0] and "<script>" not in robots.contents()[0]

    kept = page.locator("#kept-title ~ .table-wrap tbody tr")
    expect(kept).to_have_count(1)
    expect(kept.locator("td").first).to_have_text(day)
    expect(kept.locator("li.delivery-sent")).to_have_count(2)
    expect(kept.locator("li.delivery-sent", has_text="head@shop.example")).to_contain_text("已发送")
    expect(kept.locator("li.delivery-sent", has_text="dingtalk")).to_contain_text("已发送")
    expect(kept.locator("li.delivery-failed, li.delivery-pending")).to_have_count(0)
    assert "test-token" not in page.content()  # the robot's access token is shown masked
    with app.app_context():
        (summary,) = db.session.scalars(sa.select(ReviewSummary)).all()
        assert summary.figures["overall"]["clear_rate"] == 1.0
        assert {delivery.status for delivery in summary.deliveries} == {"sent"}


def lead_contacts(app, review_id: int, channel: str, outcome: str, note: str) -> None:
    """The lead reaches the same buyer meanwhile, through the worklist's rules (a timeline event: pages refresh)."""
    with app.test_request_context():
        worklist.record_contact(db.session.get(Review, review_id), user_named("lead"), channel, outcome, note, utcnow(), utcnow())
        db.session.commit()


def test_a_half_written_reply_survives_a_refresh(app, fast_polls, page):
    review_id = add_review(app, "空调不制冷，客服也不理人")
    page.add_init_script(COUNT_SETTLES)
    log_in(page, "reviewer")
    page.goto(f"/reviews/{review_id}")
    page.evaluate("window.__sameDocument = true")
    reply = page.locator("#handle-reply")
    half = reply.input_value() + "您反馈的不制冷问题，我们已安排"
    reply.fill(half)
    reply.press("End")

    lead_contacts(app, review_id, "chat", "explained", "旺旺已解释")
    contacts = page.locator("#review-contacts-title .count")
    expect(contacts).to_have_text("1", timeout=LIVE)  # the poll brought it
    expect(page.locator("#review-live .contacts")).to_contain_text("lead name")
    expect(page.locator("#review-live .state-badge")).to_have_text("已联系")
    expect(reply).to_have_value(half)
    assert page.evaluate("document.activeElement.id") == "handle-reply"

    reply.press_sequentially("师傅")
    lead_contacts(app, review_id, "phone", "no_answer", "电话未接通")
    page.evaluate("htmx.trigger('#review-live', 'refresh')")  # a refresh asked for at once (the poll may come first)
    expect(contacts).to_have_text("2")
    expect(reply).to_have_value(half + "师傅")
    assert page.evaluate("document.activeElement.id") == "handle-reply"
    assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"

    # the refreshed form carries the review's new version: finishing the reply is not refused as stale
    reply.press_sequentially("上门检修。")
    take_step(page, "handle", "已处理")
    expect(page.locator("#review-live .state-badge")).to_contain_text("已处理")
    with app.app_context():
        assert db.session.get(Review, review_id).reply_text == half + "师傅上门检修。"


def test_a_reply_over_the_tmall_limit_is_refused_in_the_flash_area(app, page):
    review_id = add_review(app, "屏幕有坏点")
    page.add_init_script(COUNT_SETTLES)
    log_in(page, "reviewer")
    page.goto(f"/reviews/{review_id}")
    expect(page.locator("#handle-reply")).to_have_attribute("data-max-chars", str(TMALL_MAX))
    too_long = "好" * (TMALL_MAX + 1)
    page.fill("#handle-reply", too_long)
    page.locator("#handle-form button[type=submit]").click()
    refusal = page.locator("#flash .flash-error[role=alert]")
    expect(refusal).to_contain_text(f"回复有 {TMALL_MAX + 1} 个字")
    expect(refusal).to_contain_text(f"最多允许 {TMALL_MAX} 个字")
    expect(page.locator("#review-live .state-badge")).to_have_text("待处理")
    expect(page.locator("#handle-reply")).to_have_value(too_long)  # nothing typed is lost
    assert review_state(app, review_id) == "todo"

    page.fill("#handle-reply", "好" * TMALL_MAX)  # exactly the limit is allowed
    take_step(page, "handle", "已处理")
    expect(page.locator("#review-live .state-badge")).to_contain_text("已处理")
    assert review_state(app, review_id) == "handled"


def test_the_header_counter_follows_a_handled_review_at_once(app, page):
    """The header's number refreshes on the review's own event, as it does on a case's or a handoff's."""
    with app.app_context():
        set_setting("poll_seconds", 60)  # so that only the event, not a poll, can bring the new number in time
        db.session.commit()
    review_id = add_review(app, "客服态度差", rating=2)
    page.add_init_script(COUNT_SETTLES)
    log_in(page, "reviewer")
    page.goto(f"/reviews/{review_id}")
    counter = page.locator("#header-counters [data-counter=reviews] .counter-value")
    expect(counter).to_have_text("1")
    page.select_option("#handle-outcome", "no_action")
    page.fill("#handle-note", "买家只是抱怨，无需处理")
    take_step(page, "handle", "已处理")
    expect(counter).to_have_text("0", timeout=5_000)


def seed_for_pages(app, mailbox) -> dict:
    """Open and handled reviews (one hostile, one long), and a kept summary whose mail was refused."""
    handler, _port = mailbox
    ids = {
        "open": add_review(app, HOSTILE),
        "long": add_review(app, "质量太差了，" * 40 + "订单号TM20261130123456789012345678 SKU:AC-35GW/BP3DN8Y-MX01", rating=2),
        "handled": add_review(app, "快递太慢", rating=2),
    }
    with app.test_request_context():
        now, zone = utcnow(), app.config["SHOP_TZ"]
        review = db.session.get(Review, ids["handled"])
        worklist.record_contact(review, user_named("reviewer"), "phone", "resolved", "已解释", now, now)
        worklist.handle(review, user_named("reviewer"), "replied", now, reply="亲，物流延误给您添麻烦了。")
        set_setting("review_summary_emails", ["head@shop.example"])
        db.session.commit()
        handler.refuse.add("head@shop.example")
        kept = review_summary.create(worklist.shop_date(now, zone), user_named("lead"), now, zone)
        db.session.commit()
        review_summary.deliver(kept.deliveries[0], now, review_summary.smtp_settings(app.config))
        ids["summary"] = kept.id
    return ids


def test_review_pages_pass_axe_at_laptop_size(app, mailbox, page):
    ids = seed_for_pages(app, mailbox)
    page.set_viewport_size(LAPTOP)
    log_in(page, "lead")  # a lead sees every form: settings, templates, moving a review, sending the summary
    paths = ["/reviews/", "/reviews/?state=all", f"/reviews/{ids['open']}", f"/reviews/{ids['handled']}",
             "/reviews/summary", f"/reviews/summary/{ids['summary']}", "/reviews/trend", "/reviews/settings",
             "/reviews/templates", "/reviews/import/"]
    for path in paths:
        page.goto(path)
        violations = axe_violations(page)
        assert violations == [], f"{path}: {format_violations(violations)}"
    page.goto("/reviews/summary")
    expect(page.locator("li.delivery-failed")).to_contain_text("未发送")  # the failed delivery was on the page checked


@pytest.mark.parametrize("username", ["reviewer", "lead"])
def test_the_worklist_and_a_review_fit_a_phone(app, mailbox, page, username):
    ids = seed_for_pages(app, mailbox)
    page.set_viewport_size(PHONE)
    log_in(page, username)
    for path in ("/reviews/?state=all", f"/reviews/{ids['long']}", f"/reviews/{ids['open']}", f"/reviews/{ids['handled']}"):
        page.goto(path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, f"{path} is {width}px wide on a {PHONE['width']}px phone"


def test_review_pages_pass_axe_on_a_phone(app, mailbox, page):
    ids = seed_for_pages(app, mailbox)
    page.set_viewport_size(PHONE)
    log_in(page, "lead")
    found = {}
    for path in ("/reviews/?state=all", f"/reviews/{ids['long']}", f"/reviews/{ids['handled']}", "/reviews/summary",
                 "/reviews/trend"):
        page.goto(path)
        found[path] = axe_violations(page)
    assert not any(found.values()), format_violations(found)


def test_the_trend_chart_is_inline_svg_and_nothing_leaves_the_machine(app, page):
    for text, cause in (("快递太慢", "物流"), ("屏幕有坏点", None), ("客服态度差", "服务态度")):
        review_id = add_review(app, text)
        if cause:
            with app.test_request_context():
                worklist.set_cause(db.session.get(Review, review_id), cause, user_named("reviewer"))
                db.session.commit()
    requested = []
    page.context.on("request", lambda request: requested.append(request.url))
    log_in(page, "reviewer")
    page.goto("/reviews/")
    page.locator(".page-head a[href$='/reviews/trend']").click()
    page.wait_for_url("**/reviews/trend")
    page.wait_for_load_state("networkidle")

    chart = page.locator("figure.trend > svg.trend-chart")
    expect(chart).to_have_count(1)  # drawn in the page itself, not an <img>, <object> or a script's canvas
    expect(chart.locator("polyline")).to_have_count(3)
    expect(page.locator(".trend-table tbody tr")).to_have_count(3)
    expect(page.locator("main img, main object, main embed, main iframe, main canvas")).to_have_count(0)
    sources = page.eval_on_selector_all("script[src], link[href]", "nodes => nodes.map(n => n.src || n.href)")
    assert all(urlsplit(source).hostname == "127.0.0.1" for source in sources), sources
    assert requested and {urlsplit(url).hostname for url in requested} == {"127.0.0.1"}, requested
