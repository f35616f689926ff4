"""The Douyin shop open platform (抖店开放平台): after-sales by afterSale.List, reviews by comment.list.

Protocol, as the official SDKs published in github.com/zsmhub/doudian-sdk ("纯官方SDK代码") do it:
- core/doudian_op_api_client.go: POST to <base>/<method with dots as slashes> (afterSale.List -> /afterSale/List),
  query parameters app_key, method, access_token, timestamp, v=2, sign_method, sign; the business parameters as the
  JSON body (param_json);
- utils/sign_util.go: sign = hex HMAC-SHA256, keyed with the app secret, of
  secret + "app_key" + app_key + "method" + method + "param_json" + param_json + "timestamp" + timestamp + "v2"
  + secret;
- param_json with its keys sorted and no spaces (utils/sign_util.go Marshal re-encodes through a map, which Go sorts;
  the official Python SDK: json.dumps(sort_keys=True, separators=(',', ':'), ensure_ascii=False));
- core/doudian_op_api_base_response.go: the answer is {code, msg, sub_code, sub_msg, data, log_id}, code 10000 success.
The timestamp is sent as "yyyy-MM-dd HH:mm:ss" in China time, the documented form (the request examples of the old
documentation, mirrored in public SDK comments: "timestamp=2018-06-14%2016:06:59"); the official SDKs send Unix
seconds, which the gateway takes too.
Error codes: the platform's base table (平台基础错误码汇总, op.jinritemai.com/docs/guide-docs/212/1427), as
github.com/tb07/jinritemai src/Error/ErrorCode.php lists it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from datetime import UTC, datetime
from decimal import Decimal

import requests

from platforms import statuses
from sync.connectors.base import (
    BadRecord,
    Connector,
    Page,
    PermanentError,
    TransientError,
    amount_of,
    china_moment,
    china_time,
)

METHODS = {"cases": "afterSale.List", "reviews": "comment.list"}

# aftersale_type (afterSale_List_response.go: 0 退货退款, 1 已发货仅退款, 2 未发货仅退款, 3 换货, 6 价保, 7 补寄;
# the request adds 8 维修): the words are those of cases/importing.KIND_SYNONYMS.
KINDS = {0: "退货退款", 1: "已发货仅退款", 2: "未发货仅退款", 3: "换货", 6: "价保", 7: "补寄", 8: "维修"}
# aftersale_status (afterSale_List_response.go; 13 is the request's code for 换货\补寄\维修待买家收货): the words
# platforms/statuses.py maps for douyin.
STATUS_WORDS = {3: "换货待买家收货", 6: "待商家同意", 7: "待买家退货", 8: "待商家发货", 11: "待商家二次同意",
                12: "售后成功", 13: "换货待买家收货", 14: "换货成功", 27: "商家一次拒绝", 28: "售后失败", 29: "商家二次拒绝"}
# arbitrate_status (afterSale_List_response.go): 0 无仲裁记录, 1 仲裁中, 2 客服同意, 3 客服拒绝, 4 待商家举证,
# 5 协商期, 255 仲裁结束; statuses.intervening() knows the words of 1, 4 and 5.
ARBITRATION_WORDS = {0: "无仲裁记录", 1: "仲裁中", 2: "客服同意", 3: "客服拒绝", 4: "待商家举证", 5: "协商期", 255: "仲裁结束"}
# got_pkg: "买家是否收到货物，0表示未收到，1表示收到".
GOODS_WORDS = {0: "买家未收到货", 1: "买家已收到货"}
# comment.list's rate is documented only as "评价等级，好评/中评/差评" (com.lucfish.openapi.doudian domain/Comment.java);
# we read 1, 2, 3 in that order.
RATINGS = {1: "好", 2: "中", 3: "差"}
# status_deadline is "当前节点逾期时间": the seller's deadline only while the seller is the one to act.
SELLER_ACTS = {statuses.WAITING_SELLER, statuses.RETURN_SHIPPED}

# code -> (transient?, what an admin should do); sub_codes refine 30001 and 40003 below.
TRANSIENT_CODES = {20000: "the Douyin platform is unavailable (服务不可用)", 20001: "the Douyin platform timed out (内部服务超时)",
                   60000: "Douyin's rate limit was reached (触发限流)"}
TOKEN_SUB_CODES = {
    "isv.access-token-expired": "the shop's access token has expired: authorise the shop again",
    "isv.access-token-no-existed": "the shop's access token is not known to Douyin: authorise the shop again",
    "isv.access-token-invalid": "the access token belongs to another app_key: authorise the shop again with this app",
    "isv.access-token-missing": "no access token was sent: authorise the shop",
    "isv.authorization-type-invalid": "the token was granted to another party than this shop: authorise it again",
    "dop.authorization-no-existed": "the shop's authorisation has lapsed: authorise the shop again",
    "dop.authorization-closed": "the shop switched this app's authorisation off in 抖店: ask the merchant to allow it",
}
PERMANENT_SUB_CODES = {
    "isv.signature-invalid": "Douyin refused the signature: check the app secret",
    "isv.signature-missing": "Douyin received no signature: check the app secret",
    "isv.app-id-missing": "Douyin does not know this app_key: check the app key",
    "isv.app-id-invalid": "the app_key is malformed (19 digits expected): check the app key",
    "isv.app-id-expired": "the app_key has expired: upgrade the app on the Douyin open platform",
    "isv.app-permissions-insufficient": "the app has no permission for this API: apply for its permission package",
    "dop.app-forbidden": "the app has been disabled by Douyin",
    "isv.timestamp-invalid": "Douyin refused the request time: check this server's clock",
    "isv.timestamp-format-error": "Douyin refused the request time format",
}


def param_json(params: dict) -> str:
    """The business parameters as the platform signs them: keys sorted, no spaces, non-ASCII kept."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sign(app_secret: str, app_key: str, method: str, params_json: str, timestamp: str, v: str = "2",
         sign_method: str = "hmac-sha256") -> str:
    """The request signature (utils/sign_util.go): HMAC-SHA256 keyed with the secret, or MD5 for sign_method=md5,
    over the secret, app_key/method/param_json/timestamp/v as name and value, and the secret again."""
    pattern = f"{app_secret}app_key{app_key}method{method}param_json{params_json}timestamp{timestamp}v{v}{app_secret}"
    if sign_method == "md5":
        return hashlib.md5(pattern.encode()).hexdigest()
    return hmac.new(app_secret.encode(), pattern.encode(), hashlib.sha256).hexdigest()


