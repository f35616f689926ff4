"""The demo's fake platforms (make run): busy on their own, and the demo shops connected to them."""

from __future__ import annotations

import sqlalchemy as sa

from demo.accounts import create_accounts
from demo.sync import connect_demo_shops
from models import Shop, ShopConnection, db, utcnow
from sync.credentials import unseal
from sync.fakes.demo import _STATUS, DEMO_SHOPS, DemoActivity, demo_fakes
from sync.fakes.taobao import FakeTaobao


def test_every_fake_gets_requests_and_reviews_and_moves_them_along_its_own_flow():
    fakes = demo_fakes()
    activity = DemoActivity(fakes, seed=3)
    activity.seed()
    assert all(len(fake.records["cases"]) == 3 and len(fake.records["reviews"]) == 1 for fake in fakes)

    for fake in fakes:
        status_of, _field = _STATUS[fake.family]
        before = {record_id: status_of(record) for record_id, (_at, record) in fake.records["cases"].items()}
        said = activity.advance(fake)
        record_id, step = said.split(" ", 1)
        old, new = step.split(" -> ")
        assert before[record_id] == old and fake.FLOW.index(new) == fake.FLOW.index(old) + 1
        assert status_of(fake.get("cases", record_id)) == new

    lines = [activity.step() for _ in range(30)]
    assert any("new after-sales request" in line for line in lines) and any("new review" in line for line in lines)


def test_a_restarted_fake_does_not_reuse_the_ids_it_made_before():
    """Its ids start from the clock: the app never takes a new request for an update of an old one."""
    first = demo_fakes()[0].new_after_sale()["refund_id"]
    fresh = FakeTaobao(shop_ref=DEMO_SHOPS["taobao"][1]).new_after_sale()["refund_id"]  # a fake counting from 1
    assert int(first) > int(fresh) + 1_000_000


def test_the_demo_shops_are_connected_once_to_the_fakes(app):
    with app.app_context():
        create_accounts()
        connected = connect_demo_shops("http://127.0.0.1:5001", utcnow())
        again = connect_demo_shops("http://127.0.0.1:5001", utcnow())
        assert sorted(connected) == sorted(name for name, _ref in DEMO_SHOPS.values()) and again == []
        tmall = db.session.scalar(sa.select(ShopConnection).join(Shop).where(Shop.name == "天猫旗舰店"))
        assert tmall.api_url == "http://127.0.0.1:5001/taobao/router/rest"
        assert unseal(tmall.sealed) == {"app_secret": "demo-app-secret", "access_token": "demo-access-token"}
