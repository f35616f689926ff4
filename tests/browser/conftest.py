"""Browser fixtures: Debian's Chromium driven by Playwright against the live server."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import TEST_PASSWORD

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-4.11.1.min.js"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


# The machines are shared and noisy: wait longer than Playwright's 5 s before calling a check failed.
expect.set_options(timeout=15_000)


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is not installed: `make test` installs Debian's chromium package")
    return found


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": chromium_path(), "args": CHROMIUM_FLAGS}


@pytest.fixture
def browser_context_args(browser_context_args, live_server):
    return {**browser_context_args, "base_url": live_server.url, "viewport": {"width": 1366, "height": 768}}


def log_in(page, username: str, password: str = TEST_PASSWORD) -> None:
    page.goto("/auth/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(password)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(lambda url: "/auth/login" not in url)


@pytest.fixture(autouse=True)
def no_policy_violations(page):
    """Every browser test runs with the app's Content-Security-Policy on and fails on any violation."""
    refused = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else None)
    yield
    assert refused == [], f"the page broke its Content-Security-Policy: {refused[:3]}"


def axe_violations(page) -> list[dict]:
    """Run axe-core on the page as it is; return the violations, simplified.

    axe is evaluated through the DevTools protocol, as a test tool: a <script> tag would be refused by the
    page's Content-Security-Policy (script-src 'self'), which these tests keep on.
    """
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
    ]


def format_violations(violations) -> str:
    return json.dumps(violations, ensure_ascii=False, indent=1)
