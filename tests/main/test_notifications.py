"""The header as a person's signal (issue #13, point 4): the tab title's number, the newest urgent item each
counter announces, the switches for sound and browser notification, counters that agree with their pages, and
"my requests have a result" that names the request and clears once seen."""

from __future__ import annotations

import hashlib
import html as html_lib
import re
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from handoffs import flow as handoff_flow
from models import Case, Compensation, Review, ReviewDay, Shop, Team, TimelineEvent, db, utcnow
from reviews import worklist
from tests.conftest import TEST_PASSWORD, in_english, user_named

HX = {"HX-Request": "true"}


def client_for(app, username):
    client = app.test_client()
    assert client.post_form("/auth/login", {"username": username, "password": TEST_PASSWORD}).status_code == 302
    return client


def header(client) -> str:
    response = client.get("/counters", headers=HX)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def region_attribute(html: str, name: str) -> str:
    return re.search(rf'id="header-counters"[^>]*\b{name}="([^"]*)"', html, re.S).group(1)


def counter_of(html: str, key: str) -> dict:
    """One counter of the header: its value, its news attributes, its link and its detail line."""
    anchor = re.search(rf'<a class="counter[^"]*"([^>]*)data-counter="{key}">(.*?)</a>', html, re.S)
    assert anchor, f"no counter {key}"
    attributes, body = anchor.group(1), anchor.group(2)

    def attribute(name):
        found = re.search(rf'\b{name}="([^"]*)"', attributes)
        return html_lib.unescape(found.group(1)) if found else None

    detail = re.search(r'class="counter-detail">([^<]*)<', body)
    return {
        "value": re.search(r'class="counter-value">([^<]*)<', body).group(1),
        "marker": attribute("data-news-marker"), "text": attribute("data-news-text"), "url": attribute("data-news-url"),
        "href": attribute("href"), "detail": html_lib.unescape(detail.group(1)) if detail else None,
    }


def ask(client, case_id, amount):
    response = client.post_form(f"/compensation/case/{case_id}", {"amount": amount, "reason": "goodwill", "payout": "alipay"},
                                headers=HX)
    assert response.status_code == 200
    with client.application.app_context():
        return db.session.scalar(sa.select(Compensation).where(Compensation.case_id == case_id)
                                 .order_by(Compensation.id.desc()))


def assign(client, app, case_id, username):
    with app.app_context():
        case = db.session.get(Case, case_id)
        data = {"assignee_id": user_named(username).id, "version": case.version}
    response = client.post_form(f"/cases/{case_id}/assign", data, headers=HX)
    assert response.status_code == 200, response.get_data(as_text=True)


def overdue(app, case_id):
    """Put a case's nearest deadline in the past, as an import of an old order does."""
    with app.app_context():
        case = db.session.get(Case, case_id)
        case.next_due_at = utcnow() - timedelta(minutes=5)
        case.next_risk_at = utcnow() - timedelta(minutes=30)
        db.session.commit()


# --- the tab title ---------------------------------------------------------------------------------------

def test_the_title_counts_the_work_waiting_for_me_and_not_news_about_my_requests(app, make_case):
    agent = client_for(app, "agent")
    assert region_attribute(header(agent), "data-title-count") == "0"
    overdue(app, make_case(assignee="agent"))
    overdue(app, make_case(assignee="agent"))
    overdue(app, make_case(assignee="agent2"))  # someone else's: not mine
    html = header(agent)
    assert counter_of(html, "overdue")["value"] == "2"
    assert region_attribute(html, "data-title-count") == "2"

    # A handoff to my team waits for me too; a decision on my own request is news, not work.
    warehouse = client_for(app, "warehouse")
    with app.app_context():
        team = db.session.scalar(sa.select(Team).where(Team.function == "warehouse"))
        handoff_flow.raise_handoff(kind="warehouse", raiser=user_named("agent"), owed_team=team, request="请确认退货入库",
                                   now=utcnow(), order_no="TB9001")
        db.session.commit()
    assert region_attribute(header(warehouse), "data-title-count") == "1"

    case_id = make_case(assignee="agent")
    item = ask(agent, case_id, "50")
    lead = client_for(app, "lead")
    assert region_attribute(header(lead), "data-title-count") == "1"  # the approval waiting for the lead
    lead.post_form(f"/compensation/{item.id}/reject", {"note": "超出标准", "version": item.version}, headers=HX)
    html = header(agent)
    assert counter_of(html, "decisions")["value"] == "1"
    assert region_attribute(html, "data-title-count") == "2"  # still the two overdue cases only


