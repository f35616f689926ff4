from __future__ import annotations

from pathlib import Path

from babel.messages.pofile import read_po

from models import db
from tests.conftest import user_named

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def test_every_message_has_a_chinese_translation():
    catalog = read_po((TRANSLATIONS / "zh/LC_MESSAGES/messages.po").open("rb"), locale="zh")
    untranslated = [m.id for m in catalog if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []
    assert len(catalog) > 100


def test_an_english_catalogue_exists():
    assert (TRANSLATIONS / "en/LC_MESSAGES/messages.po").exists()


def test_switching_to_english_sticks_for_the_user(app, login_as):
    client = login_as("agent")
    assert "工单看板" in client.get("/cases/").get_data(as_text=True)
    response = client.post_form("/language", {"locale": "en", "next": "/reviews/"})
    assert response.headers["Location"] == "/reviews/"
    html = client.get("/cases/").get_data(as_text=True)
    assert "Case board" in html and "工单看板" not in html and 'lang="en"' in html
    with app.app_context():
        assert user_named("agent").locale == "en"
    # a new session of the same person (another computer) is in English too
    other = app.test_client()
    other.post_form("/auth/login", {"username": "agent", "password": "test-pass-123"})
    assert "Case board" in other.get("/cases/").get_data(as_text=True)


def test_unknown_language_and_offsite_next_are_refused(login_as):
    client = login_as("agent")
    assert client.post_form("/language", {"locale": "klingon"}).status_code == 400
    response = client.post_form("/language", {"locale": "en", "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_login_page_language_links(client):
    html = client.get("/auth/login?lang=en").get_data(as_text=True)
    assert "Log in" in html and 'lang="en"' in html
    assert "登录" in client.get("/auth/login?lang=zh").get_data(as_text=True)


def test_language_chosen_before_login_is_kept_after(app, client, auth):
    client.get("/auth/login?lang=en")
    auth.login("lead")
    assert "Case board" in client.get("/cases/").get_data(as_text=True)
    with app.app_context():
        assert user_named("lead").locale == "en"
        db.session.rollback()
