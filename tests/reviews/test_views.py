"""The review worklist as its users meet it: the day's list and its figures, the counter, the steps on a review,
escaping of buyers' text, a case from a review, the lead's settings and templates, the trend, the command line."""

from __future__ import annotations

import csv
import hashlib
import re
from datetime import date, datetime, timedelta

import sqlalchemy as sa

import blueprints.reviews as view_module
from models import Case, ReplyTemplate, Review, ReviewDay, Shop, TimelineEvent, db, get_setting, utcnow
from reviews import worklist
from tests.cases.test_demo_and_queries import counting_queries
from tests.conftest import user_named

HX = {"HX-Request": "true"}
SCRIPT = '<script>alert("x")</script><b>粗体</b>'


def shop_day(app) -> date:
    with app.app_context():
        return worklist.shop_date(utcnow(), app.config["SHOP_TZ"])


def add_reviews(app, count: int = 3, *, text: str = "空调不制冷，客服也不理人", rating: int = 1, list_today: bool = True,
                assignee: str | None = "reviewer", order_no: str = "") -> list[int]:
    """Reviews written yesterday, on today's list (formed), shared to ``assignee``."""
    with app.test_request_context():
        zone = app.config["SHOP_TZ"]
        today = worklist.shop_date(utcnow(), zone)
        shop = db.session.scalar(sa.select(Shop).where(Shop.name == "测试天猫店"))
        ids = []
        first = db.session.scalar(sa.select(sa.func.count()).select_from(Review))
        for number in range(first, first + count):
            written = datetime.combine(today - timedelta(days=1), datetime.min.time(), zone) + timedelta(hours=9, minutes=number)
            review = Review(platform="tmall", shop=shop, rating=rating, text=text, reviewed_at=written,
                            text_digest=hashlib.sha256(f"{text}{number}{written}".encode()).hexdigest(),
                            suggested_cause="质量问题", order_no=order_no or f"TM{number:04d}", buyer_nick="买家甲",
                            list_date=today if list_today else None,
                            assignee=user_named(assignee) if assignee else None)
            db.session.add(review)
            db.session.flush()
            ids.append(review.id)
        if list_today and db.session.get(ReviewDay, today) is None:
            db.session.add(ReviewDay(day=today, formed_at=utcnow(), snapshot_count=count))
        db.session.commit()
        return ids


def counter(client) -> str:
    html = client.get("/counters", headers=HX).get_data(as_text=True)
    return re.search(r'data-counter="reviews">.*?<span class="counter-value">([^<]*)<', html, re.S).group(1)


def step(client, review_id: int, path: str, data: dict, prefix: str):
    with client.application.app_context():
        version = db.session.get(Review, review_id).version
    fields = {f"{prefix}-{name}": value for name, value in {**data, "version": version}.items()}
    fields[f"{prefix}-csrf_token"] = client.csrf_token(f"/reviews/{review_id}")
    return client.post(f"/reviews/{review_id}/{path}", data=fields, headers=HX)


def test_a_reviewer_works_a_review_to_handled_and_the_figures_and_counter_follow(app, login_as):
    first, second = add_reviews(app, 2)
    reviewer = login_as("reviewer")
    page = reviewer.get("/reviews/").get_data(as_text=True)
    assert f'id="review-{first}"' in page and f'id="review-{second}"' in page
    assert counter(reviewer) == "2"
    answer = step(reviewer, first, "contact", {"channel": "phone", "outcome": "resolved", "note": "已换新"}, "contact")
    assert answer.status_code == 200 and "caseChanged" not in answer.headers.get("HX-Trigger", "")
    assert "reviewChanged" in answer.headers["HX-Trigger"]
    answer = step(reviewer, first, "handle", {"outcome": "replied", "reply": "亲，已为您安排换新。", "case_id": "0", "note": ""}, "handle")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    with app.app_context():
        review = db.session.get(Review, first)
        assert (review.state, review.outcome, review.reply_text) == ("handled", "replied", "亲，已为您安排换新。")
        actions = [event.action for event in db.session.scalars(TimelineEvent.for_subject("review", first))]
        assert actions[:2] == ["review_handled", "review_contacted"]
    assert counter(reviewer) == "1"
    html = reviewer.get("/reviews/").get_data(as_text=True)
    assert re.search(r'id="clear-rate">\s*<span class="rate-low">50%', html)


