"""The marketplace-sync pages through the test client: who gets in, connecting and changing a shop's connection
(secrets sealed, never shown, never in the timeline), a stopped or expiring token on the panel and in the header,
"sync now", the panel after a run and its live poll."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
import sqlalchemy as sa
from markupsafe import escape

from models import Shop, ShopConnection, SyncProblem, TimelineEvent, db, get_setting, utcnow
from sync.credentials import unseal
from tests.conftest import TEST_PASSWORD, in_english
from tests.sync.conftest import connect, connection_of
from tests.sync.test_runner import run

APP_SECRET = "app-secret-5f1c9e0b7d42"
ACCESS_TOKEN = "session-token-8a2d4c6e13"
NEW_TOKEN = "session-token-renewed-77b1"
NEW_SHOP = "新开的天猫店"


def _new_connection(**overrides) -> dict:
    data = {"shop_name": NEW_SHOP, "platform": "tmall", "shop_ref": NEW_SHOP, "app_key": "23456789",
            "app_secret": APP_SECRET, "access_token": ACCESS_TOKEN, "token_expires_at": "2027-01-31T18:00",
            "api_url": "", "first_sync_days": "7", "sync_reviews": "y", "active": "y"}
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def _shop_id(name: str = NEW_SHOP) -> int | None:
    return db.session.scalar(sa.select(Shop.id).where(Shop.name == name))


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _events(action: str) -> list[TimelineEvent]:
    return list(db.session.scalars(sa.select(TimelineEvent).where(TimelineEvent.action == action)
                                   .order_by(TimelineEvent.id)))


class _FormReader(HTMLParser):
    """What a browser would send for the page's connection form: its enabled fields with the values shown
    (a password field shows none, an unchecked box sends nothing)."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}
        self.inside = False
        self.select: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and "grid-form" in (attributes.get("class") or ""):
            self.inside = True
        if not self.inside or "disabled" in attributes or not attributes.get("name") and tag != "option":
            return
        if tag == "input":
            if attributes.get("type") == "checkbox" and "checked" not in attributes:
                return
            self.values[attributes["name"]] = attributes.get("value") or ""
        elif tag == "select":
            self.select = attributes["name"]
        elif tag == "option" and self.select and "selected" in attributes:
            self.values[self.select] = attributes.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None


def _edit_form(client, shop_id: int) -> dict:
    response = client.get(f"/sync/shops/{shop_id}")
    assert response.status_code == 200
    reader = _FormReader()
    reader.feed(response.get_data(as_text=True))
    return reader.values


def _panel_poll_url(html: str) -> str:
    return re.search(r'<div id="sync-panel"[^>]*hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")


# --- who gets in ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("username,panel,shops,new_shop", [
    ("agent", 403, 403, 403),
    ("reviewer", 403, 403, 403),
    ("lead", 200, 403, 403),
    ("manager", 200, 403, 403),
    ("admin", 200, 200, 200),
])
def test_the_panel_is_for_leads_managers_and_admins_and_the_shops_for_admins(login_as, username, panel, shops, new_shop):
    client = login_as(username)
    assert client.get("/sync/").status_code == panel
    assert client.get("/sync/shops").status_code == shops
    assert client.get("/sync/shops/new").status_code == new_shop


