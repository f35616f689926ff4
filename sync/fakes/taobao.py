"""A stand-in of Taobao's open platform (TOP) for one seller: its refunds and the reviews its buyers left.

Written from the public definition, not from our connector:
- the call protocol (one endpoint, form parameters, common parameters, signature, JSON answers and the error body):
  TOP's "API调用协议", https://open.taobao.com/doc.htm?docId=101617&docType=1 (mirrored at
  https://developer.alibaba.com/docs/doc.htm?articleId=101617&docType=1), and the SDK github.com/bububa/opentaobao
  (core/client.go signs, model/request.go lists the common parameters, model/response.go the error body);
- the methods: taobao.refunds.receive.get
  (bububa/opentaobao metadata/assets/json/refund/taobao_refunds_receive_get.json),
  taobao.refund.get (model/tbrefund/TaobaoRefundGetAPIRequest.go, TaobaoRefundGetAPIResponse.go, Refund.go,
  RefundRemindTimeout.go) and taobao.traderates.get (metadata/assets/json/traderate/taobao_traderates_get.json);
- the error codes: TOP's error code list (错误码一览), as copied at
  http://blog.unvs.cn/archives/taobao-oauth-top-error-code.html.

Only JSON is spoken (format=json); the real platform answers XML when format is left out.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from werkzeug.wrappers import Request, Response

from sync.fakes.base import FakePlatform

# TOP's times are "yyyy-MM-dd HH:mm:ss" in GMT+8, both in requests (timestamp, start_modified …) and in records
# (docId=101617, "timestamp"; Refund.created: "格式:yyyy-MM-dd HH:mm:ss").
CHINA = timezone(timedelta(hours=8), "GMT+8")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# "淘宝API服务端允许客户端请求最大时间误差为10分钟" (docId=101617).
TIMESTAMP_SLACK = timedelta(minutes=10)

# Error bodies: {"error_response": {"code", "msg", "sub_code", "sub_msg", "request_id"}} (model/response.go).
# Codes and messages from TOP's error code list (blog.unvs.cn copy, see above).
MISSING_METHOD = (21, "Missing method")
INVALID_METHOD = (22, "Invalid method")
INVALID_FORMAT = (23, "Invalid format")
MISSING_SIGNATURE = (24, "Missing signature")
INVALID_SIGNATURE = (25, "Invalid signature")
MISSING_SESSION = (26, "Missing session")
INVALID_SESSION = (27, "Invalid session")
MISSING_APP_KEY = (28, "Missing app key")
INVALID_APP_KEY = (29, "Invalid app key")
MISSING_TIMESTAMP = (30, "Missing timestamp")
INVALID_TIMESTAMP = (31, "Invalid timestamp")
MISSING_VERSION = (32, "Missing version")
UNSUPPORTED_VERSION = (34, "Unsupported version")
MISSING_ARGUMENTS = (40, "Missing required arguments")
INVALID_ARGUMENTS = (41, "Invalid arguments")
APP_CALL_LIMITED = (7, "App Call Limited")
REMOTE_SERVICE_ERROR = (15, "Remote service error")

SIGN_METHODS = ("md5", "hmac", "hmac-sha256")  # model/request.go: "可选值为：hmac，md5，hmac-sha256"

# Page sizes: refunds "默认值:40;最大值:100"; reviews "默认值40，最小值1，最大值150" (the two metadata files above).
REFUND_PAGE = (40, 100)
REVIEW_PAGE = (40, 150)

# What a refund looks like along an ordinary return (退货退款): status, then the goods' state (good_status).
FLOW = ("WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS", "SUCCESS")
GOODS_AT = {"WAIT_SELLER_AGREE": "BUYER_RECEIVED", "WAIT_BUYER_RETURN_GOODS": "BUYER_RECEIVED",
            "WAIT_SELLER_CONFIRM_GOODS": "BUYER_RETURNED_GOODS", "SUCCESS": "BUYER_RETURNED_GOODS"}
# How long the next party has before the platform acts (refund_remind_timeout.timeout). The public definition gives
# the field, not the lengths: these are illustrative.
TIMEOUT_AFTER = {"WAIT_SELLER_AGREE": timedelta(days=2), "WAIT_BUYER_RETURN_GOODS": timedelta(days=7),
                 "WAIT_SELLER_CONFIRM_GOODS": timedelta(days=10), "SELLER_REFUSE_BUYER": timedelta(days=7)}
FINAL = ("SUCCESS", "CLOSED")

BUYERS = ("小鱼儿2019", "tb_陈晓晓", "阳光下的猫", "jiayi_88", "木子李cc", "晴天娃娃q")
PRODUCTS = (("加厚珊瑚绒四件套 1.8m床 灰色", "299.00"), ("304不锈钢保温杯 500ml 曜石黑", "89.90"),
            ("儿童防滑运动鞋 32码 蓝色", "159.00"), ("无线蓝牙耳机 降噪版 白色", "399.00"))
REASONS = ("七天无理由退换货", "商品破损/少件", "质量问题", "尺码拍错/不喜欢/效果不好", "商品与页面描述不符")
EXPLANATIONS = ("收到外包装压坏，杯身有凹痕", "洗了一次就起球，和描述不一样", "鞋码偏小，孩子穿不上", "左耳没有声音")
BAD_REVIEWS = ("质量太差了，用了两天就坏", "和图片颜色差很多，客服也不回", "物流太慢，包装破了", "有异味，不推荐")


def china_time(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime(TIME_FORMAT)


def parse_china_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=CHINA)


def expected_sign(params: dict, secret: str, sign_method: str) -> str:
    """The signature as docId=101617 defines it, written here apart from the connector's so a test of one
    against the other means something: every parameter but ``sign`` (empty values left out, as the official
    samples do), sorted by name, joined as name+value; md5 wraps the text in the secret, hmac and hmac-sha256
    key the digest with it; upper-case hex."""
    text = "".join(f"{name}{value}" for name, value in sorted(params.items()) if name != "sign" and value != "")
    data = text.encode("utf-8")
    if sign_method == "md5":
        digest = hashlib.md5(secret.encode("utf-8") + data + secret.encode("utf-8")).hexdigest()
    elif sign_method == "hmac":
        digest = hmac.new(secret.encode("utf-8"), data, hashlib.md5).hexdigest()
    else:
        digest = hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()
    return digest.upper()


class TopError(Exception):
    def __init__(self, code_and_msg: tuple[int, str], sub_code: str = "", sub_msg: str = ""):
        super().__init__(code_and_msg[1])
        self.code, self.msg = code_and_msg
        self.sub_code, self.sub_msg = sub_code, sub_msg


class FakeTaobao(FakePlatform):
    family = "taobao"
    path = "/router/rest"
    FLOW = FLOW

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.random = random.Random(15)
        self.request_ids = itertools.count(1)

    # --- builders --------------------------------------------------------------------------------------

    def _order_ids(self) -> tuple[int, int]:
        # Trade and sub-order ids are 19-digit numbers (Refund.tid, Refund.oid: Number).
        serial = next(self.serial)
        tid = 3_901_234_560_000_000_000 + serial * 1_000
        return tid, tid + 1

    def new_after_sale(self, **fields) -> dict:
        now = self.clock()
        tid, oid = self._order_ids()
        title, price = self.random.choice(PRODUCTS)
        status = fields.get("status", FLOW[0])
        record = {
            "refund_id": str(200_000_000_000_000 + next(self.serial)),  # refund_id is a String in the definition
            "tid": tid,
            "oid": oid,
            "buyer_nick": self.random.choice(BUYERS),
            "seller_nick": self.shop_ref,
            "title": title,
            "num": 1,
            "total_fee": price,
            "refund_fee": price,
            "payment": "0.00",  # "支付给卖家的金额(交易总金额-退还给买家的金额)"
            "created": china_time(now),
            "modified": china_time(now),
            "status": status,
            "good_status": GOODS_AT.get(status, "BUYER_RECEIVED"),
            "has_good_return": True,
            "dispute_type": "REFUND_AND_RETURN",
            "reason": self.random.choice(REASONS),
            "desc": self.random.choice(EXPLANATIONS),
            "order_status": "TRADE_FINISHED",
            "refund_phase": "aftersale",
            "cs_status": 1,  # 不需客服介入
            "refund_remind_timeout": self._timeout(status, now),
        }
        record.update(fields)
        if "refund_fee" in fields and "payment" not in fields:
            record["payment"] = _difference(record["total_fee"], record["refund_fee"])
        return self.put("cases", record["refund_id"], record, now)

    def change_after_sale(self, record_id: str, **fields) -> dict:
        now = self.clock()
        with self.lock:
            record = dict(self.get("cases", record_id))
            status = fields.get("status")
            if status is not None:
                record["good_status"] = GOODS_AT.get(status, record.get("good_status"))
                record["refund_remind_timeout"] = self._timeout(status, now)
                if status == "WAIT_SELLER_CONFIRM_GOODS":
                    record.setdefault("company_name", "中通快递")
                    record.setdefault("sid", f"7{self.random.randrange(10**13, 10**14)}")
            record.update(fields)
            record["modified"] = china_time(now)
            return self.put("cases", record_id, record, now)

    def _timeout(self, status: str, now: datetime) -> dict:
        after = TIMEOUT_AFTER.get(status)
        if after is None:
            return {"exist_timeout": False}
        return {"exist_timeout": True, "remind_type": 1, "timeout": china_time(now + after)}

    def new_review(self, **fields) -> dict:
        now = self.clock()
        tid, oid = self._order_ids()
        title, price = self.random.choice(PRODUCTS)
        record = {
            "tid": tid,
            "oid": oid,
            "role": "buyer",
            "nick": self.random.choice(BUYERS),
            "result": "bad",
            "created": china_time(now),
            "rated_nick": self.shop_ref,
            "item_title": title,
            "item_price": price,
            "num_iid": 600_000_000_000 + next(self.serial),
            "content": self.random.choice(BAD_REVIEWS),
            "reply": "",
            "valid_score": True,
        }
        record.update(fields)
        # A trade rate has no id of its own: the buyer rates each sub-order once, so tid and oid name it.
        return self.put("reviews", f"{record.get('tid')}-{record.get('oid')}", record, now)

    # --- HTTP ------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        # TOP takes GET or POST, parameters in the query or as a form (docId=101617, "HTTP请求").
        params = {name: request.values.get(name, "") for name in request.values}
        with self.lock:
            self.calls.append(dict(params))
        try:
            self._check_protocol(params)
            failure = self.next_failure()
            if failure == "rate_limit":
                raise TopError(APP_CALL_LIMITED, "accesscontrol.limited-by-app-access-count",
                               "This ban will last for 1 more seconds")
            if failure == "server_error":
                raise TopError(REMOTE_SERVICE_ERROR, "isp.remote-service-timeout", "服务调用超时")
            if failure == "bad_token" or params.get("session") != self.access_token:
                raise TopError(INVALID_SESSION, "invalid-sessionkey", "SessionKey非法")
            answer = self._answer(params)
        except TopError as error:
            body = {"error_response": {"code": error.code, "msg": error.msg, "request_id": self._request_id()}}
            if error.sub_code:
                body["error_response"].update(sub_code=error.sub_code, sub_msg=error.sub_msg)
            return _json(body)
        return _json(answer)

    def _request_id(self) -> str:
        return f"fake{next(self.request_ids):08d}"

    def _check_protocol(self, params: dict) -> None:
        """The common parameters and the signature, in the order the error list names them."""
        if not params.get("method"):
            raise TopError(MISSING_METHOD)
        if not params.get("app_key"):
            raise TopError(MISSING_APP_KEY)
        if params["app_key"] != self.app_key:
            raise TopError(INVALID_APP_KEY)
        if not params.get("sign"):
            raise TopError(MISSING_SIGNATURE)
        sign_method = params.get("sign_method", "md5")
        if sign_method not in SIGN_METHODS:
            raise TopError(INVALID_ARGUMENTS, "isv.invalid-parameter:sign_method",
                           "sign_method is md5, hmac or hmac-sha256")
        if not hmac.compare_digest(params["sign"].upper(), expected_sign(params, self.app_secret, sign_method)):
            raise TopError(INVALID_SIGNATURE)
        if not params.get("timestamp"):
            raise TopError(MISSING_TIMESTAMP)
        try:
            sent = parse_china_time(params["timestamp"])
        except ValueError:
            raise TopError(INVALID_TIMESTAMP) from None
        # Checked against the wall clock, not self.clock: the test clock moves records, not the caller's watch.
        if abs(datetime.now(UTC) - sent) > TIMESTAMP_SLACK:
            raise TopError(INVALID_TIMESTAMP)
        if not params.get("v"):
            raise TopError(MISSING_VERSION)
        if params["v"] != "2.0":
            raise TopError(UNSUPPORTED_VERSION)
        if params.get("format") != "json":
            raise TopError(INVALID_FORMAT, "isv.invalid-parameter:format", "this stand-in answers format=json only")
        if not params.get("session"):
            raise TopError(MISSING_SESSION)

    def _answer(self, params: dict) -> dict:
        method = params["method"]
        if method == "taobao.refunds.receive.get":
            return {"refunds_receive_get_response": self._refunds(params)}
        if method == "taobao.refund.get":
            return {"refund_get_response": self._refund(params)}
        if method == "taobao.traderates.get":
            return {"traderates_get_response": self._trade_rates(params)}
        raise TopError(INVALID_METHOD)

    def _refunds(self, params: dict) -> dict:
        fields = _fields(params)
        records = self._window("cases", params, "start_modified", "end_modified")
        records, page = _page(records, params, *REFUND_PAGE)
        # Lists come as {"refunds": {"refund": [...]}}: TOP's JSON names each element by its type, as
        # github.com/nilorg/go-opentaobao README reads results.n_tbk_item; an empty list is left out.
        answer = {"request_id": self._request_id()}
        if records:
            answer["refunds"] = {"refund": [_only(record, fields) for record in records]}
        answer.update(page)
        return answer

    def _refund(self, params: dict) -> dict:
        fields = _fields(params)
        refund_id = params.get("refund_id", "")
        if not refund_id:
            raise TopError(MISSING_ARGUMENTS, "isv.missing-parameter:refund_id", "refund_id")
        with self.lock:
            stored = self.records["cases"].get(refund_id)
        if stored is None:
            # The definition does not document this answer; a business error (isv.*) is the platform's usual shape.
            raise TopError(REMOTE_SERVICE_ERROR, "isv.invalid-parameter:refund_id", "退款单不存在")
        return {"refund": _only(stored[1], fields), "request_id": self._request_id()}

    def _trade_rates(self, params: dict) -> dict:
        fields = _fields(params)
        # This stand-in holds only what the seller received from buyers: rate_type=get, role=buyer.
        if not params.get("rate_type") or not params.get("role"):
            raise TopError(MISSING_ARGUMENTS, "isv.missing-parameter", "rate_type and role are required")
        if (params["rate_type"], params["role"]) != ("get", "buyer"):
            return {"request_id": self._request_id(), **_page([], params, *REVIEW_PAGE)[1]}
        records = self._window("reviews", params, "start_date", "end_date")
        if params.get("result"):
            records = [record for record in records if record.get("result") == params["result"]]
        records, page = _page(records, params, *REVIEW_PAGE)
        answer = {"request_id": self._request_id()}
        if records:
            answer["trade_rates"] = {"trade_rate": [_only(record, fields) for record in records]}
        answer.update(page)
        return answer

    def _window(self, kind: str, params: dict, start_name: str, end_name: str) -> list[dict]:
        """Records whose time, to the second as the platform writes it, lies between the two bounds, both
        included (the definition is silent on the bounds; inclusive is how TOP's other time filters read)."""
        try:
            start = parse_china_time(params[start_name]) if params.get(start_name) else datetime(2000, 1, 1, tzinfo=UTC)
            end = parse_china_time(params[end_name]) + timedelta(seconds=1) if params.get(end_name) else self.clock()
        except ValueError:
            raise TopError(INVALID_ARGUMENTS, f"isv.invalid-parameter:{start_name}", "yyyy-MM-dd HH:mm:ss") from None
        return self.modified_between(kind, start, end)


def _fields(params: dict) -> list[str]:
    fields = [name.strip() for name in params.get("fields", "").split(",") if name.strip()]
    if not fields:
        raise TopError(MISSING_ARGUMENTS, "isv.missing-parameter:fields", "fields")
    return fields


def _only(record: dict, fields: list[str]) -> dict:
    # "返回的TradeRate包含的具体信息为入参fields请求的字段信息": only asked fields come back.
    return {name: record[name] for name in fields if name in record}


def _page(records: list[dict], params: dict, default_size: int, max_size: int) -> tuple[list[dict], dict]:
    try:
        page_no = int(params.get("page_no") or 1)
        page_size = int(params.get("page_size") or default_size)
    except ValueError:
        raise TopError(INVALID_ARGUMENTS, "isv.invalid-parameter:page_no",
                       "page_no and page_size are numbers") from None
    if page_no < 1 or not 1 <= page_size <= max_size:
        raise TopError(INVALID_ARGUMENTS, "isv.invalid-parameter:page_size", f"page_size 1 to {max_size}")
    chosen = records[(page_no - 1) * page_size: page_no * page_size]
    # use_has_next=true: "返回的结果中不包含总记录数，但是会新增一个是否存在下一页的的字段".
    if params.get("use_has_next") == "true":
        return chosen, {"has_next": page_no * page_size < len(records)}
    return chosen, {"total_results": len(records)}


def _difference(total: str, refund: str) -> str:
    try:
        return f"{Decimal(total) - Decimal(refund):.2f}"
    except ArithmeticError:
        return "0.00"


def _json(body: dict) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), content_type="application/json;charset=UTF-8")