def test_the_header_carries_the_switches_and_loads_notify_js_without_inline_script(app, login_as):
    agent = login_as("agent")
    html = header(agent)
    assert region_attribute(html, "data-sound") == "off" and region_attribute(html, "data-notify") == "off"
    page = agent.get("/cases/").get_data(as_text=True)
    assert '<script src="/static/notify.js" defer></script>' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page)  # the CSP forbids inline script
    assert 'href="/auth/notifications"' in page
    # Not data-live: app.js would stop its polls in a hidden tab, where the title and the sound matter most.
    assert "data-live" not in re.search(r'<div id="header-counters"[^>]*>', html).group(0)


# --- the switches ---------------------------------------------------------------------------------------

def test_a_person_switches_sound_and_notification_on_and_the_change_is_recorded(app, login_as):
    agent = in_english(login_as("agent"))
    page = agent.get("/auth/notifications").get_data(as_text=True)
    assert "Play a short sound" in page and "Show a browser notification" in page
    assert "data-notification-permission" in page and 'id="notification-permission-state"' in page
    with app.app_context():
        version = user_named("agent").version
    response = agent.post_form("/auth/notifications", {"sound": "y", "browser": "y", "version": version})
    assert response.status_code == 302
    assert "Notification settings saved." in agent.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        user = user_named("agent")
        assert user.notify_sound and user.notify_browser
        event = db.session.scalar(sa.select(TimelineEvent).where(TimelineEvent.subject_type == "user",
                                                                 TimelineEvent.subject_id == user.id,
                                                                 TimelineEvent.action == "updated"))
        assert event.actor_id == user.id
        assert event.detail["changes"] == {"notify_sound": [False, True], "notify_browser": [False, True]}
        version = user.version
    html = header(agent)
    assert region_attribute(html, "data-sound") == "on" and region_attribute(html, "data-notify") == "on"

    # Off again (an unticked box is not sent); a stale form changes nothing.
    assert agent.post_form("/auth/notifications", {"sound": "y", "version": version}).status_code == 302
    stale = agent.post_form("/auth/notifications", {"browser": "y", "version": version})
    assert stale.status_code == 200 and "another tab" in stale.get_data(as_text=True)
    with app.app_context():
        user = user_named("agent")
        assert user.notify_sound and not user.notify_browser


def test_the_switches_are_off_for_everyone_by_default_and_a_get_changes_nothing(app, login_as):
    agent = login_as("agent")
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.max(TimelineEvent.id)))
        assert not user_named("agent").notify_sound and not user_named("agent").notify_browser
    assert agent.get("/auth/notifications").status_code == 200
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.max(TimelineEvent.id))) == before


# --- news: the newest urgent item, announced once -------------------------------------------------------------

def test_a_case_assigned_to_me_by_someone_else_is_news_named_by_its_order(app, make_case):
    agent, lead = in_english(client_for(app, "agent")), client_for(app, "lead")
    start = counter_of(header(agent), "overdue")
    assert start["marker"] == "0" and start["text"] == ""  # nothing yet: the browser's starting point
    case_id = make_case()
    assign(lead, app, case_id, "agent")
    news = counter_of(header(agent), "overdue")
    with app.app_context():
        order_no = db.session.get(Case, case_id).order_no
    assert int(news["marker"]) > 0 and news["text"] == f"Case {order_no} assigned to you"
    assert news["url"] == f"/cases/{case_id}"
    # The same item again on the next refresh: the same marker, so it is not announced twice.
    assert counter_of(header(agent), "overdue")["marker"] == news["marker"]

    # A case I take myself moves the marker on without anything to announce.
    own = make_case()
    response = agent.post_form(f"/cases/{own}/take", {"version": 1}, headers=HX)
    assert response.status_code == 200
    taken = counter_of(header(agent), "overdue")
    assert int(taken["marker"]) > int(news["marker"]) and taken["text"] == ""


