"""A lead's and an agent's whole day on the board in a real Chromium: typing through refreshes, the phone."""

from __future__ import annotations

import string
import threading

import pytest
from playwright.sync_api import expect

from models import db, set_setting
from tests.browser.conftest import axe_violations, format_violations, log_in


@pytest.fixture
def one_second_polls(app):
    with app.app_context():
        set_setting("poll_seconds", 1)
        db.session.commit()


class Changes:
    """New cases arriving in the background, so that every poll finds something new and the board is swapped."""

    def __init__(self, make_case, every: float = 0.7):
        self.make_case, self.every = make_case, every
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.wait(self.every):
            self.make_case(minutes_ago=1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)


def test_typing_continuously_through_ten_refreshes_keeps_every_key_and_the_caret(app, one_second_polls, make_case, page):
    case_id = make_case(order_no="TB-TYPING-1", minutes_ago=100)  # due first: the new cases queue behind it
    log_in(page, "agent")
    page.goto("/cases/")
    page.locator(f"#case-{case_id} summary").click()
    note = page.locator(f"#note-{case_id}")
    note.click()
    page.evaluate("""() => {
        window.boardSwaps = 0;
        document.body.addEventListener('htmx:afterSwap', e => { if (e.detail.target.id === 'board') window.boardSwaps += 1; });
    }""")
    first = (string.ascii_lowercase + string.digits) * 7   # 252 keys, one every 30 ms: about 8 s
    second = (string.ascii_uppercase + "-") * 9             # 243 keys
    with Changes(make_case):
        page.keyboard.type(first, delay=30)
        swaps_in_first = page.evaluate("window.boardSwaps")
        page.keyboard.press("Control+Home")  # the caret moves to the start: what follows is typed before the first part
        page.keyboard.type(second, delay=30)
        swaps = page.evaluate("window.boardSwaps")
    assert swaps >= 10 and swaps_in_first >= 3, f"only {swaps} board refreshes happened while typing"
    expect(note).to_have_value(second + first)
    assert page.evaluate("document.activeElement.id") == f"note-{case_id}"
    caret = page.evaluate(f"[document.getElementById('note-{case_id}').selectionStart, document.getElementById('note-{case_id}').selectionEnd]")
    assert caret == [len(second), len(second)]
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1


def test_on_a_phone_the_board_shows_one_column_with_tabs_and_the_list_fits(app, one_second_polls, make_case, page):
    make_case(minutes_ago=200, assignee="agent", state="in_progress", order_no="TB-PHONE-WORK")
    for number in range(6):
        make_case(minutes_ago=number * 20, order_no=f"TB-PHONE-{number}")
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, "lead")
    page.goto("/cases/")
    board = page.locator("#board")
    tabs = board.locator(".board-tab")
    expect(tabs).to_have_count(5)
    expect(tabs.first).to_contain_text("6")  # the new column's count is on its tab
    visible = page.evaluate("[...document.querySelectorAll('#board .column')].filter(c => c.offsetParent !== null).map(c => c.dataset.state)")
    assert visible == ["new"]
    expect(page.get_by_role("link", name="TB-PHONE-WORK")).to_be_hidden()
    board.locator('.board-tab[data-tab="in_progress"]').click()
    expect(page.get_by_role("link", name="TB-PHONE-WORK")).to_be_visible()
    # A refresh (a new case arrives) comes back on the chosen column.
    make_case(order_no="TB-PHONE-NEW")
    expect(board.locator('.column[data-state="new"]')).to_contain_text("TB-PHONE-NEW", timeout=8000)
    expect(page.get_by_role("link", name="TB-PHONE-WORK")).to_be_visible()
    expect(board.locator('.board-tab[data-tab="in_progress"]')).to_have_attribute("aria-pressed", "true")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 5000, f"the board is {height}px tall on a phone"
    small = page.evaluate("""() => [...document.querySelectorAll('#board .board-tab, #board summary, #board .case-card a')]
        .filter(el => el.offsetParent !== null).filter(el => el.getBoundingClientRect().height < 44).map(el => el.outerHTML.slice(0, 80))""")
    assert small == [], f"touch targets under 44px: {small[:3]}"
    violations = axe_violations(page)
    assert violations == [], format_violations(violations)

    page.goto("/cases/list")
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth, "
                           "document.querySelector('.cases-table').getBoundingClientRect().width]")
    assert widths[0] <= widths[1] and widths[2] <= 390, f"the list is {widths[2]}px wide on a 390px screen"
    expect(page.locator(".cases-table tbody tr").first.locator(".clock").first).to_be_visible()  # the deadline stays in view
    violations = axe_violations(page)
    assert violations == [], format_violations(violations)
