"""The JD connector against the JD fake over real HTTP on loopback."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from platforms import statuses
from sync.connectors.base import BadRecord, Credentials, PermanentError, TransientError
from sync.connectors.jd import JdConnector, sign
from sync.fakes.jd import COMMENT_LIST, REFUND_APPLY_LIST, SERVICE_LIST, FakeJd, china_text
from sync.fakes.server import serve
from tests.sync.conftest import Clock

T0 = datetime(2026, 3, 2, 2, 0, 0, tzinfo=UTC)  # 10:00 in Beijing


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def fake(clock):
    return FakeJd(shop_ref="10086", clock=clock)


@pytest.fixture
def running(fake):
    server = serve([fake])
    yield server
    server.stop()


def connector_for(running, **changes) -> JdConnector:
    fields = {"app_key": "demo-app-key", "app_secret": "demo-app-secret", "access_token": "demo-access-token",
              "shop_ref": "10086", "api_url": running.api_url("jd")}
    fields.update(changes)
    return JdConnector(Credentials(**fields))


def calls_of(fake, method):
    return [call for call in fake.calls if call["method"] == method]


def test_signature_matches_the_documented_algorithm():
    # Computed by hand from JdUtils.SignJdRequest: secret + sorted name/value pairs (empty ones left out) + secret.
    params = {"method": "jingdong.asc.query.list", "app_key": "K", "access_token": "T", "v": "2.0",
              "timestamp": "2026-03-02 10:00:00", "360buy_param_json": '{"pageNumber":1}', "format": ""}
    plain = ("S" + "360buy_param_json{\"pageNumber\":1}" + "access_tokenT" + "app_keyK"
             + "methodjingdong.asc.query.list" + "timestamp2026-03-02 10:00:00" + "v2.0" + "S")
    assert sign(params, "S") == hashlib.md5(plain.encode()).hexdigest().upper()
    assert len(sign(params, "S")) == 32 and sign(params, "S").isupper()


def test_first_fetch_returns_what_the_fake_holds_mapped(fake, running):
    service = fake.new_after_sale(customerExpect=10, serviceStatus=10001, actualPayPrice="199.00")
    application = fake.new_refund_application(applyRefundSum=8900, reason="不想要了", status=0)
    connector = connector_for(running)
    page = connector.fetch("cases", T0 - timedelta(hours=1), T0 + timedelta(seconds=1), 1)
    assert not page.has_more
    rows = {connector.record_id("cases", record): connector.row("cases", record) for record in page.records}
    assert set(rows) == {str(service["serviceId"]), f"RA{application['id']}"}

    case = rows[str(service["serviceId"])]
    assert case["order_no"] == str(service["orderId"])
    assert case["kind"] == "退货退款"
    assert case["order_amount"] == Decimal("199.00")
    assert case["received_at"] == T0
    assert case["platform_status"] == "待审核"
    assert statuses.status_of("jd", case["platform_status"]) == statuses.WAITING_SELLER
    assert case["buyer_nick"] == service["customerPin"]

    refund = rows[f"RA{application['id']}"]
    assert refund["refund_amount"] == Decimal("89.00")
    assert refund["kind"] == "售前退款"
    assert refund["reason"] == "不想要了"
    assert refund["received_at"] == T0
    assert refund["platform_status"] == "未审核"
    assert connector.shop_of("cases", page.records[0]) is None

    sent = calls_of(fake, SERVICE_LIST)[0]
    assert sent["updateTimeBegin"] == "2026-03-02 09:00:00" and sent["updateTimeEnd"] == "2026-03-02 10:00:01"
    assert sent["buId"] == "10086"


def test_incremental_window_picks_up_a_status_change_and_nothing_older(fake, running, clock):
    changed = fake.new_after_sale()
    fake.new_after_sale()
    application = fake.new_refund_application()
    clock.now = T0 + timedelta(minutes=30)
    fake.change_after_sale(str(changed["serviceId"]), status="10005")
    fake.change_after_sale(f"RA{application['id']}", status=1)
    connector = connector_for(running)
    page = connector.fetch("cases", T0 + timedelta(minutes=10), T0 + timedelta(minutes=40), 1)
    rows = [connector.row("cases", record) for record in page.records]
    assert [row["platform_case_id"] for row in rows] == [str(changed["serviceId"]), f"RA{application['id']}"]
    assert rows[0]["platform_status"] == "待收货"
    assert statuses.status_of("jd", rows[0]["platform_status"]) == statuses.RETURN_SHIPPED
    assert rows[1]["platform_status"] == "审核通过"


def test_paging_across_three_pages_gives_every_record_once(fake, running, clock):
    made = []
    for index in range(120):
        clock.now = T0 + timedelta(seconds=index)
        made.append(str(fake.new_after_sale()["serviceId"]))
    connector = connector_for(running)
    seen, page_no = [], 1
    while True:
        page = connector.fetch("cases", T0, T0 + timedelta(hours=1), page_no)
        seen.extend(connector.record_id("cases", record) for record in page.records)
        if not page.has_more:
            break
        page_no += 1
    assert page_no == 3
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    assert [(call["pageNumber"], call["pageSize"]) for call in calls_of(fake, SERVICE_LIST)] == [
        (1, 50), (2, 50), (3, 50)]
    assert [call["pageIndex"] for call in calls_of(fake, REFUND_APPLY_LIST)] == [1, 1, 2, 2, 3, 3]


def test_rate_limit_is_transient_then_the_next_call_succeeds(fake, running):
    fake.new_review()
    fake.fail("rate_limit")
    connector = connector_for(running)
    with pytest.raises(TransientError) as error:
        connector.fetch("reviews", T0 - timedelta(hours=1), T0 + timedelta(hours=1), 1)
    assert error.value.code == "66"
    assert len(connector.fetch("reviews", T0 - timedelta(hours=1), T0 + timedelta(hours=1), 1).records) == 1


def test_server_error_is_transient(fake, running):
    fake.fail("server_error")
    with pytest.raises(TransientError):
        connector_for(running).fetch("cases", T0, T0 + timedelta(hours=1), 1)


def test_bad_secret_is_refused_and_permanent(running):
    with pytest.raises(PermanentError) as error:
        connector_for(running, app_secret="not-the-secret").fetch("cases", T0, T0 + timedelta(hours=1), 1)
    assert error.value.code == "12" and not error.value.token


@pytest.mark.parametrize("how", ["wrong_token", "queued"])
def test_bad_token_is_permanent_and_about_the_token(fake, running, how):
    if how == "queued":
        fake.fail("bad_token")
        connector = connector_for(running)
    else:
        connector = connector_for(running, access_token="expired-token")
    with pytest.raises(PermanentError) as error:
        connector.fetch("cases", T0, T0 + timedelta(hours=1), 1)
    assert error.value.token and error.value.code == "19"


def test_the_fake_refuses_a_hand_built_request_with_a_bad_signature(fake, running):
    params = {"method": SERVICE_LIST, "app_key": "demo-app-key", "access_token": "demo-access-token",
              "timestamp": china_text(T0), "v": "2.0", "360buy_param_json": json.dumps({"pageNumber": 1})}
    params["sign"] = "0" * 32
    body = requests.post(running.api_url("jd"), data=params, timeout=5).json()
    assert body["error_response"]["code"] == "12"
    params["sign"] = sign({key: value for key, value in params.items() if key != "sign"}, "demo-app-secret")
    good = requests.post(running.api_url("jd"), data=params, timeout=5).json()
    assert good["jingdong_asc_query_list_responce"]["code"] == "0"


def test_malformed_records_are_bad_records_with_their_id(fake, running):
    connector = connector_for(running)
    no_id = fake.new_after_sale()
    no_id.pop("serviceId")
    with pytest.raises(BadRecord) as error:
        connector.row("cases", no_id)
    assert error.value.record_id == ""

    text_amount = fake.new_refund_application(applyRefundSum="八十九元")
    with pytest.raises(BadRecord) as error:
        connector.row("cases", text_amount)
    assert error.value.record_id == f"RA{text_amount['id']}"

    no_status = fake.new_after_sale()
    no_status.pop("serviceStatus")
    no_status.pop("serviceStatusName")
    with pytest.raises(BadRecord) as error:
        connector.row("cases", no_status)
    assert error.value.record_id == str(no_status["serviceId"])

    bad_price = fake.new_after_sale(actualPayPrice="免单")
    with pytest.raises(BadRecord):
        connector.row("cases", bad_price)


def test_malformed_records_arrive_over_http_and_are_refused(fake, running):
    fake.put_raw("cases", "broken", {"serviceId": 99, "orderId": 1, "customerExpect": 10})
    connector = connector_for(running)
    records = connector.fetch("cases", T0 - timedelta(hours=1), T0 + timedelta(hours=1), 1).records
    with pytest.raises(BadRecord) as error:
        connector.row("cases", records[0])
    assert error.value.record_id == "99"


def test_reviews_are_fetched_and_mapped(fake, running):
    review = fake.new_review(score=2, content="物流太慢，包装破了")
    connector = connector_for(running)
    page = connector.fetch("reviews", T0 - timedelta(hours=1), T0 + timedelta(hours=1), 1)
    assert [connector.record_id("reviews", record) for record in page.records] == [review["commentId"]]
    row = connector.row("reviews", page.records[0])
    assert row == {
        "platform_review_id": review["commentId"],
        "order_no": str(review["orderId"]),
        "buyer_nick": "j***8",
        "product": "不锈钢保温杯 500ml 曜石黑",
        "sku": review["skuid"],
        "rating": 2,
        "text": "物流太慢，包装破了",
        "reviewed_at": T0,
        "picture_count": 1,
    }
    sent = calls_of(fake, COMMENT_LIST)[0]
    assert (sent["page"], sent["pageSize"]) == (1, 50)
    assert sent["beginTime"] == "2026-03-02 09:00:00"