@pytest.mark.parametrize("url", ["/sync/", "/sync/shops", "/sync/shops/new"])
def test_a_visitor_who_is_not_logged_in_is_sent_to_the_login_page(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_sync_now_without_the_forms_token_is_refused(app, fakes, login_as):
    shop_id = connect(app, fakes, "taobao")
    with app.app_context():
        connection_of(shop_id).next_run_at = utcnow() + timedelta(hours=1)
        db.session.commit()
        later = connection_of(shop_id).next_run_at
    client = login_as("lead")

    response = client.post(f"/sync/{shop_id}/run", data={})

    assert response.status_code == 400
    with app.app_context():
        assert connection_of(shop_id).next_run_at == later
        assert _events("sync_requested") == []


# --- connecting a shop ----------------------------------------------------------------------------------

def test_connecting_a_new_shop_seals_its_secrets_and_never_shows_them(app, login_as):
    client = login_as("admin")

    response = client.post_form("/sync/shops/new", _new_connection())

    assert response.status_code == 302 and response.headers["Location"].endswith("/sync/shops")
    with app.app_context():
        shop = db.session.get(Shop, _shop_id())
        assert shop.platform == "tmall" and shop.active
        connection = connection_of(shop.id)
        assert connection.shop_ref == NEW_SHOP and connection.app_key == "23456789"
        assert connection.first_sync_days == 7 and connection.sync_reviews and connection.active
        assert connection.api_url.startswith("https://")  # empty: the platform's own address
        # 18:00 in Shanghai is 10:00 UTC
        assert connection.token_expires_at == datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
        assert APP_SECRET not in connection.sealed and ACCESS_TOKEN not in connection.sealed
        assert unseal(connection.sealed) == {"app_secret": APP_SECRET, "access_token": ACCESS_TOKEN}
        connected = _events("shop_connected")
        assert [(event.subject_type, event.subject_id, event.actor.username) for event in connected] == [
            ("shop", shop.id, "admin")]
        for event in db.session.scalars(sa.select(TimelineEvent)):
            detail = json.dumps(event.detail, ensure_ascii=False)
            assert APP_SECRET not in detail and ACCESS_TOKEN not in detail
        shop_id = shop.id

    lead = app.test_client()
    lead.post_form("/auth/login", {"username": "lead", "password": TEST_PASSWORD})
    pages = {"shops": client.get("/sync/shops"), "edit form": client.get(f"/sync/shops/{shop_id}"),
             "panel": client.get("/sync/"), "lead's panel": lead.get("/sync/")}
    for name, page in pages.items():
        html = page.get_data(as_text=True)
        assert page.status_code == 200 and NEW_SHOP in html, name
        assert APP_SECRET not in html and ACCESS_TOKEN not in html, name


@pytest.mark.parametrize("overrides,message", [
    ({"app_secret": ""}, "This field is required."),
    ({"access_token": ""}, "This field is required."),
    ({"api_url": "ftp://x"}, "An address such as https://eco.taobao.com/router/rest."),
    ({"api_url": "javascript:alert(1)"}, "An address such as https://eco.taobao.com/router/rest."),
    # 0 is refused, but as "This field is required." (DataRequired takes 0 for empty): see the report
    ({"first_sync_days": "0"}, "Number must be between 1 and 90."),
    ({"first_sync_days": "91"}, "Number must be between 1 and 90."),
    ({"shop_name": "测试京东店"}, "A shop of this name sells on another platform."),
    ({"platform": "pdd"}, "Not a valid choice."),
])
def test_a_bad_connection_is_refused_with_its_message_and_stores_nothing(app, login_as, overrides, message):
    client = in_english(login_as("admin"))
    with app.app_context():
        shops_before = _count(Shop)

    response = client.post_form("/sync/shops/new", _new_connection(**overrides))

    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html, re.findall(r'class="error"[^>]*>([^<]*)<', html)
    assert APP_SECRET not in html and ACCESS_TOKEN not in html  # what was typed is not sent back
    with app.app_context():
        assert _count(ShopConnection) == 0 and _count(Shop) == shops_before
        assert _events("shop_connected") == []


def test_a_shop_that_is_connected_already_is_not_connected_twice(app, login_as):
    client = in_english(login_as("admin"))
    assert client.post_form("/sync/shops/new", _new_connection()).status_code == 302

    again = client.post_form("/sync/shops/new", _new_connection(app_key="99999999", access_token="another-token"))

    assert again.status_code == 400
    assert "This shop is connected already: change its connection instead." in again.get_data(as_text=True)
    with app.app_context():
        assert _count(ShopConnection) == 1
        assert connection_of(_shop_id()).app_key == "23456789"


def test_an_existing_shop_of_the_same_platform_is_connected_without_a_second_shop(app, login_as):
    client = login_as("admin")
    with app.app_context():
        shops_before = _count(Shop)

    response = client.post_form("/sync/shops/new", _new_connection(shop_name="测试天猫店", shop_ref="测试天猫店"))

    assert response.status_code == 302
    with app.app_context():
        assert _count(Shop) == shops_before
        assert connection_of(_shop_id("测试天猫店")).shop_ref == "测试天猫店"


# --- changing a connection ------------------------------------------------------------------------------

def _connected_through_the_page(app, client) -> int:
    assert client.post_form("/sync/shops/new", _new_connection()).status_code == 302
    with app.app_context():
        return _shop_id()


def test_the_edit_form_shows_the_connection_but_no_secret(app, login_as):
    client = login_as("admin")
    shop_id = _connected_through_the_page(app, client)

    form = _edit_form(client, shop_id)

    assert form["app_secret"] == "" and form["access_token"] == ""
    assert form["shop_name"] == NEW_SHOP and form["shop_ref"] == NEW_SHOP and form["app_key"] == "23456789"
    assert form["token_expires_at"].startswith("2027-01-31T18:00")  # shown in the shop's zone
    assert form["first_sync_days"] == "7" and form["sync_reviews"] == "y" and form["active"] == "y"
    assert form["version"] == "1"
    assert "platform" not in form  # shown, not changeable


def test_saving_the_form_with_empty_secrets_keeps_them(app, login_as):
    client = login_as("admin")
    shop_id = _connected_through_the_page(app, client)
    form = _edit_form(client, shop_id)

    response = client.post_form(f"/sync/shops/{shop_id}", dict(form, first_sync_days="30"))

    assert response.status_code == 302
    with app.app_context():
        connection = connection_of(shop_id)
        assert connection.first_sync_days == 30 and connection.version == 2
        assert connection.token_expires_at == datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
        assert connection.active and connection.sync_reviews
        assert unseal(connection.sealed) == {"app_secret": APP_SECRET, "access_token": ACCESS_TOKEN}
        assert [event.detail["fields"] for event in _events("shop_connection_changed")] == [["first_sync_days"]]


def test_a_new_token_replaces_only_the_token_and_the_timeline_names_the_field_not_the_value(app, login_as):
    client = login_as("admin")
    shop_id = _connected_through_the_page(app, client)
    form = _edit_form(client, shop_id)

    response = client.post_form(f"/sync/shops/{shop_id}", dict(form, access_token=NEW_TOKEN))

    assert response.status_code == 302
    with app.app_context():
        connection = connection_of(shop_id)
        assert NEW_TOKEN not in connection.sealed
        assert unseal(connection.sealed) == {"app_secret": APP_SECRET, "access_token": NEW_TOKEN}
        changed = _events("shop_connection_changed")
        assert [(event.detail, event.actor.username) for event in changed] == [({"fields": ["access_token"]}, "admin")]
        for event in db.session.scalars(sa.select(TimelineEvent)):
            detail = json.dumps(event.detail, ensure_ascii=False)
            assert NEW_TOKEN not in detail and ACCESS_TOKEN not in detail and APP_SECRET not in detail
    for page in ("/sync/shops", f"/sync/shops/{shop_id}", "/sync/"):
        assert NEW_TOKEN not in client.get(page).get_data(as_text=True), page


def test_a_form_saved_by_someone_else_meanwhile_is_refused_and_changes_nothing(app, login_as):
    client = in_english(login_as("admin"))
    shop_id = _connected_through_the_page(app, client)
    seen = _edit_form(client, shop_id)
    assert client.post_form(f"/sync/shops/{shop_id}", dict(seen, first_sync_days="10")).status_code == 302

    stale = client.post_form(f"/sync/shops/{shop_id}", dict(seen, first_sync_days="20", access_token=NEW_TOKEN))

    assert stale.status_code == 409
    assert "Someone else saved this connection while you were editing" in stale.get_data(as_text=True)
    with app.app_context():
        connection = connection_of(shop_id)
        assert connection.first_sync_days == 10 and connection.version == 2
        assert unseal(connection.sealed)["access_token"] == ACCESS_TOKEN
        assert len(_events("shop_connection_changed")) == 1


# --- a stopped shop, an expired token ---------------------------------------------------------------------

def test_a_refused_token_is_shown_everywhere_until_a_new_one_resumes_the_sync(app, fakes, login_as):
    taobao = fakes.platforms["taobao"]
    shop_id = connect(app, fakes, "taobao")
    taobao.fail("bad_token")
    assert run(app, shop_id).outcome == "stopped"

    lead = login_as("lead")
    assert 'data-health="token_expired"' in lead.get("/sync/").get_data(as_text=True)
    counters = lead.get("/counters").get_data(as_text=True)
    assert 'data-counter="sync"' in counters and "测试天猫店" in counters
    lead.post_form("/auth/logout")

    admin = login_as("admin")
    assert 'data-health="token_expired"' in admin.get("/sync/shops").get_data(as_text=True)
    form = _edit_form(admin, shop_id)
    assert admin.post_form(f"/sync/shops/{shop_id}", dict(form, access_token=NEW_TOKEN)).status_code == 302

    with app.app_context():
        connection = connection_of(shop_id)
        assert (connection.state, connection.token_refused, connection.stop_reason) == ("ok", False, "")
        assert connection.next_run_at <= utcnow()
        assert unseal(connection.sealed) == {"app_secret": taobao.app_secret, "access_token": NEW_TOKEN}
    assert 'data-health="ok"' in admin.get("/sync/shops").get_data(as_text=True)
    assert 'data-counter="sync"' not in admin.get("/counters").get_data(as_text=True)


def test_a_token_past_its_expiry_date_shows_as_expired_before_any_run(app, fakes, login_as):
    shop_id = connect(app, fakes, "taobao", token_expires_at=utcnow() - timedelta(hours=1))
    client = login_as("lead")

    panel = client.get("/sync/").get_data(as_text=True)
    counters = client.get("/counters").get_data(as_text=True)

    assert re.search(rf'data-shop="{shop_id}"[^>]*>.*?data-health="token_expired"', panel, re.S)
    assert 'data-counter="sync"' in counters
    with app.app_context():
        assert connection_of(shop_id).state == "ok"  # nothing ran: the date alone says so


def test_a_token_that_expires_in_two_days_is_shown_as_expiring(app, fakes, login_as):
    connect(app, fakes, "taobao", token_expires_at=utcnow() + timedelta(days=2))
    client = login_as("lead")

    panel = client.get("/sync/").get_data(as_text=True)

    assert 'data-health="token_expiring"' in panel
    assert "Sync now" in in_english(client).get("/sync/").get_data(as_text=True)  # it still syncs
    assert 'data-counter="sync"' not in client.get("/counters").get_data(as_text=True)


# --- sync now -----------------------------------------------------------------------------------------------

def test_sync_now_makes_the_shop_due_at_once_and_says_who_asked(app, fakes, login_as):
    shop_id = connect(app, fakes, "taobao")
    with app.app_context():
        connection_of(shop_id).next_run_at = utcnow() + timedelta(hours=1)
        db.session.commit()
    client = login_as("lead")
    before = utcnow()

    response = client.post_form(f"/sync/{shop_id}/run", headers={"HX-Request": "true"})

    assert response.status_code == 200 and "syncChanged" in response.headers["HX-Trigger"]
    with app.app_context():
        assert before - timedelta(seconds=1) <= connection_of(shop_id).next_run_at <= utcnow()
        requested = _events("sync_requested")
        assert [(event.subject_id, event.actor.username) for event in requested] == [(shop_id, "lead")]


@pytest.mark.parametrize("change", [{"active": False}, {"state": "stopped", "stop_reason": "签名错误"}])
def test_sync_now_is_refused_for_a_paused_or_stopped_shop(app, fakes, login_as, change):
    shop_id = connect(app, fakes, "taobao")
    with app.app_context():
        connection = connection_of(shop_id)
        for name, value in change.items():
            setattr(connection, name, value)
        connection.next_run_at = utcnow() + timedelta(hours=1)
        db.session.commit()
        later = connection_of(shop_id).next_run_at
    client = login_as("lead")

    response = client.post_form(f"/sync/{shop_id}/run", headers={"HX-Request": "true"})

    assert response.status_code == 409
    with app.app_context():
        assert connection_of(shop_id).next_run_at == later
        assert _events("sync_requested") == []


# --- the panel after a run -----------------------------------------------------------------------------------

def test_the_panel_shows_the_last_run_and_what_it_skipped_and_its_poll_answers_204_until_a_run_changes_something(
        app, fakes, login_as):
    taobao = fakes.platforms["taobao"]
    taobao.new_after_sale()
    taobao.new_after_sale()
    malformed = taobao.new_after_sale(refund_fee="三百元")
    shop_id = connect(app, fakes, "taobao")
    done = run(app, shop_id)
    assert (done.created, done.skipped) == (2, 1)
    with app.app_context():
        problem = db.session.scalar(sa.select(SyncProblem))
        assert problem.record_id == str(malformed["refund_id"])
        message = problem.message
    client = in_english(login_as("lead"))

    html = client.get("/sync/").get_data(as_text=True)

    assert "3 fetched, 2 created, 0 updated, 1 skipped" in html
    assert f'data-record="{malformed["refund_id"]}"' in html
    assert str(escape(message)) in html
    poll = _panel_poll_url(html)
    unchanged = client.get(poll, headers={"HX-Request": "true"})
    assert unchanged.status_code == 204

    taobao.new_after_sale()
    assert run(app, shop_id).created == 1
    changed = client.get(poll, headers={"HX-Request": "true"})

    assert changed.status_code == 200
    partial = changed.get_data(as_text=True)
    assert 'id="sync-panel"' in partial and "<html" not in partial
    assert re.search(r"\d+ fetched, 1 created, 0 updated", partial)
    assert changed.headers.get("Vary") and "HX-Request" in changed.headers["Vary"]


# --- languages ------------------------------------------------------------------------------------------------

def test_the_panel_speaks_english_when_asked(login_as):
    client = in_english(login_as("lead"))
    assert "<h1>Marketplace sync</h1>" in client.get("/sync/").get_data(as_text=True)


def test_the_panel_speaks_chinese_by_default(login_as):
    html = login_as("lead").get("/sync/").get_data(as_text=True)
    heading = re.search(r"<h1>([^<]+)</h1>", html).group(1)
    assert heading.strip() and heading != "Marketplace sync"


def test_renaming_a_connection_onto_another_shops_name_is_refused(app, login_as):
    client = login_as("admin")
    shop_id = _connected_through_the_page(app, client)
    form = _edit_form(client, shop_id)

    response = client.post_form(f"/sync/shops/{shop_id}", dict(form, shop_name="测试天猫店"))  # another tmall shop

    assert response.status_code == 400
    assert _shop_name(app, shop_id) != "测试天猫店"
    with app.app_context():
        assert connection_of(shop_id).version == 1


def _shop_name(app, shop_id: int) -> str:
    with app.app_context():
        return db.session.get(Shop, shop_id).name


def test_an_admin_sets_how_often_shops_sync_and_no_shop_waits_longer(app, fakes, login_as):
    shop_id = connect(app, fakes, "taobao")
    with app.app_context():
        connection = connection_of(shop_id)
        connection.next_run_at = utcnow() + timedelta(minutes=5)
        db.session.commit()
    client = login_as("admin")

    refused = client.post_form("/sync/shops/schedule", {"sync_minutes": "3", "sync_promo_minutes": "5"})
    assert refused.status_code == 302
    with app.app_context():
        assert get_setting("sync_minutes") == 5  # a promotion interval longer than the usual one changes nothing

    client.post_form("/sync/shops/schedule", {"sync_minutes": "2", "sync_promo_minutes": "1"})

    with app.app_context():
        assert (get_setting("sync_minutes"), get_setting("sync_promo_minutes")) == (2, 1)
        assert connection_of(shop_id).next_run_at <= utcnow() + timedelta(minutes=2)
        event = db.session.scalars(sa.select(TimelineEvent).where(TimelineEvent.subject_type == "settings")).all()[-1]
        assert event.detail["changes"]["sync_minutes"] == [5, 2]
    client.post_form("/auth/logout", {})
    assert login_as("lead").post_form("/sync/shops/schedule", {"sync_minutes": "9", "sync_promo_minutes": "1"}).status_code == 403