def test_a_reply_over_the_limit_is_refused_with_a_clear_message(app, login_as):
    (review_id,) = add_reviews(app, 1)
    reviewer = login_as("reviewer")
    answer = step(reviewer, review_id, "handle", {"outcome": "replied", "reply": "好" * 501, "case_id": "0"}, "handle")
    body = answer.get_data(as_text=True)
    assert "501" in body and "500" in body
    with app.app_context():
        assert db.session.get(Review, review_id).state == "todo"


def test_a_stale_form_is_refused_not_overwritten(app, login_as):
    (review_id,) = add_reviews(app, 1)
    reviewer = login_as("reviewer")
    token = reviewer.csrf_token(f"/reviews/{review_id}")
    data = {"handle-outcome": "no_action", "handle-note": "无需处理", "handle-case_id": "0", "handle-version": "1",
            "handle-csrf_token": token}
    step(reviewer, review_id, "contact", {"channel": "phone", "outcome": "no_answer"}, "contact")  # version 2 now
    body = reviewer.post(f"/reviews/{review_id}/handle", data=data, headers=HX).get_data(as_text=True)
    assert "Someone else" in body or "刚刚" in body or "之前" in body
    with app.app_context():
        assert db.session.get(Review, review_id).state == "contacted"


def test_buyers_text_is_shown_escaped_on_the_list_and_the_page(app, login_as):
    (review_id,) = add_reviews(app, 1, text=SCRIPT)
    reviewer = login_as("reviewer")
    for url in ("/reviews/", f"/reviews/{review_id}", "/reviews/summary"):
        html = reviewer.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<b>粗体" not in html, url
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in reviewer.get(f"/reviews/{review_id}").get_data(as_text=True)


def test_an_agent_cannot_work_reviews_and_a_reviewer_not_anothers(app, login_as):
    (review_id,) = add_reviews(app, 1, assignee="lead")
    agent = login_as("agent")
    assert step(agent, review_id, "contact", {"channel": "phone", "outcome": "resolved"}, "contact").status_code == 403
    reviewer = app.test_client()
    reviewer.post_form("/auth/login", {"username": "reviewer", "password": "test-pass-123"})
    body = step(reviewer, review_id, "contact", {"channel": "phone", "outcome": "resolved"}, "contact").get_data(as_text=True)
    assert "lead name" in body  # "this review is lead name's; ask a lead"
    with app.app_context():
        assert db.session.get(Review, review_id).state == "todo"


def test_a_lead_forms_todays_list_by_hand_and_moves_a_review(app, login_as):
    add_reviews(app, 2, list_today=False, assignee=None)
    lead = login_as("lead")
    assert "Form today" in lead.get("/reviews/").get_data(as_text=True) or "立即生成" in lead.get("/reviews/").get_data(as_text=True)
    assert lead.post_form("/reviews/form-list", {}, ).status_code == 302
    with app.app_context():
        listed = db.session.get(ReviewDay, shop_day(app))
        assert listed.snapshot_count == 2 and listed.formed_by.username == "lead"
        review_id = db.session.scalar(sa.select(Review.id).where(Review.assignee_id == user_named("reviewer").id).limit(1))
    step(lead, review_id, "assign", {"assignee_id": str(user_named_id(app, "manager"))}, "assign")
    with app.app_context():
        assert db.session.get(Review, review_id).assignee.username == "manager"


def user_named_id(app, name: str) -> int:
    with app.app_context():
        return user_named(name).id


