"""The board as a live region: what redraws it, what its cards cost, what the access log keeps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

import live
from blueprints import cases as case_views
from cases import board as case_board
from cases import sla
from models import Case, User, db, event_topic
from tests.conftest import TEST_PASSWORD, user_named

HX = {"HX-Request": "true"}
NOW = datetime(2026, 11, 22, 2, 0, 30, tzinfo=UTC)


def poll_url(html: str) -> str:
    tag = re.search(r'<section id="board"[^>]*>', html, re.S).group(0)
    return re.search(r'hx-get="([^"]+)"', tag).group(1).replace("&amp;", "&")


def cards(html: str) -> dict[int, str]:
    return {int(m.group(1)): m.group(0) for m in re.finditer(r'<article class="case-card[^"]*" id="case-(\d+)".*?</article>', html, re.S)}


def client_for(app, username):
    client = app.test_client()
    assert client.post_form("/auth/login", {"username": username, "password": TEST_PASSWORD}).status_code == 302
    return client


def test_a_compensation_decision_or_an_admin_edit_leaves_the_board_token_alone_a_case_change_does_not(app, make_case):
    case_id = make_case(order_amount="199.00")
    lead, agent, admin = client_for(app, "lead"), client_for(app, "agent"), client_for(app, "admin")
    url = poll_url(lead.get("/cases/", headers=HX).get_data(as_text=True))
    assert lead.get(url, headers=HX).status_code == 204

    # A compensation asked for and decided: recorded on the case's timeline, but no card shows it.
    asked = agent.post_form(f"/compensation/case/{case_id}", {"amount": "30.00", "reason": "goodwill", "payout": "alipay", "note": ""}, headers=HX)
    assert asked.status_code == 200
    with app.app_context():
        from models import Compensation

        item = db.session.scalar(sa.select(Compensation).where(Compensation.case_id == case_id))
        if item.status == "pending":
            decided = lead.post_form(f"/compensation/{item.id}/approve", {"note": "同意", "version": item.version}, headers=HX)
            assert decided.status_code == 200
        agent_id, team_id = user_named("agent").id, user_named("agent").team_id
    # An administrator changes an agent's compensation limit: an account field no board shows.
    edit = admin.get(f"/admin/users/{agent_id}").get_data(as_text=True)
    version = re.search(r'name="version"[^>]*value="(\d+)"', edit).group(1)
    saved = admin.post_form(f"/admin/users/{agent_id}", {"username": "agent", "display_name": user_display(app, "agent"),
                                                         "role": "agent", "team_id": str(team_id or 0), "compensation_limit": "55",
                                                         "password": "", "active": "y", "version": version})
    assert saved.status_code == 302
    with app.app_context():
        assert str(user_named("agent").compensation_limit) == "55.00"
    assert lead.get(url, headers=HX).status_code == 204

    # A case change redraws it.
    with app.app_context():
        version = db.session.get(Case, case_id).version
    assert agent.post_form(f"/cases/{case_id}/take", {"version": version}, headers=HX).status_code == 200
    changed = lead.get(url, headers=HX)
    assert changed.status_code == 200 and "case-card" in changed.get_data(as_text=True)


def user_display(app, username: str) -> str:
    with app.app_context():
        return user_named(username).display_name


def test_renaming_the_assignee_redraws_the_board_and_the_card(app, make_case):
    case_id = make_case(assignee="agent")
    lead, admin = client_for(app, "lead"), client_for(app, "admin")
    html = lead.get("/cases/", headers=HX).get_data(as_text=True)
    url = poll_url(html)
    with app.app_context():
        agent = user_named("agent")
        old_name, agent_id, team_id = agent.display_name, agent.id, agent.team_id
    assert old_name in cards(html)[case_id]
    edit = admin.get(f"/admin/users/{agent_id}").get_data(as_text=True)
    version = re.search(r'name="version"[^>]*value="(\d+)"', edit).group(1)
    limit = re.search(r'name="compensation_limit"[^>]*value="([^"]*)"', edit).group(1)
    admin.post_form(f"/admin/users/{agent_id}", {"username": "agent", "display_name": "改了名的客服", "role": "agent", "team_id": str(team_id or 0),
                                                 "compensation_limit": limit, "password": "", "active": "y", "version": version})
    redrawn = lead.get(url, headers=HX)
    assert redrawn.status_code == 200
    card = cards(redrawn.get_data(as_text=True))[case_id]
    assert "改了名的客服" in card and old_name not in card


@pytest.mark.parametrize("subject,action,detail,topic", [
    ("case", "state_changed", {}, "cases"),
    ("case", "compensation_decided", {}, "compensation"),
    ("case", "phone_revealed", {}, "personal_data"),
    ("user", "updated", {"changes": {"compensation_limit": ["20", "55"]}}, "accounts"),
    ("user", "limit_changed", {}, "accounts"),
    ("user", "updated", {"changes": {"display_name": ["甲", "乙"]}}, "people"),
    ("user", "logged_in", {}, "sessions"),
    ("settings", "updated", {"changes": {"promo_mode": [False, True]}}, "clocks"),
    ("settings", "updated", {"changes": {"sla.reply.*.*": [None, "60/30"]}}, "clocks"),
    ("settings", "updated", {"changes": {"scoring_appeal_days": [3, 5]}}, "settings"),
    ("import", "imported", {}, "cases"),
    ("import", "imported", {"area": "reviews"}, "import"),
    ("handoff", "handoff_raised", {}, "handoff"),
])
def test_event_topics(subject, action, detail, topic):
    assert event_topic(subject, action, detail) == topic


def test_card_html_is_reused_until_the_case_changes_and_is_byte_identical(app, make_case, monkeypatch):
    first, second = make_case(), make_case(platform_deadline_at=None)
    # one fixed moment after both cases were made (the current minute's :30 could be before them)
    fixed = (datetime.now(UTC) + timedelta(minutes=1)).replace(second=30, microsecond=0)
    monkeypatch.setattr(case_views, "utcnow", lambda: fixed)
    lead = client_for(app, "lead")
    with app.app_context():
        cache = case_views.card_cache()
    fresh = cards(lead.get("/cases/", headers=HX).get_data(as_text=True))
    misses = cache.misses
    reused = cards(lead.get("/cases/", headers=HX).get_data(as_text=True))
    assert cache.misses == misses and cache.hits >= 2
    assert reused == fresh

    with app.app_context():
        version = db.session.get(Case, first).version
    lead.post_form(f"/cases/{first}/flag", {"flag": "red", "flag_note": "催发货", "version": version}, headers=HX)
    after = cards(lead.get("/cases/", headers=HX).get_data(as_text=True))
    assert "催发货" in after[first] and after[second] == fresh[second]
    cache.clear()
    assert cards(lead.get("/cases/", headers=HX).get_data(as_text=True)) == after


def test_a_countdown_is_reused_only_while_its_minute_shows():
    def clock(remaining_seconds, status=sla.ON_TIME):
        return sla.Clock("reply", NOW, timedelta(hours=3), status, NOW + timedelta(seconds=remaining_seconds),
                         timedelta(seconds=remaining_seconds))

    assert case_board.countdown_valid_until(clock(125), NOW) == NOW + timedelta(seconds=5)
    assert case_board.countdown_valid_until(clock(-30, sla.OVERDUE), NOW) == NOW + timedelta(seconds=30)
    assert case_board.countdown_valid_until(clock(-60, sla.OVERDUE), NOW) == NOW + timedelta(seconds=60)
    assert case_board.countdown_valid_until(clock(100, sla.PAUSED), NOW) is None
    assert case_board.countdown_valid_until(None, NOW) is None


def test_fragment_cache_is_bounded_and_expires():
    cache = live.FragmentCache(max_entries=2)
    cache.put("a", "A", NOW + timedelta(seconds=10))
    cache.put("b", "B", None)
    assert cache.get("a", NOW) == "A"
    cache.put("c", "C", None)  # "b" was used least recently
    assert cache.get("b", NOW) is None and cache.get("c", NOW) == "C"
    assert cache.get("a", NOW + timedelta(seconds=10)) is None  # its countdown moved on


def test_the_platform_deadline_is_on_the_card_and_sorts_the_column(app, make_case):
    with app.app_context():
        now = datetime.now(UTC)
    ours_first = make_case(minutes_ago=170)  # our reply clock: 10 minutes left
    # received an hour ago, due on the platform in 5 minutes: in the last quarter, so at risk
    platform_first = make_case(minutes_ago=60, priority=0, platform_deadline_at=now + timedelta(minutes=5))
    client = client_for(app, "lead")
    html = client.get("/cases/", headers=HX).get_data(as_text=True)
    card = cards(html)[platform_first]
    assert "platform-deadline" in card and 'class="clock clock-at_risk platform-deadline"' in card
    order = [int(x) for x in re.findall(r'id="case-(\d+)"', html)]
    assert order.index(platform_first) < order.index(ours_first)


def test_a_card_menu_offers_assign_to_anyone_who_works_cases(app, make_case):
    case_id = make_case()
    lead = client_for(app, "lead")
    menu = lead.get(f"/cases/{case_id}/actions").get_data(as_text=True)
    with app.app_context():
        agent2 = user_named("agent2")
        version = db.session.get(Case, case_id).version
    assert f'<option value="{agent2.id}">{agent2.display_name}</option>' in menu
    assert lead.post_form(f"/cases/{case_id}/assign", {"assignee_id": agent2.id, "version": version, "back": "board"}, headers=HX).status_code == 200
    with app.app_context():
        assert db.session.get(Case, case_id).assignee_id == agent2.id


def test_polls_answered_204_stay_out_of_the_access_log(tmp_path):
    from gunicorn.config import Config

    config = Config()
    log_file = tmp_path / "access.log"
    config.set("accesslog", str(log_file))
    logger = live.QuietPollLogger(config)

    def request_line(path: str, status: str, unchanged: bool):
        environ = {"REQUEST_METHOD": "GET", "RAW_URI": path, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1",
                   "REMOTE_ADDR": "127.0.0.1"}
        if unchanged:
            environ["live.unchanged"] = True
        response = SimpleNamespace(status=status, response_length=0, headers=[], sent=0)
        request = SimpleNamespace(headers=[], method="GET", path=path, query="", version=(1, 1))
        logger.access(response, request, environ, timedelta(milliseconds=1))

    request_line("/cases/?v=12.0", "204 No Content", unchanged=True)
    request_line("/cases/", "200 OK", unchanged=False)
    request_line("/cases/?v=11.0", "200 OK", unchanged=False)
    for handler in logger.access_log.handlers:
        handler.flush()
    lines = log_file.read_text().splitlines()
    assert len(lines) == 2 and '"GET /cases/ HTTP/1.1" 200' in lines[0]


def test_the_board_token_follows_only_its_topics(app, make_case):
    make_case()
    with app.test_request_context():
        before = live.latest(case_views.BOARD_TOPICS)
        from models import record

        record(None, "handoff", 1, "handoff_raised")
        record(None, "case", 1, "compensation_requested")
        db.session.commit()
        assert live.latest(case_views.BOARD_TOPICS) == before
        assert live.latest(None) > before
        record(None, "user", db.session.scalar(sa.select(User.id).limit(1)), "updated", changes={"role": ["agent", "lead"]})
        db.session.commit()
        assert live.latest(case_views.BOARD_TOPICS) > before


def test_the_workload_panel_counts_each_persons_open_at_risk_and_overdue_cases(app, make_case):
    make_case(minutes_ago=200, assignee="agent")   # overdue (3 h reply)
    make_case(minutes_ago=150, assignee="agent")   # at risk (last quarter)
    make_case(minutes_ago=0, assignee="agent")     # on time
    make_case(minutes_ago=0, assignee="agent2")
    make_case(minutes_ago=0)                       # unassigned
    lead = client_for(app, "lead")
    page = lead.get("/cases/").get_data(as_text=True)
    assert "/cases/workload" in page
    html = lead.get("/cases/workload", headers=HX).get_data(as_text=True)
    with app.app_context():
        agent, agent2 = user_named("agent"), user_named("agent2")
        rows = {name: re.search(rf'>{re.escape(name)}</a></th>\s*<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>\s*<td class="num">(\d+)</td>',
                                html).groups() for name in (agent.display_name, agent2.display_name)}
    assert rows[agent.display_name] == ("3", "1", "1")
    assert rows[agent2.display_name] == ("1", "0", "0")
    unassigned = re.search(r'scope=unassigned">[^<]+</a></th>\s*<td class="num">(\d+)</td>', html).group(1)
    assert unassigned == "1"
    assert f'href="/cases/?assignee={agent.id}"' in html
    assert client_for(app, "agent").get("/cases/workload", headers=HX).status_code == 403
    # its own live region: unchanged, 204
    url = re.search(r'<div id="workload"[^>]*hx-get="([^"]+)"', html, re.S).group(1).replace("&amp;", "&")
    assert lead.get(url, headers=HX).status_code == 204
