"""Notifications in a real Chromium: a case a lead assigns reaches the agent's open tab as a number in the
tab's title, a short sound and a browser notification, once; a reload does not announce it again."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from models import Case, db, set_setting
from tests.conftest import TEST_PASSWORD, user_named

# Records what the page asks of the browser: each notification (and the object, to click it) and each tone.
RECORDER = """
(() => {
  window.__notifications = [];
  window.__tones = 0;
  const Real = window.Notification;
  function Recorded(title, options) {
    let shown;
    try { shown = new Real(title, options); } catch (e) { shown = { close() {} }; }
    window.__notifications.push({ title: title, tag: options && options.tag, shown: shown });
    return shown;
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Recorded;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) { window.__tones += 1; return start.apply(this, args); };
})();
"""


def log_in_here(page, username: str) -> None:
    """Log in on the login page already open (it keeps the language chosen with ?lang=)."""
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(TEST_PASSWORD)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


def wait_for_notifications(page, seconds: float = 15) -> None:
    """Poll from here: wait_for_function evaluates its predicate with eval, which the page's CSP refuses."""
    for _ in range(int(seconds * 4)):
        if page.evaluate("window.__notifications.length") > 0:
            return
        page.wait_for_timeout(250)
    raise AssertionError("no notification was shown")


@pytest.fixture
def fast_polls(app):
    with app.app_context():
        set_setting("poll_seconds", 2)
        db.session.commit()


def test_an_assigned_case_reaches_the_agents_open_tab_once(app, fast_polls, make_case, new_context):
    case_id = make_case(minutes_ago=600, order_no="TB-NOTE-1")  # imported late: already past its reply deadline
    context = new_context(permissions=["notifications"])
    context.add_init_script(RECORDER)
    agent = context.new_page()
    # In English: the Chinese of this page's new words arrives with the next catalogue build.
    agent.goto("/auth/login?lang=en")
    log_in_here(agent, "agent")

    # Both switches on (the browser already allows notifications, so it asks nothing).
    agent.goto("/auth/notifications")
    agent.get_by_label("Play a short sound").check()
    agent.get_by_label("Show a browser notification").check()
    agent.locator("main form button[type=submit]").click()
    expect(agent.locator("#flash")).to_contain_text("Notification settings saved.")

    agent.goto("/cases/")
    expect(agent.locator("#header-counters[data-sound=on][data-notify=on]")).to_have_count(1)
    expect(agent).to_have_title(re.compile(r"^(?!\()"))  # nothing waits: no number
    assert agent.evaluate("window.__notifications.length") == 0

    # A lead assigns the late case to the agent (another browser, another person).
    lead = app.test_client()
    assert lead.post_form("/auth/login", {"username": "lead", "password": TEST_PASSWORD}).status_code == 302
    with app.app_context():
        data = {"assignee_id": user_named("agent").id, "version": db.session.get(Case, case_id).version}
    assert lead.post_form(f"/cases/{case_id}/assign", data, headers={"HX-Request": "true"}).status_code == 200

    # The agent's tab, never reloaded, shows the number in its title, plays the tones and shows the notification.
    expect(agent).to_have_title(re.compile(r"^\(1\) "), timeout=15_000)
    wait_for_notifications(agent)
    notes = agent.evaluate("window.__notifications.map(n => n.title)")
    assert notes == ["Case TB-NOTE-1 assigned to you"]
    assert agent.evaluate("window.__tones") > 0
    assert agent.evaluate("performance.getEntriesByType('navigation').length") == 1

    # A reload does not announce it again (the browser remembers the last item it announced).
    agent.reload()
    expect(agent).to_have_title(re.compile(r"^\(1\) "))
    agent.wait_for_timeout(4_500)  # two more polls
    assert agent.evaluate("window.__notifications.length") == 0
    assert agent.evaluate("window.__tones") == 0

    # Clicking the notification opens the case.
    lead_again = app.test_client()
    assert lead_again.post_form("/auth/login", {"username": "lead", "password": TEST_PASSWORD}).status_code == 302
    second = make_case(minutes_ago=5, order_no="TB-NOTE-2")
    with app.app_context():
        data = {"assignee_id": user_named("agent").id, "version": db.session.get(Case, second).version}
    assert lead_again.post_form(f"/cases/{second}/assign", data, headers={"HX-Request": "true"}).status_code == 200
    wait_for_notifications(agent)
    assert agent.evaluate("window.__notifications.map(n => n.title)") == ["Case TB-NOTE-2 assigned to you"]
    agent.evaluate("window.__notifications[0].shown.onclick()")
    agent.wait_for_url(f"**/cases/{second}")