def test_opening_a_case_from_a_review_prefills_and_links_both(app, login_as):
    (review_id,) = add_reviews(app, 1, order_no="TM-CASE-1", text="安装师傅乱收费")
    reviewer = login_as("lead")
    form = reviewer.get(f"/reviews/{review_id}/case").get_data(as_text=True)
    assert 'value="TM-CASE-1"' in form and 'value="买家甲"' in form
    assert re.search(r'<option selected value="fault_in_use">|<option value="fault_in_use" selected>', form)
    with app.app_context():
        shop_id = db.session.scalar(sa.select(Shop.id).where(Shop.name == "测试天猫店"))
        version = db.session.get(Review, review_id).version
    response = reviewer.post_form(f"/reviews/{review_id}/case", {
        "shop_id": shop_id, "order_no": "TM-CASE-1", "buyer_nick": "买家甲", "kind": "complaint", "category": "install",
        "priority": "1", "assignee_id": "0", "order_amount": "2999", "summary": "评价转工单", "review_version": version})
    assert response.status_code == 302, response.get_data(as_text=True)
    case_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    with app.app_context():
        assert db.session.get(Review, review_id).case_id == case_id
        assert db.session.get(Case, case_id).order_no == "TM-CASE-1"
    page = reviewer.get(f"/reviews/{review_id}").get_data(as_text=True)
    assert f"/cases/{case_id}" in page


def test_a_template_offering_money_for_a_review_cannot_be_saved(app, login_as):
    lead = login_as("lead")
    token = lead.csrf_token("/reviews/templates")
    refused = lead.post("/reviews/templates/0", data={"t0-body": "给个好评返现5元", "t0-csrf_token": token}, headers=HX)
    assert "好评返现" in refused.get_data(as_text=True)
    saved = lead.post("/reviews/templates/0", data={"t0-body": "已为您安排质检换新。", "t0-csrf_token": token}, headers=HX)
    assert saved.status_code == 200
    with app.app_context():
        assert db.session.get(ReplyTemplate, "质量问题").body == "已为您安排质检换新。"
    (review_id,) = add_reviews(app, 1)
    draft = login_as("lead").get(f"/reviews/{review_id}").get_data(as_text=True)
    assert "已为您安排质检换新。" in draft  # the reply is drafted from the opening, the template and the closing


def test_settings_save_windows_causes_and_recipients_and_keep_a_robots_secret(app, login_as):
    lead = login_as("lead")
    page = lead.get("/reviews/settings").get_data(as_text=True)
    assert 'name="window_tmall_chars"' in page and 'value="500"' in page
    data = {"list_time": "09:30", "summary_time": "18:00", "assignment": "round_robin", "causes": "质量问题\n物流\n其他",
            "opening": "您好", "closing": "祝好", "emails": "head@example.com", "cc": "brand@example.com",
            "robots": "dingtalk https://oapi.dingtalk.com/robot/send?access_token=abc SECsecret"}
    for platform in ("tmall", "taobao", "jd_pop", "jd_self", "jd_used", "suning", "douyin", "pdd", "distributor"):
        data.update({f"window_{platform}_chars": "500", f"window_{platform}_days": "30", f"window_{platform}_follow_up": "y"})
    data["window_jd_pop_chars"] = "300"
    assert lead.post_form("/reviews/settings", data).status_code == 302
    page = lead.get("/reviews/settings").get_data(as_text=True)
    assert "SECsecret" not in page
    data["robots"] = "dingtalk https://oapi.dingtalk.com/robot/send?access_token=abc"
    assert lead.post_form("/reviews/settings", data).status_code == 302
    with app.app_context():
        assert get_setting("review_summary_robots")[0]["secret"] == "SECsecret"
        assert get_setting("review_windows") == {"jd_pop": {"max_chars": 300, "days": 30, "closes_at_follow_up": True}}
        assert get_setting("review_causes") == ["质量问题", "物流", "其他"]
    data["causes"] = "质量问题\n物流"
    assert "其他" in lead.post_form("/reviews/settings", data).get_data(as_text=True)  # 其他 must stay


