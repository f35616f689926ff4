"""The header's live region: a poll that finds nothing changed answers 204 without rendering."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import live
from models import db, record
from tests.conftest import user_named

HX = {"HX-Request": "true"}
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def test_token_holds_until_data_changes_or_a_clock_boundary_passes():
    token = live.make_token(41, NOW + timedelta(minutes=5))
    assert live.is_unchanged(token, 41, NOW)
    assert not live.is_unchanged(token, 42, NOW)  # something was written
    assert not live.is_unchanged(token, 41, NOW + timedelta(minutes=5))  # a clock turned
    assert live.is_unchanged(live.make_token(41, None), 41, NOW + timedelta(days=999))
    for garbage in (None, "", "abc", "1.x", "-1.5", "1"):
        assert not live.is_unchanged(garbage, 41, NOW)


def test_counters_poll_answers_204_when_nothing_changed(app, login_as):
    client = login_as("agent")
    first = client.get("/counters", headers=HX)
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert 'id="header-counters"' in html and "<html" not in html
    assert "HX-Request" in first.headers["Vary"]
    poll_url = re.search(r'hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "every 10s" in html

    unchanged = client.get(poll_url, headers=HX)
    assert unchanged.status_code == 204
    assert unchanged.data == b""

    with app.app_context():
        record(user_named("lead"), "case", 1, "created")
        db.session.commit()
    changed = client.get(poll_url, headers=HX)
    assert changed.status_code == 200
    assert 'id="header-counters"' in changed.get_data(as_text=True)


def test_full_page_loads_the_counters_at_once(login_as):
    html = login_as("agent").get("/cases/").get_data(as_text=True)
    assert re.search(r'id="header-counters"[^>]*hx-get="/counters"[^>]*hx-trigger="load"', html, re.S)