def raise_for_answer(answer: dict) -> None:
    """Turn the platform's error body into our errors, with a message an admin can act on."""
    code, sub_code = answer.get("code"), str(answer.get("sub_code") or "")
    said = " ".join(str(part) for part in (answer.get("msg"), answer.get("sub_msg")) if part)
    label = f"{code}/{sub_code}" if sub_code else str(code)
    if code in TRANSIENT_CODES:
        # The platform says no wait in its body; the runner's back-off decides.
        raise TransientError(f"{TRANSIENT_CODES[code]}; will retry ({said})", code=label)
    if sub_code in TOKEN_SUB_CODES:
        raise PermanentError(f"{TOKEN_SUB_CODES[sub_code]} ({said})", code=label, token=True)
    if sub_code in PERMANENT_SUB_CODES:
        raise PermanentError(f"{PERMANENT_SUB_CODES[sub_code]} ({said})", code=label)
    if code == 30001:
        raise PermanentError(f"Douyin refused: no permission ({said})", code=label)
    if code == 30002:
        raise PermanentError(f"Douyin refused this server's IP address: add it to the app's IP whitelist ({said})",
                             code=label)
    if code == 70000:
        raise PermanentError(f"Douyin no longer offers this API ({said})", code=label)
    raise PermanentError(f"Douyin answered error {label}: {said or 'no message'}", code=label)