def test_the_worklist_poll_is_204_until_something_changes_and_queries_do_not_grow(app, login_as):
    first = add_reviews(app, 3)[0]
    reviewer = login_as("reviewer")
    page = reviewer.get("/reviews/", headers=HX).get_data(as_text=True)
    url = re.search(r'id="review-worklist"[^>]*hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert reviewer.get(url, headers=HX).status_code == 204
    with counting_queries(app) as few:
        reviewer.get("/reviews/?who=all", headers=HX)
    add_reviews(app, 30)
    with counting_queries(app) as many:
        reviewer.get("/reviews/?who=all", headers=HX)
    assert len(many) == len(few)
    assert reviewer.get(url, headers=HX).status_code == 204  # written without the timeline: nobody was told
    step(reviewer, first, "contact", {"channel": "phone", "outcome": "no_answer"}, "contact")
    assert reviewer.get(url, headers=HX).status_code == 200


def test_the_trend_page_draws_an_svg_without_a_script(app, login_as):
    add_reviews(app, 2)
    html = login_as("lead").get("/reviews/trend").get_data(as_text=True)
    assert "<svg" in html and "<polyline" in html and "质量问题" in html and "cdn" not in html.lower()


def test_suggest_causes_command_writes_one_default_cause_per_row(app, tmp_path):
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("source_id,text\n1,快递太慢了一个星期才到\n2,屏幕有坏点\n", encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["reviews", "suggest-causes", str(source), str(target)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(target.open(encoding="utf-8-sig")))
    assert [row["source_id"] for row in rows] == ["1", "2"]
    assert all(row["cause"] in worklist.DEFAULT_CAUSES for row in rows) and rows[0]["cause"] == "物流"


def test_a_long_list_is_paged_and_nothing_is_lost(app, login_as, monkeypatch):
    monkeypatch.setattr(view_module, "LIST_LIMIT", 2)
    ids = add_reviews(app, 3)
    reviewer = login_as("reviewer")
    first = reviewer.get("/reviews/").get_data(as_text=True)
    second = reviewer.get("/reviews/?page=2").get_data(as_text=True)
    shown = [review_id for review_id in ids if f'id="review-{review_id}"' in first]
    rest = [review_id for review_id in ids if f'id="review-{review_id}"' in second]
    assert len(shown) == 2 and len(rest) == 1 and set(shown + rest) == set(ids)
    assert "page=2" in first and "page=3" not in second


def test_before_todays_list_forms_the_worklist_opens_on_the_latest_list(app, login_as):
    with app.test_request_context():
        zone = app.config["SHOP_TZ"]
        today = worklist.shop_date(utcnow(), zone)
        yesterday = today - timedelta(days=1)
        shop = db.session.scalar(sa.select(Shop).where(Shop.name == "测试天猫店"))
        written = datetime.combine(yesterday - timedelta(days=1), datetime.min.time(), zone) + timedelta(hours=9)
        review = Review(platform="tmall", shop=shop, rating=1, text="昨天的差评还没处理完", reviewed_at=written,
                        text_digest="y" * 64, suggested_cause="质量问题", list_date=yesterday,
                        assignee=user_named("reviewer"))
        db.session.add_all([review, ReviewDay(day=yesterday, formed_at=utcnow(), snapshot_count=1)])
        db.session.commit()
        review_id = review.id
    reviewer = login_as("reviewer")
    page = reviewer.get("/reviews/").get_data(as_text=True)
    assert f'id="review-{review_id}"' in page and yesterday.isoformat() in page
    chosen = reviewer.get(f"/reviews/?day={today.isoformat()}").get_data(as_text=True)
    assert f'id="review-{review_id}"' not in chosen  # asking for today shows today's (not formed) list
