"""The Taobao connector against the Taobao stand-in, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from platforms import statuses
from sync.connectors.base import BadRecord, Credentials, PermanentError, TransientError
from sync.connectors.taobao import TaobaoConnector, china_time, sign
from sync.fakes.server import serve
from sync.fakes.taobao import FakeTaobao, expected_sign
from tests.sync.conftest import Clock

SHOP = "南山家居旗舰店"
T0 = datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC)  # 10:00 in China




@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def fake(clock):
    return FakeTaobao(app_key="23456789", app_secret="s3cr3t-of-the-app", access_token="6100a1b2c3-token",
                      shop_ref=SHOP, clock=clock)


@pytest.fixture
def running(fake):
    server = serve([fake])
    yield server
    server.stop()


def connector_for(running, fake, **changes) -> TaobaoConnector:
    values = {"app_key": fake.app_key, "app_secret": fake.app_secret, "access_token": fake.access_token,
              "shop_ref": SHOP, "api_url": running.api_url("taobao")}
    values.update(changes)
    return TaobaoConnector(Credentials(**values))


@pytest.fixture
def connector(running, fake):
    return connector_for(running, fake)


def calls_of(fake, method):
    return [call for call in fake.calls if call.get("method") == method]


# --- signature ---------------------------------------------------------------------------------------------

def test_sign_matches_the_official_example():
    # The worked example of TOP's "API调用协议" (docId=101617): secret helloworld -> 66987CB1…
    params = {"method": "taobao.item.seller.get", "app_key": "12345678", "session": "test",
              "timestamp": "2016-01-01 12:00:00", "format": "json", "v": "2.0", "sign_method": "md5",
              "fields": "num_iid,title,nick,price,num", "num_iid": "11223344"}
    assert sign(params, "helloworld", "md5") == "66987CB115214E59E6EC978214934FB8"
    assert sign({**params, "sign": "ignored"}, "helloworld") == "66987CB115214E59E6EC978214934FB8"


def test_sign_hmac_methods_match_the_rfc_vectors():
    # Parameters {"Hi": " There"} concatenate to "Hi There", the message of RFC 2202 / RFC 4231 test case 1.
    assert sign({"Hi": " There"}, "\x0b" * 16, "hmac") == "9294727A3638BB1C13F48EF8158BFC9D"
    assert sign({"Hi": " There"}, "\x0b" * 20, "hmac-sha256") == (
        "B0344C61D8DB38535CA8AFCEAF0BF12B881DC200C9833DA726E9376C2E32CFF7")


def test_sign_agrees_with_the_stand_in_and_skips_empty_values():
    params = {"method": "taobao.refunds.receive.get", "fields": "refund_id,tid", "page_no": "2", "buyer_nick": ""}
    for method in ("md5", "hmac", "hmac-sha256"):
        assert sign(params, "k", method) == expected_sign(params, "k", method)
    text = "fieldsrefund_id,tidmethodtaobao.refunds.receive.getpage_no2"
    assert sign(params, "k", "md5") == hashlib.md5(("k" + text + "k").encode()).hexdigest().upper()
    assert sign(params, "k", "hmac") == hmac.new(b"k", text.encode(), hashlib.md5).hexdigest().upper()


def test_china_time_is_gmt_plus_8():
    assert china_time(datetime(2016, 1, 1, 4, 0, 0, 900_000, tzinfo=UTC)) == "2016-01-01 12:00:00"


# --- cases -------------------------------------------------------------------------------------------------

def test_first_fetch_returns_the_refunds_mapped(fake, connector):
    returned = fake.new_after_sale(total_fee="299.00", refund_fee="299.00", reason="质量问题", desc="洗了一次就起球",
                                   good_status="BUYER_RECEIVED")
    refunded = fake.new_after_sale(status="SUCCESS", dispute_type="REFUND", has_good_return=False, total_fee="89.90",
                                   refund_fee="45.50", refund_remind_timeout={"exist_timeout": False})

    page = connector.fetch("cases", T0 - timedelta(hours=1), T0 + timedelta(hours=1), page_no=1)

    assert not page.has_more
    assert [connector.record_id("cases", record) for record in page.records] == [
        returned["refund_id"], refunded["refund_id"]]
    assert all(connector.shop_of("cases", record) == SHOP for record in page.records)
    first, second = (connector.row("cases", record) for record in page.records)
    assert first == {
        "order_no": str(returned["tid"]),
        "platform_case_id": returned["refund_id"],
        "buyer_nick": returned["buyer_nick"],
        "kind": "退货退款",
        "needs_return": "是",
        "order_amount": Decimal("299.00"),
        "refund_amount": Decimal("299.00"),
        "received_at": T0,
        "platform_deadline_at": T0 + timedelta(days=2),
        "reason": "质量问题",
        "explanation": "洗了一次就起球",
        "platform_status": "买家已经申请退款，等待卖家同意",
        "platform_goods_status": "买家已收到货",
        "platform_intervention": "不需客服介入",
    }
    assert statuses.status_of("taobao", first["platform_status"]) == statuses.WAITING_SELLER
    assert not statuses.intervening("taobao", first["platform_intervention"])
    assert second["kind"] == "仅退款" and second["needs_return"] == "否"
    assert second["refund_amount"] == Decimal("45.50") and isinstance(second["refund_amount"], Decimal)
    assert statuses.status_of("taobao", second["platform_status"]) == statuses.REFUNDED
    assert "platform_deadline_at" not in second

    # The list carries no deadline: the open refund's detail was asked for, the finished one's was not.
    assert [call["refund_id"] for call in calls_of(fake, "taobao.refund.get")] == [returned["refund_id"]]
    listed = calls_of(fake, "taobao.refunds.receive.get")[0]
    assert listed["start_modified"] == "2026-03-02 09:00:00" and listed["end_modified"] == "2026-03-02 11:00:00"
    assert listed["use_has_next"] == "true" and listed["v"] == "2.0" and listed["sign_method"] == "md5"


def test_intervention_and_exchange_words(fake, connector):
    fake.new_after_sale(status="WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS", dispute_type="TMALL_EXCHANGE",
                        cs_status=3)
    record = connector.fetch("cases", T0, T0 + timedelta(minutes=1), 1).records[0]
    row = connector.row("cases", record)
    assert row["kind"] == "换货"
    assert statuses.status_of("taobao", row["platform_status"]) == statuses.RESHIPPED
    assert row["platform_intervention"] == "客服已经介入" and statuses.intervening("taobao", row["platform_intervention"])


def test_incremental_window_picks_up_the_change_and_nothing_older(fake, connector, clock):
    changed = fake.new_after_sale()
    fake.new_after_sale()
    first = connector.fetch("cases", T0 - timedelta(hours=1), T0 + timedelta(minutes=30), 1)
    assert len(first.records) == 2

    clock.now = T0 + timedelta(hours=1)
    fake.change_after_sale(changed["refund_id"], status="WAIT_BUYER_RETURN_GOODS")
    later = connector.fetch("cases", T0 + timedelta(minutes=30), T0 + timedelta(hours=2), 1)

    assert [record["refund_id"] for record in later.records] == [changed["refund_id"]]
    row = connector.row("cases", later.records[0])
    assert statuses.status_of("taobao", row["platform_status"]) == statuses.WAITING_RETURN
    assert row["platform_deadline_at"] == T0 + timedelta(hours=1, days=7)
    assert row["received_at"] == T0  # the application time does not move


def test_paging_walks_three_pages_and_every_refund_arrives_once(fake, connector, clock):
    made = []
    for minute in range(5):
        clock.now = T0 + timedelta(minutes=minute)
        made.append(fake.new_after_sale(status="CLOSED")["refund_id"])
    connector.page_size = 2

    seen, pages, page_no = [], [], 1
    while True:
        page = connector.fetch("cases", T0, T0 + timedelta(hours=1), page_no)
        seen += [connector.record_id("cases", record) for record in page.records]
        pages.append(page.has_more)
        if not page.has_more:
            break
        page_no += 1

    assert pages == [True, True, False]
    assert seen == made
    asked = calls_of(fake, "taobao.refunds.receive.get")
    assert [(call["page_no"], call["page_size"]) for call in asked] == [("1", "2"), ("2", "2"), ("3", "2")]


# --- errors ------------------------------------------------------------------------------------------------

def test_rate_limit_is_transient_with_the_ban_length_then_the_next_call_succeeds(fake, connector):
    fake.new_after_sale(status="CLOSED")
    fake.fail("rate_limit")
    with pytest.raises(TransientError) as caught:
        connector.fetch("cases", T0, T0 + timedelta(hours=1), 1)
    assert caught.value.code == "7" and caught.value.retry_after == 1
    assert len(connector.fetch("cases", T0, T0 + timedelta(hours=1), 1).records) == 1


def test_server_error_is_transient(fake, connector):
    fake.fail("server_error")
    with pytest.raises(TransientError) as caught:
        connector.fetch("reviews", T0, T0 + timedelta(hours=1), 1)
    assert caught.value.code == "15" and caught.value.retry_after is None


def test_bad_secret_is_refused_and_permanent(running, fake):
    connector = connector_for(running, fake, app_secret="not-the-secret")
    with pytest.raises(PermanentError) as caught:
        connector.fetch("cases", T0, T0 + timedelta(hours=1), 1)
    assert caught.value.code == "25" and not caught.value.token
    assert "app secret" in caught.value.message


def test_wrong_or_expired_token_asks_for_a_new_authorization(running, fake, connector):
    with pytest.raises(PermanentError) as caught:
        connector_for(running, fake, access_token="6100-expired").fetch("cases", T0, T0 + timedelta(hours=1), 1)
    assert caught.value.code == "27" and caught.value.token

    fake.fail("bad_token")
    with pytest.raises(PermanentError) as caught:
        connector.fetch("reviews", T0, T0 + timedelta(hours=1), 1)
    assert caught.value.token


def test_the_stand_in_refuses_a_hand_built_bad_signature(running, fake):
    form = {"method": "taobao.refunds.receive.get", "app_key": fake.app_key, "session": fake.access_token,
            "timestamp": china_time(datetime.now(UTC)), "format": "json", "v": "2.0", "sign_method": "md5",
            "fields": "refund_id", "page_no": "1"}
    form["sign"] = sign(form, fake.app_secret)
    assert "refunds_receive_get_response" in requests.post(running.api_url("taobao"), data=form, timeout=5).json()

    tampered = dict(form, page_no="2")  # signed for page 1
    error = requests.post(running.api_url("taobao"), data=tampered, timeout=5).json()["error_response"]
    assert (error["code"], error["msg"]) == (25, "Invalid signature")
    unsigned = {name: value for name, value in form.items() if name != "sign"}
    assert requests.post(running.api_url("taobao"), data=unsigned, timeout=5).json()["error_response"]["code"] == 24


# --- malformed records -------------------------------------------------------------------------------------

def test_malformed_refunds_are_bad_records_with_their_id(fake, connector):
    good = fake.new_after_sale(status="CLOSED")
    no_id = {key: value for key, value in good.items() if key != "refund_id"}
    fake.put_raw("cases", "raw-1", no_id)
    fake.put_raw("cases", "900000000000001", dict(good, refund_id="900000000000001", refund_fee="一百元"))
    no_status = {key: value for key, value in good.items() if key != "status"}
    fake.put_raw("cases", "900000000000002", dict(no_status, refund_id="900000000000002"))

    records = connector.fetch("cases", T0, T0 + timedelta(hours=1), 1).records
    assert len(records) == 4
    errors = []
    for record in records:
        try:
            connector.row("cases", record)
        except BadRecord as error:
            errors.append((error.record_id, error.message))
    # The one without a status was looked up in detail (it is not known to be finished) and still refused.
    assert [call["refund_id"] for call in calls_of(fake, "taobao.refund.get")] == ["900000000000002"]
    assert sorted(errors) == [("", "the refund has no refund_id"),
                      ("900000000000001", "refund_fee is not an amount: '一百元'"),
                      ("900000000000002", "the refund has no status")]


# --- reviews -----------------------------------------------------------------------------------------------

def test_reviews_are_fetched_and_mapped(fake, connector, clock):
    bad = fake.new_review(content="有异味，不推荐", item_title="加厚珊瑚绒四件套 1.8m床 灰色")
    clock.now = T0 + timedelta(minutes=5)
    fake.new_review(result="neutral")
    clock.now = T0 + timedelta(days=2)
    fake.new_review(result="good")  # outside the window

    page = connector.fetch("reviews", T0 - timedelta(hours=1), T0 + timedelta(hours=1), 1)

    assert len(page.records) == 2 and not page.has_more
    first, second = (connector.row("reviews", record) for record in page.records)
    assert first == {
        "platform_review_id": f"{bad['tid']}-{bad['oid']}",
        "order_no": str(bad["tid"]),
        "buyer_nick": bad["nick"],
        "product": "加厚珊瑚绒四件套 1.8m床 灰色",
        "rating": "差评",
        "text": "有异味，不推荐",
        "reviewed_at": T0,
    }
    assert second["rating"] == "中评"
    assert connector.shop_of("reviews", page.records[0]) == SHOP
    asked = calls_of(fake, "taobao.traderates.get")[0]
    assert (asked["rate_type"], asked["role"]) == ("get", "buyer")
    assert asked["start_date"] == "2026-03-02 09:00:00"


def test_a_review_without_result_is_a_bad_record(fake, connector):
    review = fake.new_review()
    fake.put_raw("reviews", f"{review['tid']}-{review['oid']}",
                 {key: value for key, value in review.items() if key != "result"})
    record = connector.fetch("reviews", T0, T0 + timedelta(hours=1), 1).records[0]
    with pytest.raises(BadRecord) as caught:
        connector.row("reviews", record)
    assert caught.value.record_id == f"{review['tid']}-{review['oid']}"
    assert caught.value.message == "the review has no result"


def test_a_refund_whose_detail_is_refused_keeps_its_listed_fields(fake, connector):
    listed = fake.new_after_sale()
    # Stored under another key, taobao.refund.get does not find it and answers a business error (code 15).
    fake.put_raw("cases", "moved", dict(fake.records["cases"].pop(listed["refund_id"])[1]))
    row = connector.row("cases", connector.fetch("cases", T0, T0 + timedelta(hours=1), 1).records[0])
    assert row["platform_case_id"] == listed["refund_id"]
    assert "platform_deadline_at" not in row and "platform_intervention" not in row