class DouyinConnector(Connector):
    family = "douyin"
    default_url = "https://openapi-fxg.jinritemai.com"
    page_size = 50  # both calls allow at most 100 a page
    window = 0      # no maximum span is documented for afterSale.List or comment.list

    def call(self, method: str, params: dict) -> dict:
        """One signed call; returns ``data`` or raises."""
        credentials = self.credentials
        body = param_json(params)
        timestamp = china_time(datetime.now(UTC))
        query = {
            "app_key": credentials.app_key, "method": method, "access_token": credentials.access_token,
            "timestamp": timestamp, "v": "2", "sign_method": "hmac-sha256",
            "sign": sign(credentials.app_secret, credentials.app_key, method, body, timestamp),
        }
        url = credentials.api_url.rstrip("/") + "/" + method.replace(".", "/")
        response = self.post(url, params=query, data=body.encode(),
                             headers={"Content-Type": "application/json;charset=utf-8"})
        self.raise_for_http(response)
        try:
            answer = response.json()
        except (ValueError, requests.JSONDecodeError) as error:
            raise TransientError("Douyin answered something that is not JSON", code="not-json") from error
        if not isinstance(answer, dict):
            raise TransientError("Douyin answered something that is not a JSON object", code="not-json")
        if answer.get("code") != 10000:
            raise_for_answer(answer)
        return answer.get("data") or {}

    def fetch(self, kind: str, start: datetime, end: datetime, page_no: int) -> Page:
        page = page_no - 1  # both calls count pages from 0 ("页数，从0开始")
        if kind == "cases":
            # Unix seconds; the end is rounded up so a record of the window's last second is never missed (one
            # second of overlap with the next window is harmless: records are matched by id).
            data = self.call(METHODS[kind], {
                "update_start_time": math.floor(start.timestamp()), "update_end_time": math.ceil(end.timestamp()),
                "order_by": ["update_time asc"], "page": page, "size": self.page_size,
            })
            records = data.get("items") or []
            return Page(records=list(records), has_more=bool(data.get("has_more")))
        if kind == "reviews":
            # China-time text to the second; update_time so follow-ups (追评) come back too.
            data = self.call(METHODS[kind], {
                "start_time": china_time(start), "end_time": china_time(end), "order_by": "update_time",
                "is_desc": "0", "page": page, "size": self.page_size,
            })
            records = data.get("comments") or []
            total = data.get("total") or 0  # the answer has no has_more: the total says it
            return Page(records=list(records), has_more=(page + 1) * self.page_size < int(total))
        raise ValueError(kind)

    def record_id(self, kind: str, record: dict) -> str:
        if kind == "cases":
            info = record.get("aftersale_info")
            value = info.get("aftersale_id") if isinstance(info, dict) else None
        else:
            value = record.get("comment_id")
        return "" if value in (None, "") else str(value)

    def shop_of(self, kind: str, record: dict) -> str | None:
        # afterSale.List and comment.list name no shop in a record (the token is the shop's); a shop_id is used
        # if one is there.
        info = record.get("aftersale_info") if kind == "cases" else None
        for holder in (record, info if isinstance(info, dict) else {}):
            if holder.get("shop_id") not in (None, ""):
                return str(holder["shop_id"])
        return None

    def row(self, kind: str, record: dict) -> dict:
        record_id = self.record_id(kind, record)
        if not record_id:
            raise BadRecord("", "the record has no id (aftersale_info.aftersale_id / comment_id)")
        if kind == "cases":
            return self._case_row(record_id, record)
        return self._review_row(record_id, record)

    def _case_row(self, record_id: str, record: dict) -> dict:
        info, order = record.get("aftersale_info"), record.get("order_info")
        text = record.get("text_part") if isinstance(record.get("text_part"), dict) else {}
        if not isinstance(order, dict) or not order.get("shop_order_id"):
            raise BadRecord(record_id, "no order number (order_info.shop_order_id)")
        status = _code(record_id, info, "aftersale_status", required=True)
        status_words = STATUS_WORDS.get(status, str(status))
        row = {
            "order_no": str(order["shop_order_id"]),
            "platform_case_id": record_id,
            "received_at": _unix(record_id, info, "apply_time", required=True),
            "platform_status": status_words,
        }
        kind = _code(record_id, info, "aftersale_type")
        if kind is not None:
            row["kind"] = KINDS.get(kind) or text.get("aftersale_type_text") or str(kind)
        refund = _fen(record_id, info.get("refund_amount"), "refund_amount")
        if refund is not None:
            row["refund_amount"] = refund
        paid = [_fen(record_id, item.get("pay_amount"), "pay_amount")
                for item in order.get("related_order_info") or [] if isinstance(item, dict)]
        if paid and None not in paid:
            row["order_amount"] = sum(paid, Decimal("0.00"))
        if statuses.status_of(self.family, status_words) in SELLER_ACTS:
            deadline = _unix(record_id, info, "status_deadline")
            if deadline is not None:
                row["platform_deadline_at"] = deadline
        if text.get("reason_text"):
            row["reason"] = str(text["reason_text"])
        # The buyer's own description is only in afterSale.Detail: one more call per record is not worth it here.
        goods = _code(record_id, info, "got_pkg")
        if goods in GOODS_WORDS:
            row["platform_goods_status"] = GOODS_WORDS[goods]
        arbitration = _code(record_id, info, "arbitrate_status")
        if arbitration is not None:
            row["platform_intervention"] = ARBITRATION_WORDS.get(arbitration, str(arbitration))
        return row

    def _review_row(self, record_id: str, record: dict) -> dict:
        if record.get("order_id") in (None, ""):
            raise BadRecord(record_id, "no order number (order_id)")
        row = {
            "platform_review_id": record_id,
            "order_no": str(record["order_id"]),
            "reviewed_at": _china(record_id, record, "comment_time", required=True),
        }
        rate = _code(record_id, record, "rate", required=True)
        if rate not in RATINGS:
            raise BadRecord(record_id, f"unknown rate {rate!r}")
        row["rating"] = RATINGS[rate]
        if record.get("product_name"):
            row["product"] = str(record["product_name"])
        if record.get("content"):
            row["text"] = str(record["content"])
        photos = record.get("photos")
        if photos is not None:
            if not isinstance(photos, list):
                raise BadRecord(record_id, "photos is not a list")
            row["picture_count"] = len(photos)
        if record.get("append_content"):
            row["follow_up_text"] = str(record["append_content"])
            follow_up_at = _china(record_id, record, "append_time")
            if follow_up_at is not None:
                row["follow_up_at"] = follow_up_at
        return row