def test_a_new_request_over_my_limit_is_news_for_the_approver(app, make_case):
    agent, lead = client_for(app, "agent"), in_english(client_for(app, "lead"))
    assert counter_of(header(lead), "approvals")["marker"] == "0"
    case_id = make_case()
    item = ask(agent, case_id, "50")
    news = counter_of(header(lead), "approvals")
    assert news["marker"] == str(item.id)
    assert news["text"] == f"Compensation ¥50.00 ({item.order_no}) waits for your decision"
    assert news["url"] == f"/compensation/#approval-{item.id}"


def test_a_handoff_to_my_team_is_news(app, login_as):
    with app.app_context():
        team = db.session.scalar(sa.select(Team).where(Team.function == "warehouse"))
        item = handoff_flow.raise_handoff(kind="warehouse", raiser=user_named("agent"), owed_team=team,
                                          request="请确认退货入库", now=utcnow(), order_no="TB9002")
        db.session.commit()
        item_id, reference = item.id, item.reference
    warehouse = in_english(client_for(app, "warehouse"))
    news = counter_of(header(warehouse), "handoffs")
    assert news["marker"] == str(item_id) and news["text"] == f"Handoff {reference} for your team"
    assert news["url"] == f"/handoffs/{item_id}"


# --- counters and their pages agree ----------------------------------------------------------------------

def test_the_approvals_counter_equals_the_queue_after_an_approval(app, make_case):
    agent, lead = client_for(app, "agent"), client_for(app, "lead")
    items = [ask(agent, make_case(), amount) for amount in ("30", "40", "50")]
    lead.post_form(f"/compensation/{items[0].id}/approve", {"version": items[0].version}, headers=HX)
    page = lead.get(counter_of(header(lead), "approvals")["href"]).get_data(as_text=True)
    rows = len(re.findall(r'<article class="card approval"', page))
    assert rows == 2
    assert counter_of(header(lead), "approvals")["value"] == str(rows)


def test_the_handoffs_counter_equals_the_sheet_after_an_item_is_done(app):
    with app.app_context():
        team = db.session.scalar(sa.select(Team).where(Team.function == "warehouse"))
        items = [handoff_flow.raise_handoff(kind="warehouse", raiser=user_named("agent"), owed_team=team,
                                            request=f"请确认退货入库 {n}", now=utcnow(), order_no=f"TB90{n}")
                 for n in range(3)]
        db.session.flush()
        handoff_flow.mark_done(items[0], user_named("warehouse"), "已入库", utcnow())
        db.session.commit()
    warehouse = client_for(app, "warehouse")
    html = header(warehouse)
    sheet = warehouse.get(counter_of(html, "handoffs")["href"]).get_data(as_text=True)
    owed = sheet[sheet.index('id="owed-title"'):sheet.index('id="raised-title"')]
    rows = len(re.findall(r'<tr class="handoff-row', owed))
    assert rows == 3  # the done item waits for the raiser's confirmation, and the sheet lists it under my team
    assert counter_of(html, "handoffs")["value"] == str(rows)


def test_the_overdue_counter_equals_the_board_it_opens(app, make_case):
    for _ in range(3):
        overdue(app, make_case(assignee="agent"))
    make_case(assignee="agent")  # on time
    agent = client_for(app, "agent")
    html = header(agent)
    board = agent.get(counter_of(html, "overdue")["href"]).get_data(as_text=True)
    cards = len(re.findall(r'<article[^>]*class="[^"]*\bcard\b[^"]*"[^>]*data-case', board)) or len(
        set(re.findall(r'id="case-(\d+)"', board)))
    assert cards == 3
    assert counter_of(html, "overdue")["value"] == str(cards)


# --- my requests have a result ---------------------------------------------------------------------------

