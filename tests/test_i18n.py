from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract, pathmatch
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from models import db
from tests.conftest import user_named

TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"


def source_messages() -> set[str]:
    """Every message id in the code and templates, extracted as `make extract-messages` does."""
    root = TRANSLATIONS.parent
    with (root / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = set()
    for path in root.rglob("*"):
        relative = path.relative_to(root).as_posix()
        if path.suffix not in (".py", ".html") or relative.split("/")[0] in SKIPPED_DIRS:
            continue
        for method_pattern, method in method_map:
            if pathmatch(method_pattern, relative):
                with path.open("rb") as handle:
                    for _lineno, message, _comments, _context in extract(
                        method, handle, keywords={"_": None, "_l": None, "lazy_gettext": None, "N_": None, "gettext": None},
                        options=options_map.get(method_pattern, {}),
                    ):
                        found.add(message if isinstance(message, str) else message[0])
                break
    return {m for m in found if m}


SKIPPED_DIRS = {".venv", "tests", "migrations", "bench", "translations", "static"}


def test_every_message_in_the_code_has_a_chinese_translation():
    catalog = read_po((TRANSLATIONS / "zh/LC_MESSAGES/messages.po").open("rb"), locale="zh")
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(source_messages() - translated)
    assert missing == [], f"run `make extract-messages` and translate: {missing[:20]}"
    assert len(translated) > 300


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
