"""Marketplace sync in a real Chromium (#15): a request made on the (fake) platform appears on an open board
without a reload, with the platform's deadline, within one sync interval plus one poll; the sync panel shows
the run and its "sync now" works. The app's scheduler runs in a thread as ``make run`` runs it beside gunicorn.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from playwright.sync_api import expect

import scheduler
from models import db, set_setting, utcnow
from sync import runner
from tests.browser.conftest import axe_violations, format_violations, log_in
from tests.sync.conftest import connect, connection_of, fakes  # noqa: F401  (the fixture)

SYNC_SECONDS = 6   # the shop's interval here (minutes in real use: 5, or 2 in big promotions)
POLL_SECONDS = 2


@pytest.fixture
def scheduler_running(app):
    """The app's scheduler in a thread, a pass every second, as `make run` runs it beside the web server."""
    stop = threading.Event()

    def pass_every_second():
        with app.app_context():
            scheduler.run_forever(interval=1, stop=stop)

    thread = threading.Thread(target=pass_every_second, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(10)


@pytest.fixture
def scheduled(app, fakes, scheduler_running):  # noqa: F811
    """The tmall test shop connected to its fake, with a short interval and a fast poll."""
    with app.app_context():
        set_setting("sync_minutes", SYNC_SECONDS / 60)
        set_setting("poll_seconds", POLL_SECONDS)
        db.session.commit()
    shop_id = connect(app, fakes, "taobao")
    return fakes.platforms["taobao"], shop_id


def test_a_request_made_on_the_platform_appears_on_the_open_board_with_its_deadline(app, live_server, page, scheduled):
    fake, shop_id = scheduled
    log_in(page, "lead")
    page.goto("/cases/")
    expect(page.locator("#board")).to_be_visible()

    made_at = utcnow()
    refund = fake.new_after_sale(buyer_nick="同步来的买家")
    order = str(refund["tid"])

    card = page.locator(".case-card", has_text=order)
    # one sync interval, one scheduler slot (10 s), one poll, and the machine's noise
    expect(card).to_be_visible(timeout=(SYNC_SECONDS + 10 + POLL_SECONDS + 12) * 1000)
    expect(card.locator(".platform-deadline")).to_be_visible()
    deadline = refund["refund_remind_timeout"]["timeout"]  # "yyyy-MM-dd HH:mm:ss", shop time
    expect(card.locator(".platform-deadline time")).to_have_text(deadline[5:16])
    expect(card.locator(".platform-status-waiting_seller")).to_be_visible()
    assert utcnow() - made_at < timedelta(seconds=SYNC_SECONDS + 10 + POLL_SECONDS + 12)


def test_the_sync_panel_shows_the_run_and_sync_now_brings_a_change(app, live_server, page, scheduled):
    fake, shop_id = scheduled
    refund = fake.new_after_sale()
    with app.app_context():  # a long interval: only "sync now" brings the next change in time
        set_setting("sync_minutes", 60)
        db.session.commit()
        connection = connection_of(shop_id)
        assert runner.claim(connection.id, utcnow(), "test")
        runner.sync_shop(connection.id, who="test")
    log_in(page, "lead")
    page.goto("/sync/")
    shop = page.locator(f'.sync-shop[data-shop="{shop_id}"]')
    expect(shop.locator('.sync-counts[data-created="1"]')).to_be_visible()
    violations = axe_violations(page)
    assert violations == [], format_violations(violations)

    fake.change_after_sale(refund["refund_id"], status="SUCCESS")
    shop.get_by_role("button", name="立即同步").click()
    expect(page.locator("#flash")).to_contain_text("测试天猫店")
    expect(shop.locator('.sync-counts[data-updated="1"]')).to_be_visible(timeout=30_000)


def test_an_admin_connects_a_shop_and_its_first_sync_arrives(app, live_server, page, fakes,  # noqa: F811
                                                              scheduler_running):
    jd = fakes.platforms["jd"]
    service = jd.new_after_sale()
    log_in(page, "admin")
    page.goto("/sync/shops/new")
    violations = axe_violations(page)
    assert violations == [], format_violations(violations)
    page.get_by_label("店铺名称").fill("测试京东店")
    page.get_by_label("平台", exact=True).select_option("jd_pop")
    page.get_by_label("平台上的店铺名或编号").fill(jd.shop_ref)
    page.get_by_label("App Key").fill(jd.app_key)
    page.get_by_label("App Secret").fill(jd.app_secret)
    page.get_by_label("授权令牌（session / access_token）").fill(jd.access_token)
    page.get_by_label("接口地址").fill(fakes.api_url("jd"))
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#flash")).to_contain_text("测试京东店")
    row = page.locator("tr", has_text="测试京东店")
    expect(row.locator('[data-health="ok"]')).to_be_visible()
    expect(page).to_have_title("店铺接入 · 售后工作台")
    assert jd.app_secret not in page.content()
    violations = axe_violations(page)
    assert violations == [], format_violations(violations)

    page.goto("/sync/")
    shop = page.locator(".sync-shop", has_text="测试京东店")
    expect(shop.locator('.sync-counts[data-created="1"]')).to_be_visible(timeout=30_000)
    page.goto("/cases/list")
    expect(page.get_by_text(str(service["orderId"]))).to_be_visible()
