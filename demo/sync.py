"""The demo shops connected to the local fake platforms that ``make run`` starts (sync/fakes/demo.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from models import Shop, ShopConnection, User, db
from sync import shops
from sync.fakes.demo import DEMO_SHOPS, demo_fakes

FAKE_PLATFORMS_URL = "http://127.0.0.1:5001"


def connect_demo_shops(base_url: str, now: datetime) -> list[str]:
    """Connect each demo shop that exists and has no connection yet to its fake; returns the shops connected."""
    admin = db.session.scalar(User.by_username("admin"))
    connected = []
    for fake in demo_fakes():
        name, _ref = DEMO_SHOPS[fake.family]
        shop = db.session.scalar(sa.select(Shop).where(Shop.name == name))
        if shop is None or db.session.scalar(sa.select(ShopConnection.id).where(ShopConnection.shop_id == shop.id)):
            continue
        values = {"shop_ref": fake.shop_ref, "app_key": fake.app_key, "token_expires_at": now + timedelta(days=30),
                  "api_url": base_url.rstrip("/") + "/" + fake.family + fake.path, "first_sync_days": 1,
                  "sync_reviews": True, "active": True}
        shops.connect(name, shop.platform, values, {"app_secret": fake.app_secret, "access_token": fake.access_token},
                      admin, now)
        connected.append(name)
    db.session.commit()
    return connected
