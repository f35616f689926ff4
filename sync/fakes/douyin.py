"""A local stand-in of the Douyin shop open platform (抖店开放平台, openapi-fxg.jinritemai.com): afterSale.List and
comment.list, with the platform's signing, token check, paging and error bodies.

Sources (public; the official documentation at op.jinritemai.com needs a login, so we follow the SDKs built from it):
- the official SDKs as published in github.com/zsmhub/doudian-sdk ("纯官方SDK代码", doudian-sdk-golang-1.1.0):
  core/doudian_op_api_client.go (path and method, query parameters, param_json as the POST body),
  utils/sign_util.go (the signature), core/doudian_op_api_base_response.go (the envelope),
  api/afterSale_List/request/afterSale_List_request.go and .../response/afterSale_List_response.go (the call);
  the official Python SDK's DoudianOpApiClient (package doudian.core: param_json with sorted keys and no spaces, MD5
  when no sign_method is sent);
- the platform's base error codes (平台基础错误码汇总, op.jinritemai.com/docs/guide-docs/212/1427) as tabled in
  github.com/tb07/jinritemai src/Error/ErrorCode.php (namespace Imactool\\Jinritemai);
- comment.list (店铺评价列表): github.com/iMactool/jinritemai src/Comment/Commnet.php ("comment/list") and the public
  Java SDK package com.lucfish.openapi.doudian (request/parameters/CommentListParameters.java, domain/Comment.java,
  response/comment/Comments.java).
Where those are silent the choice made is said next to it.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone

from werkzeug.wrappers import Request, Response

from sync.fakes.base import FakePlatform

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_PAGE_SIZE = 100     # afterSale.List "每页数量，最多100个"; comment.list "每页条数，最大100"
DEFAULT_PAGE_SIZE = 10  # silent in the public record; the platform's list calls commonly default to 10

# aftersale_status as the afterSale.List response documents it (afterSale_List_response.go); 13 is the request
# side's name for the exchange/reship/repair "waiting for the buyer" step (afterSale_List_request.go).
STATUS_TEXT = {3: "换货待买家收货", 6: "待商家同意", 7: "待买家退货", 8: "待商家发货", 11: "待商家二次同意",
               12: "售后成功", 13: "换货待买家收货", 14: "换货成功", 27: "商家一次拒绝", 28: "售后失败", 29: "商家二次拒绝"}
TYPE_TEXT = {0: "退货退款", 1: "已发货仅退款", 2: "未发货仅退款", 3: "换货", 6: "价保", 7: "补寄", 8: "维修"}
ARBITRATE_TEXT = {0: "", 1: "仲裁中", 2: "客服同意", 3: "客服拒绝", 4: "待商家举证", 5: "协商期", 255: "仲裁结束"}

REASONS = ("商品与描述不符", "质量问题", "少件/漏发", "七天无理由退货", "商品破损/包装破损", "尺码拍错/不喜欢/效果不好")
PRODUCTS = (("加厚珊瑚绒睡衣套装", "颜色", "雾霾蓝"), ("便携式榨汁杯", "颜色", "奶白色"), ("儿童防滑学步鞋", "尺码", "24码"))
BAD_REVIEWS = ("收到就是坏的，客服也不理人", "和图片差太多了，颜色发灰", "用了两天就不转了，差评")


def _error(code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> dict:
    return {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg, "data": {}}


# The error bodies (code / msg / sub_code / sub_msg) of the platform's base error table (tb07/jinritemai,
# src/Error/ErrorCode.php). The rate limit's sub_code is not in the public record, so it is left empty.
ERRORS = {
    "signature_missing": _error(40001, "缺少必选参数", "isv.signature-missing", "获取签名失败，请根据文档确保参数拼装正确"),
    "app_key_missing": _error(40001, "缺少必选参数", "isv.app-id-missing", "认证失败，app_key不存在"),
    "token_missing": _error(40001, "缺少必选参数", "isv.access-token-missing", "认证失败，access_token不能为空"),
    "bad_signature": _error(40003, "非法的参数", "isv.signature-invalid", "签名校验失败"),
    "bad_timestamp": _error(40003, "非法的参数", "isv.timestamp-format-error", "时间戳格式错误"),
    "bad_param_json": _error(40003, "非法的参数", "isv.parameter-format-invalid", "业务参数json解析失败"),
    "unknown_token": _error(40003, "非法的参数", "isv.access-token-no-existed",
                            "access_token不存在，请使用最新的access_token访问"),
    "bad_token": _error(40003, "非法的参数", "isv.access-token-expired", "access_token已过期"),
    "bad_size": _error(40004, "非法的参数", "", "size 不能超过100"),
    "rate_limit": _error(60000, "触发限流，请稍后重试"),
    "server_error": _error(20000, "服务不可用", "dop.service-error", "内部错误，请反馈客服或答疑群"),
    "no_such_method": _error(70000, "接口服务已下线", "isp.api-service-off", "API不存在或API已下线"),
}


def sign(app_secret: str, app_key: str, method: str, param_json: str, timestamp: str, v: str = "2",
         sign_method: str = "md5") -> str:
    """The request signature (utils/sign_util.go): the secret, then app_key/method/param_json/timestamp/v as name
    and value, then the secret again; HMAC-SHA256 keyed with the secret for sign_method=hmac-sha256, MD5 otherwise
    (the official Python SDK sends no sign_method and signs with MD5). Lower-case hex."""
    pattern = f"{app_secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v{v}{app_secret}"
    if sign_method == "hmac-sha256":
        return hmac.new(app_secret.encode(), pattern.encode(), hashlib.sha256).hexdigest()
    return hashlib.md5(pattern.encode()).hexdigest()


def china_time(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime(TIME_FORMAT)


def parse_china_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=CHINA)


class FakeDouyin(FakePlatform):
    family = "douyin"
    path = ""  # the connection names the base address; the method's path (/afterSale/List) follows it

    # An ordinary return and refund: 待商家同意 → 待买家退货 → 待商家二次同意 (goods back, refund to agree) → 售后成功.
    FLOW = ("6", "7", "11", "12")

    def __init__(self, **kwargs):
        kwargs.setdefault("app_key", "7012345678901234567")  # app_key: "应为19位纯数字" (ErrorCode.php)
        kwargs.setdefault("shop_ref", "4463798")               # Douyin names a shop by its numeric shop_id
        super().__init__(**kwargs)
        self.ids = itertools.count(1)

    # --- records, in afterSale.List's item shape (aftersale_info / order_info / text_part / seller_logs) --------

    def new_after_sale(self, **overrides) -> dict:
        n = next(self.ids)
        now = int(self.clock().timestamp())
        product, spec_name, spec_value = PRODUCTS[n % len(PRODUCTS)]
        amount = 5990 + 1000 * (n % 7)  # fen
        record = {
            "aftersale_info": {
                "aftersale_id": str(7180093413178300000 + n), "aftersale_order_type": 1, "aftersale_type": 0,
                "aftersale_status": 6, "related_id": str(6918427305416800000 + n), "apply_time": now,
                "update_time": now, "status_deadline": now + 48 * 3600, "refund_amount": amount,
                "refund_post_amount": 0, "aftersale_num": 1, "aftersale_refund_type": 0, "arbitrate_status": 0,
                "create_time": now, "refund_status": 1, "got_pkg": 1, "return_logistics_code": "",
                "reason_second_labels": [], "aftersale_tags": [],
            },
            "order_info": {
                "shop_order_id": str(6918427305416700000 + n), "order_flag": 0,
                "related_order_info": [{
                    "sku_order_id": str(6918427305416800000 + n), "order_status": 3, "pay_amount": amount,
                    "post_amount": 0, "item_num": 1, "create_time": now - 5 * 86400, "product_name": product,
                    "product_id": 3539925204033330000 + n, "sku_spec": [{"name": spec_name, "value": spec_value}],
                    "aftersale_pay_amount": amount, "aftersale_item_num": 1,
                }],
            },
            "text_part": {"reason_text": REASONS[n % len(REASONS)], "logistics_text": "已发货"},
            "seller_logs": [],
        }
        self._apply(record, overrides)
        return self.put("cases", record["aftersale_info"]["aftersale_id"], record)

    def change_after_sale(self, record_id: str, **fields) -> dict:
        with self.lock:
            record = self.get("cases", record_id)
            now = self.clock()
            record["aftersale_info"]["update_time"] = int(now.timestamp())
            self._apply(record, fields)
            return self.put("cases", record_id, record, modified=now)

    @staticmethod
    def _apply(record: dict, fields: dict) -> None:
        """Put each field where afterSale.List has it; statuses given as text ("7", as in FLOW) become numbers."""
        info, order, text = record["aftersale_info"], record["order_info"], record["text_part"]
        for name, value in fields.items():
            if name in record:
                record[name] = value
            elif name in order:
                order[name] = value
            elif name in text or name.endswith("_text"):
                text[name] = value
            else:
                if name in ("aftersale_status", "aftersale_type", "arbitrate_status") and str(value).isdigit():
                    value = int(value)
                info[name] = value
        # The list's text part says the same as the codes (TextPart in afterSale_List_response.go).
        text["aftersale_status_text"] = STATUS_TEXT.get(info.get("aftersale_status"), "")
        text["aftersale_type_text"] = TYPE_TEXT.get(info.get("aftersale_type"), "")
        text["arbitrate_status_text"] = ARBITRATE_TEXT.get(info.get("arbitrate_status"), "")

    def new_review(self, **overrides) -> dict:
        n = next(self.ids)
        now = self.clock()
        product = PRODUCTS[n % len(PRODUCTS)][0]
        record = {  # domain/Comment.java: ids of products and orders are numbers, times China-time text
            "comment_id": str(7210000000000000000 + n), "product_id": 3539925204033330000 + n,
            "product_name": product, "order_id": 6918427305416800000 + n,
            "comment_time": china_time(now), "update_time": china_time(now),
            "rate": 3, "content": BAD_REVIEWS[n % len(BAD_REVIEWS)],
            "photos": [{"url": f"https://p3-aio.ecombdimg.com/obj/ecom-shop-material/review-{n}-{i}.jpg"}
                       for i in range(n % 3)],
            "append_content": "", "append_photos": [], "append_time": "",
            "is_changed": False, "is_reply": False, "reply_content": "",
        }
        record.update(overrides)
        return self.put("reviews", record["comment_id"], record)

    # --- HTTP --------------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        args = request.args
        # param_json travels in the POST body in the official SDKs and in the query in the older documented form
        # (".../afterSale/orderList?app_key=...&param_json={...}&timestamp=..."): both are read.
        param_json = args.get("param_json")
        if param_json is None:
            param_json = request.get_data(as_text=True) or "{}"
        method = args.get("method", "")
        call = {"method": method, "path": request.path, "params": None, "page": None}
        answer = self._answer(request.path, args, method, param_json, call)
        with self.lock:
            self.calls.append(call)
        answer.setdefault("log_id", f"2026{next(self.serial):016d}")
        return Response(json.dumps(answer, ensure_ascii=False), content_type="application/json; charset=utf-8")

    def _answer(self, path: str, args, method: str, param_json: str, call: dict) -> dict:
        if not args.get("sign"):
            return dict(ERRORS["signature_missing"])
        if args.get("app_key") != self.app_key:
            return dict(ERRORS["app_key_missing"])
        if not args.get("access_token"):
            return dict(ERRORS["token_missing"])
        timestamp = args.get("timestamp", "")
        # The official SDKs send Unix seconds; the documented examples and many clients send "yyyy-MM-dd HH:mm:ss"
        # in China time. The platform's tolerance for clock skew is not public: none is checked here.
        if not timestamp.isdigit():
            try:
                parse_china_time(timestamp)
            except ValueError:
                return dict(ERRORS["bad_timestamp"])
        expected = sign(self.app_secret, self.app_key, method, param_json, timestamp, args.get("v", ""),
                        args.get("sign_method", "md5"))
        if not hmac.compare_digest(expected, args["sign"].lower()):
            return dict(ERRORS["bad_signature"])
        if args["access_token"] != self.access_token:
            return dict(ERRORS["unknown_token"])
        failure = self.next_failure()
        if failure:
            return dict(ERRORS[failure])
        try:
            params = json.loads(param_json)
        except ValueError:
            return dict(ERRORS["bad_param_json"])
        if not isinstance(params, dict):
            return dict(ERRORS["bad_param_json"])
        call["params"] = params
        if path != "/" + method.replace(".", "/"):
            return dict(ERRORS["no_such_method"])
        try:
            page = int(params.get("page", 0))
            size = int(params.get("size", DEFAULT_PAGE_SIZE))
        except (TypeError, ValueError):
            return dict(ERRORS["bad_param_json"])
        call["page"], call["size"] = page, size
        if not 0 < size <= MAX_PAGE_SIZE or page < 0:
            return dict(ERRORS["bad_size"])
        if method == "afterSale.List":
            return self._after_sales(params, page, size)
        if method == "comment.list":
            return self._comments(params, page, size)
        return dict(ERRORS["no_such_method"])

    def _after_sales(self, params: dict, page: int, size: int) -> dict:
        """afterSale.List: update_start_time / update_end_time in Unix seconds (taken as inclusive, the public
        record being silent), page from 0, size at most 100, order_by like ["update_time desc"]."""
        start = params.get("update_start_time")
        end = params.get("update_end_time")
        low = datetime.fromtimestamp(int(start), UTC) if start else datetime.min.replace(tzinfo=UTC)
        high = datetime.fromtimestamp(int(end) + 1, UTC) if end else datetime.max.replace(tzinfo=UTC)
        records = self.modified_between("cases", low, high)
        if "update_time desc" in (params.get("order_by") or []):
            records.reverse()
        chosen = records[page * size:(page + 1) * size]
        return {"code": 10000, "msg": "success", "sub_code": "", "sub_msg": "",
                "data": {"items": chosen, "has_more": (page + 1) * size < len(records), "total": len(records),
                         "page": page, "size": len(chosen)}}

    def _comments(self, params: dict, page: int, size: int) -> dict:
        """comment.list: start_time / end_time as China-time text (inclusive), on create_time unless order_by is
        update_time; is_desc "1" for newest first; page from 0; the answer is {comments, total}."""
        by_update = params.get("order_by") == "update_time"
        try:
            low = parse_china_time(params["start_time"]) if params.get("start_time") else None
            high = parse_china_time(params["end_time"]) if params.get("end_time") else None
        except ValueError:
            return dict(ERRORS["bad_param_json"])
        with self.lock:
            stored = [(moment, record_id, record) for record_id, (moment, record) in self.records["reviews"].items()]
        chosen = []
        for moment, record_id, record in stored:
            try:  # a malformed record stored by a test still has the moment it was stored
                at = moment if by_update else parse_china_time(record["comment_time"])
            except (KeyError, TypeError, ValueError):
                at = moment
            at = at.replace(microsecond=0)
            if (low is None or at >= low) and (high is None or at <= high):
                chosen.append((at, record_id, record))
        chosen.sort(key=lambda item: (item[0], item[1]), reverse=str(params.get("is_desc")) == "1")
        comments = [record for _at, _id, record in chosen][page * size:(page + 1) * size]
        return {"code": 10000, "msg": "success", "sub_code": "", "sub_msg": "",
                "data": {"comments": comments, "total": len(chosen)}}
