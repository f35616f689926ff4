"""The Douyin connector against the Douyin fake, over HTTP on loopback."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from platforms import statuses
from sync.connectors.base import BadRecord, Credentials, PermanentError, TransientError
from sync.connectors.douyin import DouyinConnector, param_json, sign
from sync.fakes import douyin as fake_module
from sync.fakes.douyin import FakeDouyin
from sync.fakes.server import serve
from tests.sync.conftest import Clock

T0 = datetime(2026, 3, 2, 6, 30, 15, tzinfo=UTC)  # 14:30:15 in China




@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def fake(clock):
    return FakeDouyin(app_secret="fake-secret", access_token="fake-token", clock=clock)


@pytest.fixture
def running(fake):
    running = serve([fake])
    yield running
    running.stop()


def connector_for(running, fake, **changes) -> DouyinConnector:
    values = {"app_key": fake.app_key, "app_secret": fake.app_secret, "access_token": fake.access_token,
              "shop_ref": fake.shop_ref, "api_url": running.api_url("douyin")}
    values.update(changes)
    return DouyinConnector(Credentials(**values))


@pytest.fixture
def connector(running, fake):
    return connector_for(running, fake)


def window(connector, kind, start, end):
    """Every record of [start, end), page after page."""
    records, page_no = [], 1
    while True:
        page = connector.fetch(kind, start, end, page_no)
        records += page.records
        if not page.has_more:
            return records
        page_no += 1


# --- the signature ------------------------------------------------------------------------------------------------

def test_signature_matches_one_computed_outside_python():
    # printf '%s' 's3cr3tapp_key7012345678901234567methodafterSale.Listparam_json{"page":0,"size":2}timestamp
    # 2018-06-14 16:06:59v2s3cr3t' | openssl dgst -sha256 -hmac s3cr3t   (and | openssl dgst -md5)
    args = ("s3cr3t", "7012345678901234567", "afterSale.List", '{"page":0,"size":2}', "2018-06-14 16:06:59")
    assert sign(*args) == "72eea36bbeb1850b851c2f9a8f72906907381ea711c6a39d58d199a26c778087"
    assert sign(*args, sign_method="md5") == "9bbfb1c5586f40089d43eef903348f81"
    # the fake signs on its own, from the same definition
    assert fake_module.sign(*args, sign_method="hmac-sha256") == sign(*args)
    assert fake_module.sign(*args) == sign(*args, sign_method="md5")


def test_param_json_has_sorted_keys_no_spaces_and_keeps_chinese():
    assert param_json({"size": 2, "page": 0, "order_by": ["update_time asc"], "reason": "质量问题"}) == \
        '{"order_by":["update_time asc"],"page":0,"reason":"质量问题","size":2}'


def signed_query(fake, method, body, *, secret=None, sign_method="hmac-sha256", timestamp="2026-03-02 14:30:15"):
    query = {"app_key": fake.app_key, "method": method, "access_token": fake.access_token, "timestamp": timestamp,
             "v": "2", "sign_method": sign_method,
             "sign": sign(secret or fake.app_secret, fake.app_key, method, body, timestamp, sign_method=sign_method)}
    return query


def test_the_fake_refuses_a_bad_signature_and_accepts_the_documented_forms(running, fake):
    url = running.api_url("douyin") + "/afterSale/List"
    body = param_json({"page": 0, "size": 10})

    refused = requests.post(url, params=signed_query(fake, "afterSale.List", body, secret="not-the-secret"), data=body)
    assert refused.json()["code"] == 40003
    assert refused.json()["sub_code"] == "isv.signature-invalid"

    tampered = signed_query(fake, "afterSale.List", body)
    tampered_body = param_json({"page": 0, "size": 99})
    assert requests.post(url, params=tampered, data=tampered_body).json()["sub_code"] == "isv.signature-invalid"

    unsigned = signed_query(fake, "afterSale.List", body)
    del unsigned["sign"]
    assert requests.post(url, params=unsigned, data=body).json()["sub_code"] == "isv.signature-missing"

    # The older documented form: MD5 without sign_method, param_json in the query, Unix-seconds timestamp.
    md5 = signed_query(fake, "afterSale.List", body, sign_method="md5", timestamp="1772433015")
    del md5["sign_method"]
    accepted = requests.get(url, params={**md5, "param_json": body}).json()
    assert accepted["code"] == 10000 and accepted["msg"] == "success"
    assert set(accepted["data"]) >= {"items", "has_more", "total"}
    assert "log_id" in accepted


# --- after-sales --------------------------------------------------------------------------------------------------

def test_first_fetch_returns_what_the_fake_holds_mapped(connector, fake):
    refund = fake.new_after_sale(refund_amount=12990, aftersale_type=0, got_pkg=1)
    disputed = fake.new_after_sale(aftersale_type=2, aftersale_status=27, arbitrate_status=1, got_pkg=0,
                                   reason_text="未按约定时间发货")

    records = window(connector, "cases", T0 - timedelta(hours=1), T0 + timedelta(hours=1))

    by_id = {connector.record_id("cases", record): record for record in records}
    refund_id = refund["aftersale_info"]["aftersale_id"]
    disputed_id = disputed["aftersale_info"]["aftersale_id"]
    assert set(by_id) == {refund_id, disputed_id}
    assert connector.shop_of("cases", by_id[refund_id]) is None  # afterSale.List names no shop

    row = connector.row("cases", by_id[refund_id])
    assert row["order_no"] == refund["order_info"]["shop_order_id"]
    assert row["platform_case_id"] == refund_id
    assert row["kind"] == "退货退款"
    assert row["refund_amount"] == Decimal("129.90")
    assert row["order_amount"] == Decimal(refund["order_info"]["related_order_info"][0]["pay_amount"]) / 100
    assert isinstance(row["order_amount"], Decimal)
    assert row["received_at"] == T0.replace(microsecond=0)
    assert row["platform_deadline_at"] == T0.replace(microsecond=0) + timedelta(hours=48)
    assert row["platform_status"] == "待商家同意"
    assert statuses.status_of("douyin", row["platform_status"]) == statuses.WAITING_SELLER
    assert row["platform_goods_status"] == "买家已收到货"
    assert row["reason"] == refund["text_part"]["reason_text"]
    assert not statuses.intervening("douyin", row["platform_intervention"])

    row = connector.row("cases", by_id[disputed_id])
    assert row["kind"] == "未发货仅退款"
    assert statuses.status_of("douyin", row["platform_status"]) == statuses.SELLER_REFUSED
    assert "platform_deadline_at" not in row  # the buyer acts now, not the seller
    assert row["platform_intervention"] == "仲裁中"
    assert statuses.intervening("douyin", row["platform_intervention"])
    assert row["platform_goods_status"] == "买家未收到货"
    assert row["reason"] == "未按约定时间发货"

    call = fake.calls[-1]
    assert call["method"] == "afterSale.List" and call["path"] == "/afterSale/List"
    assert call["params"]["update_start_time"] == int((T0 - timedelta(hours=1)).timestamp())
    assert call["params"]["update_end_time"] == int((T0 + timedelta(hours=1)).timestamp())


def test_incremental_window_picks_up_the_status_change_and_nothing_older(connector, fake, clock):
    first = fake.new_after_sale()
    fake.new_after_sale()
    first_end = T0 + timedelta(minutes=5)
    assert len(window(connector, "cases", T0 - timedelta(minutes=5), first_end)) == 2

    clock.advance(minutes=20)
    fake.change_after_sale(first["aftersale_info"]["aftersale_id"], aftersale_status=fake.FLOW[1])
    records = window(connector, "cases", first_end, clock.now + timedelta(minutes=5))

    assert [connector.record_id("cases", record) for record in records] == [first["aftersale_info"]["aftersale_id"]]
    row = connector.row("cases", records[0])
    assert row["platform_status"] == "待买家退货"
    assert statuses.status_of("douyin", row["platform_status"]) == statuses.WAITING_RETURN
    assert row["received_at"] == T0.replace(microsecond=0)  # still when the buyer applied


def test_paging_across_three_pages_brings_every_record_once(running, fake, clock):
    connector = connector_for(running, fake)
    connector.page_size = 2
    made = []
    for _ in range(5):
        made.append(fake.new_after_sale()["aftersale_info"]["aftersale_id"])
        clock.advance(seconds=3)

    pages = [connector.fetch("cases", T0 - timedelta(minutes=1), clock.now, page_no) for page_no in (1, 2, 3)]

    assert [len(page.records) for page in pages] == [2, 2, 1]
    assert [page.has_more for page in pages] == [True, True, False]
    ids = [connector.record_id("cases", record) for page in pages for record in page.records]
    assert ids == made  # oldest change first, each once
    asked = [(call["page"], call["params"]["size"]) for call in fake.calls if call["method"] == "afterSale.List"]
    assert asked == [(0, 2), (1, 2), (2, 2)]


def test_rate_limit_is_transient_and_the_next_call_succeeds(connector, fake):
    fake.new_after_sale()
    fake.fail("rate_limit")
    with pytest.raises(TransientError) as error:
        connector.fetch("cases", T0 - timedelta(hours=1), T0 + timedelta(hours=1), 1)
    assert error.value.code == "60000"
    assert "rate limit" in error.value.message
    assert len(connector.fetch("cases", T0 - timedelta(hours=1), T0 + timedelta(hours=1), 1).records) == 1


def test_server_error_is_transient(connector, fake):
    fake.fail("server_error")
    with pytest.raises(TransientError) as error:
        connector.fetch("reviews", T0 - timedelta(hours=1), T0 + timedelta(hours=1), 1)
    assert error.value.code.startswith("20000")


def test_a_wrong_secret_is_refused_as_a_signature_problem(running, fake):
    connector = connector_for(running, fake, app_secret="an-old-secret")
    with pytest.raises(PermanentError) as error:
        connector.fetch("cases", T0 - timedelta(hours=1), T0 + timedelta(hours=1), 1)
    assert error.value.token is False
    assert error.value.code == "40003/isv.signature-invalid"
    assert "app secret" in error.value.message


def test_a_wrong_or_expired_token_asks_for_a_new_one(running, fake):
    with pytest.raises(PermanentError) as error:
        connector_for(running, fake, access_token="someone-elses").fetch("cases", T0, T0 + timedelta(hours=1), 1)
    assert error.value.token is True
    assert error.value.code == "40003/isv.access-token-no-existed"

    fake.fail("bad_token")
    with pytest.raises(PermanentError) as error:
        connector_for(running, fake).fetch("cases", T0, T0 + timedelta(hours=1), 1)
    assert error.value.token is True
    assert "expired" in error.value.message


def test_malformed_records_are_refused_one_by_one(connector, fake):
    good = fake.new_after_sale()
    no_id = json.loads(json.dumps(fake.new_after_sale()))
    del no_id["aftersale_info"]["aftersale_id"]
    fake.put_raw("cases", "no-id", no_id)
    text_amount = fake.new_after_sale(refund_amount="十元")
    no_status = fake.new_after_sale()
    del no_status["aftersale_info"]["aftersale_status"]
    no_time = fake.new_after_sale(apply_time=None)

    records = window(connector, "cases", T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    outcome = {}
    for record in records:
        try:
            outcome[connector.record_id("cases", record)] = connector.row("cases", record)
        except BadRecord as error:
            outcome[error.record_id] = error

    good_id = good["aftersale_info"]["aftersale_id"]
    assert isinstance(outcome[good_id], dict)
    assert isinstance(outcome[""], BadRecord) and "no id" in outcome[""].message
    for record, words in ((text_amount, "not an amount"), (no_status, "aftersale_status"), (no_time, "apply_time")):
        record_id = record["aftersale_info"]["aftersale_id"]
        assert isinstance(outcome[record_id], BadRecord)
        assert words in outcome[record_id].message


# --- reviews ------------------------------------------------------------------------------------------------------

def test_reviews_are_fetched_and_mapped(connector, fake, clock):
    bad = fake.new_review(rate=3, content="收到就是坏的", photos=[{"url": "a.jpg"}, {"url": "b.jpg"}])
    clock.advance(minutes=1)
    good = fake.new_review(rate=1, content="很好用", photos=[], append_content="用了一周还不错",
                           append_time="2026-03-09 20:00:00")
    broken = fake.new_review(rate="五星")

    records = window(connector, "reviews", T0 - timedelta(minutes=5), T0 + timedelta(minutes=5))
    assert [connector.record_id("reviews", record) for record in records] == \
        [bad["comment_id"], good["comment_id"], broken["comment_id"]]

    row = connector.row("reviews", records[0])
    assert row == {"platform_review_id": bad["comment_id"], "order_no": str(bad["order_id"]),
                   "reviewed_at": T0.replace(microsecond=0), "rating": "差", "product": bad["product_name"],
                   "text": "收到就是坏的", "picture_count": 2}
    row = connector.row("reviews", records[1])
    assert row["rating"] == "好" and row["picture_count"] == 0
    assert row["follow_up_text"] == "用了一周还不错"
    assert row["follow_up_at"] == datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    with pytest.raises(BadRecord) as error:
        connector.row("reviews", records[2])
    assert error.value.record_id == broken["comment_id"]

    call = fake.calls[-1]
    assert call["method"] == "comment.list" and call["page"] == 0
    assert call["params"]["start_time"] == "2026-03-02 14:25:15"  # China time
    assert call["params"]["order_by"] == "update_time"


def test_review_paging_follows_the_total(running, fake, clock):
    connector = connector_for(running, fake)
    connector.page_size = 2
    for _ in range(5):
        fake.new_review()
        clock.advance(seconds=2)
    records = window(connector, "reviews", T0 - timedelta(minutes=1), clock.now)
    assert len({connector.record_id("reviews", record) for record in records}) == len(records) == 5
    assert [call["page"] for call in fake.calls] == [0, 1, 2]


def test_shop_of_reads_a_shop_id_when_the_record_has_one(connector):
    assert connector.shop_of("cases", {"aftersale_info": {"aftersale_id": "1", "shop_id": 4463798}}) == "4463798"
    assert connector.shop_of("reviews", {"comment_id": "1"}) is None
