"""Taobao and Tmall through Taobao's open platform (TOP): the refunds a seller received and the reviews buyers left.

Protocol (TOP's "API调用协议", https://open.taobao.com/doc.htm?docId=101617&docType=1, and the SDK
github.com/bububa/opentaobao, core/client.go and model/request.go): one endpoint, a form POST of the common
parameters (method, app_key, session, timestamp in GMT+8, format, v=2.0, sign_method) and the method's own, signed
with the app secret; the answer is {"<method without taobao., dots as _>_response": {...}} or {"error_response": ...}.

Methods:
- taobao.refunds.receive.get lists refunds by modification time (bububa/opentaobao
  metadata/assets/json/refund/taobao_refunds_receive_get.json). It cannot return the seller's deadline
  (refund_remind_timeout) nor the customer service's intervention (cs_status), so for each refund still open
- taobao.refund.get fetches those two (model/tbrefund/TaobaoRefundGetAPIRequest.go, Refund.go). A closed or
  refunded case has no deadline left, so it costs no extra call.
- taobao.traderates.get lists the reviews the seller received (rate_type=get, role=buyer) by creation time
  (metadata/assets/json/traderate/taobao_traderates_get.json).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime

from sync.connectors.base import (
    BadRecord,
    Connector,
    ConnectorError,
    Page,
    PermanentError,
    TransientError,
    amount_of,
    china_moment,
    china_time,
)

# Times: "时间戳，格式为yyyy-MM-dd HH:mm:ss，时区为GMT+8" (docId=101617), as base.china_time writes them.

# Fields the list may return (the metadata's "目前支持有" list); detail-only fields come from taobao.refund.get.
REFUND_LIST_FIELDS = ("refund_id,tid,oid,title,buyer_nick,seller_nick,total_fee,payment,refund_fee,status,created,"
                      "modified,good_status,has_good_return,reason,desc,dispute_type")
# cs_status is a field of the Refund that taobao.refund.get answers (model/tbrefund/Refund.go) though the method's
# "fields" list does not name it; public TOP clients ask for it there.
REFUND_DETAIL_FIELDS = "refund_id,refund_remind_timeout,cs_status"
REVIEW_FIELDS = "tid,oid,role,nick,result,created,rated_nick,item_title,content,reply,num_iid"
REFUND_PAGE_MAX = 100   # page_size "最大值:100" (refunds.receive.get)
REVIEW_PAGE_MAX = 150   # page_size "最大值150" (traderates.get)
FINAL_STATUSES = ("SUCCESS", "CLOSED")

# The refund status with the Chinese the API documentation gives each value (refunds.receive.get, "status"); the
# same words platforms/statuses.py maps.
STATUS_WORDS = {
    "WAIT_SELLER_AGREE": "买家已经申请退款，等待卖家同意",
    "WAIT_BUYER_RETURN_GOODS": "卖家已经同意退款，等待买家退货",
    "WAIT_SELLER_CONFIRM_GOODS": "买家已经退货，等待卖家确认收货",
    "SELLER_REFUSE_BUYER": "卖家拒绝退款",
    "CLOSED": "退款关闭",
    "SUCCESS": "退款成功",
    "WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS": "等待买家确认换货卖家发货商品",
    "EXCHANGE_TRANSFORM_TO_REFUND": "换货关闭转退款",
    "WAIT_SELLER_CONSIGN_GOODS": "商家确认收货等待商家发货",
}
# good_status: "BUYER_NOT_RECEIVED (买家未收到货) BUYER_RECEIVED (买家已收到货) BUYER_RETURNED_GOODS (买家已退货)".
GOODS_WORDS = {"BUYER_NOT_RECEIVED": "买家未收到货", "BUYER_RECEIVED": "买家已收到货", "BUYER_RETURNED_GOODS": "买家已退货"}
# cs_status (model/tbrefund/Refund.go): "不需客服介入1;需要客服介入2;客服已经介入3;客服初审完成4;客服主管复审失败5;
# 客服处理完成6;系统撤销(B2B使用)，维权撤销(集市使用) 7;支持买家 8;支持卖家 9;举证中 10;开放申诉 11".
INTERVENTION_WORDS = {"1": "不需客服介入", "2": "需要客服介入", "3": "客服已经介入", "4": "客服初审完成", "5": "客服主管复审失败",
                      "6": "客服处理完成", "7": "维权撤销", "8": "支持买家", "9": "支持卖家", "10": "举证中", "11": "开放申诉"}
# dispute_type (model/tbrefund/Refund.go): "REFUND(仅退款),REFUND_AND_RETURN(退货退款),TMALL_EXCHANGE(天猫换货),
# TAOBAO_EXCHANGE(淘宝换货),REPAIR(维修),RESHIPPING(补寄),OTHERS(其他)", as the words of cases/importing.KIND_SYNONYMS.
KIND_WORDS = {"REFUND": "仅退款", "REFUND_AND_RETURN": "退货退款", "TMALL_EXCHANGE": "换货", "TAOBAO_EXCHANGE": "换货",
              "REPAIR": "维修", "RESHIPPING": "补寄"}
# A trade rate's result: "good(好评),neutral(中评),bad(差评)".
RATING_WORDS = {"good": "好评", "neutral": "中评", "bad": "差评"}

# Error codes from TOP's error list (错误码一览, copied at http://blog.unvs.cn/archives/taobao-oauth-top-error-code.html):
# 4-8 call limits (7 "App Call Limited"), 10 service unavailable, 11 ISV and 12 user permissions, 25 invalid
# signature, 26/27 missing/invalid session, 28/29 missing/invalid app key; "子错误码是isp.开头的调用错误 … 服务端异常
# 引起的 … 隔一段时间再重试". The limit's sub_msg says how long the ban lasts: "This ban will last for 41 more seconds".
CALL_LIMIT_CODES = {"4", "5", "6", "7", "8"}
SESSION_CODES = {"26", "27"}
SESSION_SUB_CODES = {"invalid-sessionkey", "session-expired", "session-not-exist"}
BAN_SECONDS = re.compile(r"(\d+)\s*more\s*seconds?", re.IGNORECASE)


def sign(params: dict, secret: str, sign_method: str = "md5") -> str:
    """TOP's signature (docId=101617; bububa/opentaobao core/client.go): all parameters but ``sign``, empty values
    left out as the official samples do, sorted by name in byte order, concatenated as name+value; md5 hashes
    secret+text+secret, hmac is HMAC-MD5 and hmac-sha256 HMAC-SHA256 keyed by the secret; upper-case hex."""
    text = "".join(f"{name}{value}" for name, value in sorted(params.items())
                   if name != "sign" and value is not None and value != "")
    data, key = text.encode("utf-8"), secret.encode("utf-8")
    if sign_method == "md5":
        return hashlib.md5(key + data + key).hexdigest().upper()
    if sign_method == "hmac":
        return hmac.new(key, data, hashlib.md5).hexdigest().upper()
    if sign_method == "hmac-sha256":
        return hmac.new(key, data, hashlib.sha256).hexdigest().upper()
    raise ValueError(f"unknown sign_method {sign_method!r}")


def error_of(method: str, error: dict) -> ConnectorError:
    """The connector error for a TOP error_response, with a message an admin can act on."""
    code = str(error.get("code", ""))
    sub_code = str(error.get("sub_code") or "")
    said = " / ".join(part for part in (str(error.get("msg") or ""), sub_code, str(error.get("sub_msg") or "")) if part)
    if code in CALL_LIMIT_CODES or sub_code.startswith("accesscontrol."):
        found = BAN_SECONDS.search(str(error.get("sub_msg") or ""))
        wait = float(found.group(1)) if found else None
        return TransientError(f"Taobao's call limit for this app was reached ({said}); the sync will try again.",
                              code=code, retry_after=wait)
    if code == "10" or sub_code.startswith("isp."):
        return TransientError(f"Taobao's service failed for {method} ({said}); the sync will try again.", code=code)
    if code in SESSION_CODES or sub_code in SESSION_SUB_CODES:
        return PermanentError("Taobao refused the shop's authorization (session key invalid or expired): "
                              f"authorize the app again for this shop ({said}).", code=code, token=True)
    if code == "12":
        return PermanentError("The authorized Taobao account may not use refunds or reviews: authorize again with the "
                              f"main seller account or give the sub-account that permission ({said}).",
                              code=code, token=True)
    if code == "11":
        return PermanentError(f"This app may not call {method}: apply for the API's permission package in the "
                              f"Taobao open platform console ({said}).", code=code)
    if code == "25":
        return PermanentError(f"Taobao refused the signature: check the app secret of this connection ({said}).",
                              code=code)
    if code in ("28", "29"):
        return PermanentError(f"Taobao does not know this app key: check the connection's app key ({said}).", code=code)
    return PermanentError(f"Taobao refused {method}: {said or 'no reason given'} (code {code}).", code=code)


def _items(container, element: str) -> list:
    """A TOP list: {"refunds": {"refund": [...]}} in the default JSON, a bare list with simplify=true."""
    if isinstance(container, dict):
        container = container.get(element, [])
    if isinstance(container, dict):  # one element, as XML-to-JSON answers sometimes give it
        container = [container]
    return container if isinstance(container, list) else []


class TaobaoConnector(Connector):
    family = "taobao"
    default_url = "https://eco.taobao.com/router/rest"  # bububa/opentaobao core/const.go PRODUCT_GATEWAY
    page_size = REFUND_PAGE_MAX
    # Neither method documents a longest span. traderates.get returns at most 1500 reviews for one time span
    # ("相同的查询时间段条件下，最大只能获取总共1500条评价记录 … 通过start_date及end_date来进行拆分"), so a
    # day per query keeps all but the largest shops under that cap.
    window = 24 * 3600
    sign_method = "md5"

    # --- calls ------------------------------------------------------------------------------------------

    def call(self, method: str, params: dict) -> dict:
        """One signed TOP call; the answer's "<method>_response" object, or a ConnectorError."""
        credentials = self.credentials
        form = {"method": method, "app_key": credentials.app_key, "session": credentials.access_token,
                "timestamp": china_time(datetime.now(UTC)), "format": "json", "v": "2.0",
                "sign_method": self.sign_method, **{name: str(value) for name, value in params.items()}}
        form["sign"] = sign(form, credentials.app_secret, self.sign_method)
        response = self.post(credentials.api_url or self.default_url, data=form)
        self.raise_for_http(response)
        try:
            body = response.json()
        except ValueError as error:
            raise TransientError(f"Taobao answered {method} with something that is not JSON", code="json") from error
        if not isinstance(body, dict):
            raise TransientError(f"Taobao answered {method} with something that is not an object", code="json")
        if "error_response" in body:
            raise error_of(method, body["error_response"] or {})
        answer = body.get(method.removeprefix("taobao.").replace(".", "_") + "_response")
        if not isinstance(answer, dict):
            raise PermanentError(f"Taobao's answer to {method} has no result: is the endpoint {credentials.api_url} "
                                 "Taobao's router/rest?", code="answer")
        return answer

    def fetch(self, kind: str, start: datetime, end: datetime, page_no: int) -> Page:
        if kind == "cases":
            answer = self.call("taobao.refunds.receive.get", {
                "fields": REFUND_LIST_FIELDS, "start_modified": china_time(start), "end_modified": china_time(end),
                "page_no": page_no, "page_size": min(self.page_size, REFUND_PAGE_MAX), "use_has_next": "true"})
            records = [self._with_detail(record) for record in _items(answer.get("refunds"), "refund")
                       if isinstance(record, dict)]
        elif kind == "reviews":
            answer = self.call("taobao.traderates.get", {
                "fields": REVIEW_FIELDS, "rate_type": "get", "role": "buyer",
                "start_date": china_time(start), "end_date": china_time(end),
                "page_no": page_no, "page_size": min(self.page_size, REVIEW_PAGE_MAX), "use_has_next": "true"})
            records = [record for record in _items(answer.get("trade_rates"), "trade_rate") if isinstance(record, dict)]
        else:
            raise ValueError(kind)
        # Both windows are whole seconds, both ends included: a record at the boundary may come twice, never not
        # at all; the runner's upsert by record id makes the second time a no-op.
        return Page(records=records, has_more=bool(answer.get("has_next")))

    def _with_detail(self, record: dict) -> dict:
        """An open refund with its deadline and intervention from taobao.refund.get."""
        refund_id = record.get("refund_id")
        if not refund_id or record.get("status") in FINAL_STATUSES:
            return record
        try:
            detail = self.call("taobao.refund.get", {"refund_id": refund_id, "fields": REFUND_DETAIL_FIELDS})
        except PermanentError as error:
            # 15 with an isv.* sub-code is the business refusing this one refund (gone, not this seller's): the
            # listed record still stands without its deadline, and one refund must not stop the shop's sync.
            if error.code == "15":
                return record
            raise
        detail = detail.get("refund")
        if not isinstance(detail, dict):
            return record
        return {**record, **{name: value for name, value in detail.items() if name != "refund_id"}}

    # --- records ----------------------------------------------------------------------------------------

    def record_id(self, kind: str, record: dict) -> str:
        if kind == "cases":
            return str(record.get("refund_id") or "")
        # A trade rate has no id of its own; a buyer rates each sub-order once, so trade and sub-order name it.
        tid, oid = record.get("tid"), record.get("oid")
        return f"{tid}-{oid}" if tid and oid else ""

    def shop_of(self, kind: str, record: dict) -> str | None:
        # The seller's nick, which Credentials.shop_ref holds for Taobao: seller_nick on a refund; on a review the
        # seller received, the rated one (rated_nick, "被评价者昵称").
        nick = record.get("seller_nick" if kind == "cases" else "rated_nick")
        return str(nick) if nick else None

    def row(self, kind: str, record: dict) -> dict:
        return self._case_row(record) if kind == "cases" else self._review_row(record)

    def _case_row(self, record: dict) -> dict:
        record_id = self.record_id("cases", record)
        if not record_id:
            raise BadRecord("", "the refund has no refund_id")
        for name in ("tid", "status", "created"):
            if record.get(name) in (None, ""):
                raise BadRecord(record_id, f"the refund has no {name}")
        status = str(record["status"])
        row = {
            "order_no": str(record["tid"]),
            "platform_case_id": record_id,
            "kind": self._kind(record),
            "received_at": china_moment(record_id, "created", record["created"]),
            "platform_status": STATUS_WORDS.get(status, status),
        }
        if record.get("has_good_return") is not None:
            row["needs_return"] = "是" if _true(record["has_good_return"]) else "否"
        if record.get("buyer_nick"):
            row["buyer_nick"] = str(record["buyer_nick"])
        for ours, theirs in (("order_amount", "total_fee"), ("refund_amount", "refund_fee")):
            if record.get(theirs) not in (None, ""):
                row[ours] = amount_of(record_id, theirs, record[theirs])  # yuan with 2 decimals: "200.07"
        timeout = record.get("refund_remind_timeout")
        if isinstance(timeout, dict) and timeout.get("timeout") and timeout.get("exist_timeout", True) is not False:
            row["platform_deadline_at"] = china_moment(record_id, "refund_remind_timeout.timeout", timeout["timeout"])
        if record.get("reason"):
            row["reason"] = str(record["reason"])
        if record.get("desc"):
            row["explanation"] = str(record["desc"])
        if record.get("good_status"):
            row["platform_goods_status"] = GOODS_WORDS.get(str(record["good_status"]), str(record["good_status"]))
        if record.get("cs_status") not in (None, ""):
            row["platform_intervention"] = INTERVENTION_WORDS.get(str(record["cs_status"]), str(record["cs_status"]))
        return row

    @staticmethod
    def _kind(record: dict) -> str:
        kind = KIND_WORDS.get(str(record.get("dispute_type") or ""))
        if kind:
            return kind
        # Without dispute_type (older answers, OTHERS), has_good_return says whether goods go back.
        return "退货退款" if _true(record.get("has_good_return")) else "仅退款"

    def _review_row(self, record: dict) -> dict:
        record_id = self.record_id("reviews", record)
        if not record_id:
            raise BadRecord("", "the review has no tid and oid")
        for name in ("result", "created"):
            if record.get(name) in (None, ""):
                raise BadRecord(record_id, f"the review has no {name}")
        result = str(record["result"])
        if result not in RATING_WORDS:
            raise BadRecord(record_id, f"unknown result {result!r} (good, neutral or bad)")
        row = {
            "platform_review_id": record_id,
            "order_no": str(record["tid"]),
            "rating": RATING_WORDS[result],
            "reviewed_at": china_moment(record_id, "created", record["created"]),
        }
        if record.get("nick"):
            row["buyer_nick"] = str(record["nick"])
        if record.get("item_title"):
            row["product"] = str(record["item_title"])
        if record.get("content"):
            row["text"] = str(record["content"])
        # taobao.traderates.get gives no SKU, pictures or follow-up review; "reply" is the seller's explanation.
        return row


def _true(value) -> bool:
    return value is True or str(value).lower() == "true"