def test_one_decision_is_named_and_links_to_its_case_several_name_the_newest(app, make_case):
    agent, lead = in_english(client_for(app, "agent")), client_for(app, "lead")
    first_case, second_case = make_case(), make_case()
    first, second = ask(agent, first_case, "30"), ask(agent, second_case, "45")
    lead.post_form(f"/compensation/{first.id}/approve", {"version": first.version}, headers=HX)
    one = counter_of(header(agent), "decisions")
    assert one["value"] == "1"
    assert one["detail"] == f"Your compensation request ¥30.00 ({first.order_no}) was approved"
    assert one["href"] == f"/cases/{first_case}"

    lead.post_form(f"/compensation/{second.id}/reject", {"note": "不符合标准", "version": second.version}, headers=HX)
    several = counter_of(header(agent), "decisions")
    assert several["value"] == "2" and several["href"] == "/compensation/#mine-title"
    assert several["detail"] == f"Newest: Your compensation request ¥45.00 ({second.order_no}) was rejected"


def test_opening_my_requests_clears_the_decisions_with_a_post_not_the_get(app, make_case):
    agent, lead = client_for(app, "agent"), client_for(app, "lead")
    items = [ask(agent, make_case(), amount) for amount in ("30", "45")]
    for item in items:
        lead.post_form(f"/compensation/{item.id}/approve", {"version": item.version}, headers=HX)
    page = agent.get("/compensation/").get_data(as_text=True)
    assert 'hx-post="/compensation/seen" hx-trigger="load"' in page
    assert counter_of(header(agent), "decisions")["value"] == "2"  # the GET changed nothing

    assert agent.post("/compensation/seen", headers=HX).status_code == 400  # no CSRF token: refused
    assert agent.post_form("/compensation/seen", {}, headers=HX).status_code == 204
    assert counter_of(header(agent), "decisions")["value"] == "0"
    with app.app_context():
        seen = db.session.scalars(sa.select(TimelineEvent).where(TimelineEvent.action == "compensation_seen")).all()
        assert sorted(event.subject_id for event in seen) == sorted(item.case_id for item in items)
        assert all(event.actor.username == "agent" for event in seen)
    # Nothing left to see: a second POST writes nothing.
    assert agent.post_form("/compensation/seen", {}, headers=HX).status_code == 204
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEvent)
                                 .where(TimelineEvent.action == "compensation_seen")) == 2


def test_an_approver_sees_decisions_on_their_own_requests_only_when_there_are_some(app, make_case):
    lead, manager = client_for(app, "lead"), client_for(app, "manager")
    assert 'data-counter="decisions"' not in header(lead)
    item = ask(lead, make_case(order_amount=Decimal("999.00")), "500")  # over the lead's limit: a manager decides
    manager.post_form(f"/compensation/{item.id}/approve", {"version": item.version}, headers=HX)
    assert counter_of(header(lead), "decisions")["value"] == "1"


def test_the_reviews_counter_equals_the_worklist_it_opens_before_todays_list_forms(app):
    """Early in the morning the worklist opens on yesterday's list, whose leftovers are the work until 10:00."""
    with app.app_context():
        zone = app.config["SHOP_TZ"]
        yesterday = worklist.shop_date(utcnow(), zone) - timedelta(days=1)
        shop = db.session.scalar(sa.select(Shop).where(Shop.name == "测试天猫店"))
        for number in range(3):
            written = datetime.combine(yesterday - timedelta(days=1), datetime.min.time(), zone) + timedelta(hours=9, minutes=number)
            db.session.add(Review(platform="tmall", shop=shop, rating=1, text="不制冷", reviewed_at=written,
                                  text_digest=hashlib.sha256(f"n{number}".encode()).hexdigest(), suggested_cause="质量问题",
                                  order_no=f"TM{number:04d}", buyer_nick="买家甲", list_date=yesterday,
                                  assignee=user_named("reviewer"), state="handled" if number == 0 else "todo"))
        db.session.add(ReviewDay(day=yesterday, formed_at=utcnow() - timedelta(days=1), snapshot_count=3))
        db.session.commit()
    reviewer = client_for(app, "reviewer")
    html = header(reviewer)
    page = reviewer.get(counter_of(html, "reviews")["href"]).get_data(as_text=True)
    rows = len(set(re.findall(r'id="review-(\d+)"', page)))
    assert rows == 2
    assert counter_of(html, "reviews")["value"] == str(rows)