# --- reading one value of a record, or saying what is wrong with it ----------------------------------------------

def _code(record_id: str, holder, name: str, *, required: bool = False) -> int | None:
    value = holder.get(name) if isinstance(holder, dict) else None
    if value in (None, ""):
        if required:
            raise BadRecord(record_id, f"no {name}")
        return None
    if isinstance(value, bool) or not str(value).lstrip("-").isdigit():
        raise BadRecord(record_id, f"{name} is not a number: {value!r}")
    return int(value)


def _unix(record_id: str, holder, name: str, *, required: bool = False) -> datetime | None:
    seconds = _code(record_id, holder, name, required=required)
    if not seconds:  # 0 is the platform's "none"
        if required:
            raise BadRecord(record_id, f"no {name}")
        return None
    return datetime.fromtimestamp(seconds, UTC)


def _china(record_id: str, holder: dict, name: str, *, required: bool = False) -> datetime | None:
    text = holder.get(name)
    if not text:
        if required:
            raise BadRecord(record_id, f"no {name}")
        return None
    return china_moment(record_id, name, text)


def _fen(record_id: str, value, name: str) -> Decimal | None:
    """An amount in fen (分) as Decimal yuan."""
    if value in (None, ""):
        return None
    fen = amount_of(record_id, name, value)
    if fen != fen.to_integral_value():
        raise BadRecord(record_id, f"{name} is not a whole number of fen: {value!r}")
    return (fen / 100).quantize(Decimal("0.01"))
