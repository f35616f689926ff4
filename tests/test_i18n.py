from __future__ import annotations

import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.extract import extract, pathmatch
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from models import User, db
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


# --- no English left in the Chinese interface -------------------------------------------------------------------

class VisibleText(HTMLParser):
    """The text a person reads: text nodes and the attributes shown or spoken, not scripts, styles or
    ``translate="no"`` content (codes and column names as files spell them)."""

    HIDDEN = {"script", "style", "template"}
    SPOKEN = {"title", "placeholder", "aria-label", "alt", "hx-confirm", "data-confirm"}
    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []  # the open elements whose content is not read

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag in self.VOID:
            if not self.skipping:
                self.parts += [value for name, value in attrs if name in self.SPOKEN and value]
                if tag == "input" and values.get("type") in ("submit", "button") and values.get("value"):
                    self.parts.append(values["value"])
            return
        if self.skipping or tag in self.HIDDEN or values.get("translate") == "no":
            self.skipping.append(tag)
            return
        self.parts += [value for name, value in attrs if name in self.SPOKEN and value]

    def handle_endtag(self, tag):
        if self.skipping and tag == self.skipping[-1]:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def english_words(html: str) -> set[str]:
    parser = VisibleText()
    parser.feed(html)
    text = "\n".join(parser.parts)
    words = set()
    for match in re.finditer(r"[A-Za-z][A-Za-z0-9_.\-]*", text):
        word = match.group(0).rstrip(".-")
        if word in ALLOWED_WORDS or re.fullmatch(ALLOWED_CODES, word):
            continue
        words.add(word)
    return words


# Brand and format names, and codes shown as they are (priorities P0–P3, handoffs H12, reviews R7, order numbers).
ALLOWED_WORDS = {"CSV", "Excel", "xlsx", "DSR", "ERP", "SKU", "ID", "MB", "KB", "UTF-8", "GBK", "GB18030", "BOM", "POP",
                 "English", "wecom", "dingtalk", "App", "LC_MESSAGES"}
ALLOWED_CODES = r"[\w-]*\d[\w-]*"  # a word with a digit is a code: P0, H12, R7, an order number, a nickname like jd_01be

MAIN_PAGES = ["/cases/", "/cases/list", "/cases/new", "/cases/rules", "/cases/procedures", "/cases/import/",
              "/compensation/", "/compensation/overview", "/compensation/limits", "/handoffs/", "/handoffs/new",
              "/handoffs/shift", "/handoffs/rules", "/reviews/", "/reviews/summary", "/reviews/trend", "/reviews/templates",
              "/reviews/settings", "/reviews/import/", "/scoring/", "/scoring/monitor", "/scoring/report", "/auth/password"]


@pytest.mark.parametrize("username", ["lead", "agent"])
def test_the_chinese_interface_shows_no_english_words(app, login_as, make_case, username):
    with app.app_context():
        for user in db.session.scalars(sa.select(User)):
            user.display_name = {"lead": "李娜", "agent": "张伟", "agent2": "刘洋"}.get(user.username, "王芳")
        db.session.commit()
    case_id = make_case(assignee="agent", buyer_nick="买家甲", summary="收到的餐桌桌面有划痕")
    make_case(minutes_ago=300, buyer_nick="橙子")
    client = login_as(username)
    pages = [*MAIN_PAGES, f"/cases/{case_id}", f"/cases/{case_id}/edit"]
    shown, found = 0, {}
    for page in pages:
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(page, headers=headers)
            if response.status_code != 200:
                continue
            shown += 1
            words = english_words(response.get_data(as_text=True))
            if words:
                found[page] = sorted(words)
    assert shown >= len(pages), "most pages should open for this role"
    assert not found, "English in the Chinese interface:\n" + "\n".join(f"{page}: {' '.join(words)}" for page, words in found.items())


def test_english_words_are_found_outside_scripts_and_codes():
    html = ('<p>待处理 Waiting</p><script>var x = "hidden"</script><button title="Close">×</button>'
            '<td translate="no">order_no / Order no.</td><span>P0 · H12 · T00000001 · CSV</span>')
    assert english_words(html) == {"Waiting", "Close"}


# --- full-width punctuation in Chinese sentences ----------------------------------------------------------------

CJK = "\u3400-\u9fff"


def test_chinese_sentences_use_full_width_punctuation():
    with (TRANSLATIONS / "zh/LC_MESSAGES/messages.mo").open("rb") as handle:
        catalog = read_mo(handle)
    bad = []
    for message in catalog:
        strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
        for text in strings:
            if not text or not re.search(f"[{CJK}]", text):
                continue
            if (re.search(r"(?<![.\d])\.$", text) or re.search(f"[{CJK}）][,:;?!] ?[{CJK}（%]", text)
                    or re.search(f"[{CJK}][(]|[)][{CJK}]", text)):
                bad.append(text)
    assert bad == []


def test_timeline_sentences_built_in_code_use_chinese_punctuation(app):
    from models import TimelineEvent
    from timeline import describe

    with app.test_request_context():
        change = TimelineEvent(subject_type="user", subject_id=1, action="updated",
                               detail={"changes": {"display_name": ["甲", "乙"], "role": ["agent", "lead"]}})
        assert describe(change) == "修改了 姓名：甲 → 乙；角色：客服 → 组长。"
        routed = TimelineEvent(subject_type="case", subject_id=1, action="milestone",
                               detail={"milestone": "routed", "detail": "仓库"})
        assert describe(routed).endswith("：仓库。")
        closed = TimelineEvent(subject_type="case", subject_id=1, action="state_changed",
                               detail={"to": "closed", "cause": "漏发", "responsibility": "warehouse", "person": "老周"})
        assert ". " not in describe(closed) and " 原因" not in describe(closed)


def test_a_score_reason_naming_the_lowest_item_is_translated_whole(app):
    from blueprints.scoring import reason_text
    from scoring import rules

    part = next(p for p in rules.DEFAULT_TMALL_RULES["parts"] if p["key"] == "dsr")
    figure = {"description": Decimal("40"), "service": Decimal("35.5"), "logistics": Decimal("50")}
    scored = rules.score_part(part, figure, None)
    with app.test_request_context():
        text = reason_text(scored.sentences)
    assert "lowest" not in text and "服务态度" in text and "points" not in text


# --- required fields --------------------------------------------------------------------------------------------

def test_required_fields_are_marked_once_with_a_legend(client):
    html = client.get("/auth/login").get_data(as_text=True)
    assert html.count('<span class="required-mark" aria-hidden="true">*</span>') == 2  # user name and password
    assert re.search(r'<label for="username">[^<]*<span class="required-mark"', html)
    assert re.search(r'<input[^>]*id="username"[^>]*\brequired\b', html)
    assert not re.search(r'<label for="remember">[^<]*<span class="required-mark"', html)  # optional: no mark
    assert html.count('class="required-legend"') == 1 and "为必填项" in html


def test_each_form_of_a_page_gets_its_own_legend_and_optional_forms_none(app, login_as):
    html = login_as("manager").get("/admin/settings").get_data(as_text=True)
    assert html.count('class="required-legend"') == 1
    assert re.search(r'<label for="limit_agent">[^<]*<span class="required-mark"', html)
    assert not re.search(r'<label for="limit_manager">[^<]*<span class="required-mark"', html)  # may stay empty
