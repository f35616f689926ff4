"""Fixtures of the sync tests that need the app: a shop connected to a fake platform served on 127.0.0.1."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from models import Shop, ShopConnection, db, utcnow
from sync import shops
from sync.fakes.douyin import FakeDouyin
from sync.fakes.jd import FakeJd
from sync.fakes.server import serve
from sync.fakes.taobao import FakeTaobao
from tests.conftest import user_named


class Clock:
    """A fake platform's notion of now, moved by the test instead of sleeping (records are stamped with it)."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


SHOP_OF = {"taobao": "测试天猫店", "jd": "测试京东店", "douyin": "测试抖音店"}


@pytest.fixture
def fakes(no_proxy):
    """One fake of each platform, each for one of the test shops, over HTTP on loopback."""
    made = {"taobao": FakeTaobao(shop_ref="测试天猫店"), "jd": FakeJd(shop_ref="10001"),
            "douyin": FakeDouyin(shop_ref="4463798")}
    running = serve(list(made.values()))
    yield running
    running.stop()


def connect(app, running, family: str, **values) -> int:
    """Connect the test shop of ``family`` to its fake as an admin would; returns the shop's id."""
    fake = running.platforms[family]
    with app.app_context():
        shop = db.session.scalar(sa.select(Shop).where(Shop.name == SHOP_OF[family]))
        settings = {"shop_ref": fake.shop_ref, "app_key": fake.app_key, "token_expires_at": None,
                    "api_url": running.api_url(family), "first_sync_days": 3, "sync_reviews": True, "active": True}
        settings.update(values)
        shops.connect(shop.name, shop.platform, settings, {"app_secret": fake.app_secret, "access_token": fake.access_token},
                      user_named("admin"), utcnow())
        db.session.commit()
        return shop.id


def connection_of(shop_id: int) -> ShopConnection:
    return db.session.scalar(sa.select(ShopConnection).where(ShopConnection.shop_id == shop_id))
