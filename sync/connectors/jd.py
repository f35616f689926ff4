"""JD POP shops through JD's open platform (京东宙斯 JOS): after-sales service orders, refund applications before
shipment, and the shop's comments.

The protocol, as JD's own SDKs implement it (github.com/yjm123456/fx.amiya.api, src/JDSDK/DefaultJdClient.cs and
Util/JdUtils.cs, the official .NET SDK; github.com/ogto/scm_backend, app/storeman/stores/jd/api_bak20211025/base.py,
the official Python SDK): one POST to /routerjson with the system parameters method, app_key, access_token,
timestamp ("yyyy-MM-dd HH:mm:ss", GMT+8), v=2.0 and the business parameters as JSON in 360buy_param_json, signed
with upper-case hex MD5(secret + name1value1name2value2… sorted by name + secret). The answer's only key is the
method with dots made underscores and "_responce" (JD's spelling; github.com/zeasin/qihangerp-sdk,
open-sdk/src/main/java/cn/qihangerp/open/jd/JdAfterSaleApiHelper.java), or "error_response" with code, zh_desc
and en_desc (JdResponse.cs).

Which queries (sync/fakes/jd.py cites the field definitions):
- cases: jingdong.asc.query.list (售后服务单, paged by pageNumber/pageSize, window on updateTimeBegin/updateTimeEnd)
  and jingdong.pop.afs.soa.refundapply.queryPageList (退款申请单 before shipment, paged by pageIndex/pageSize). The
  second has no modified time, only applyTime and checkTime windows, so each page asks it twice: applications
  made in the window and applications checked in it. Its ids are another number series than serviceId: our
  platform_case_id for them is "RA" + id, so the two never collide.
- reviews: jingdong.pop.PopCommentJsfService.getVenderCommentsForJos (beginTime/endTime, page/pageSize ≤ 50).

One page_no asks the same page of every query of the kind; a query already past its last page answers an empty
page, and the page has more while any query has. No query's longest time span is in the public record we read,
so ``window`` stays 0.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

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

SERVICE_LIST = "jingdong.asc.query.list"
REFUND_APPLY_LIST = "jingdong.pop.afs.soa.refundapply.queryPageList"
COMMENT_LIST = "jingdong.pop.PopCommentJsfService.getVenderCommentsForJos"
REFUND_APPLICATION_PREFIX = "RA"
OPERATOR = "aftersales-sync"  # operatePin/operateNick name who asks; public clients send any name ("testPin")

# Gateway error codes. 12 无效签名 (a public JD client's README quoting JD's 平台网关系统错误码); 19 an invalid or
# expired access_token (public JOS client tests: {"code":"19","zh_desc":"Token expired"}); 66 is the one code the
# official .NET SDK retries, backing off (DefaultJdClient.cs): the call-rate limit or a busy back end. 15 is an
# unknown method (不存在的方法名), which means this app lacks the API. Other codes stop the sync with JD's words.
SIGNATURE_CODES = {"12"}
TOKEN_CODES = {"19"}
TRANSIENT_CODES = {"66"}
PERMISSION_CODES = {"15"}

# customerExpect (客户期望) -> our kind words (cases/importing.KIND_SYNONYMS); codes from github.com/zeasin/
# qihangerp-oms, api/oms-api/.../domain/OmsJdAfterSale.java. Others keep customerExpectName.
KIND_OF_EXPECT = {1: "售前退款", 10: "退货退款", 11: "仅退款", 20: "换货", 30: "维修", 40: "大家电安装",
                  50: "大家电移机", 70: "上门维修", 80: "补发商品", 90: "赔付"}
# serviceStatus -> serviceStatusName, when a record carries the code only (same file).
SERVICE_STATUS_NAMES = {
    10000: "待审核领取", 10001: "待审核", 10002: "待客户反馈", 10004: "审核关闭", 10005: "待收货",
    10006: "待处理领取", 10007: "待处理", 10009: "待用户确认", 10010: "完成", 10011: "取消", 10012: "客户已反馈",
    10013: "待审核和待客户反馈", 10041: "提交退款申请",
}
# A refund application's status (退款申请单状态) as JD documents it, quoted in github.com/zeasin/qihangerp-oms,
# module/order/src/main/java/cn/qihangerp/module/order/service/impl/ORefundServiceImpl.java.
REFUND_APPLY_STATUS = {
    0: "未审核", 1: "审核通过", 2: "审核不通过", 3: "京东财务审核通过", 4: "京东财务审核不通过", 5: "人工审核通过",
    6: "京东拦截并退款", 7: "青龙拦截成功", 8: "青龙拦截失败", 9: "强制关单并退款", 10: "物流待跟进(线下拦截)",
    11: "用户撤销", 16: "拒收后退款", 17: "协商退货退款", 18: "协商关闭", 19: "纠纷介入", 27: "京东承诺拦截",
}


def sign(params: dict, secret: str) -> str:
    """JOS's signature (JdUtils.SignJdRequest): names sorted, empty values left out, each name followed by its
    value, the secret on both ends, MD5 as upper-case hex. Values are signed as sent, not URL-encoded."""
    joined = "".join(f"{key}{params[key]}" for key in sorted(params) if key and params[key] not in (None, ""))
    return hashlib.md5(f"{secret}{joined}{secret}".encode()).hexdigest().upper()


def is_refund_application(record: dict) -> bool:
    """A refund application (RefundApplyVo) carries applyRefundSum; a service order (ServiceBrief) never does."""
    return "applyRefundSum" in record and "serviceId" not in record


class JdConnector(Connector):
    family = "jd"
    default_url = "https://api.jd.com/routerjson"
    page_size = 50  # the comment query's documented maximum; we ask the same of the after-sales queries

    # --- the protocol --------------------------------------------------------------------------------------

    def call(self, method: str, business: dict) -> dict:
        """One signed call; returns the data inside the method's envelope or raises."""
        params = {
            "method": method,
            "app_key": self.credentials.app_key,
            "access_token": self.credentials.access_token,
            "timestamp": china_time(datetime.now(UTC)),
            "v": "2.0",
            "format": "json",
            "360buy_param_json": json.dumps(business, ensure_ascii=False, separators=(",", ":")),
        }
        params["sign"] = sign(params, self.credentials.app_secret)
        response = self.post(self.credentials.api_url, data=params)
        try:
            body = response.json()
        except ValueError:
            self.raise_for_http(response)
            raise TransientError(f"JD answered {method} with something that is not JSON", code="not_json") from None
        if not isinstance(body, dict):
            raise TransientError(f"JD answered {method} with something that is not an object", code="not_json")
        if "error_response" in body:
            raise self.gateway_error(body["error_response"] or {})
        self.raise_for_http(response)
        data = body.get(method.replace(".", "_") + "_responce")
        if not isinstance(data, dict):
            raise PermanentError(f"JD's answer to {method} has no {method.replace('.', '_')}_responce part",
                                 code="envelope")
        if str(data.get("code", "0")) != "0":
            raise PermanentError(f"JD refused {method}: {data.get('zh_desc') or data.get('message') or data}",
                                 code=str(data.get("code")))
        return data

    @staticmethod
    def gateway_error(error: dict) -> Exception:
        code = str(error.get("code", ""))
        words = error.get("zh_desc") or error.get("en_desc") or ""
        if code in TRANSIENT_CODES:
            return TransientError(f"JD is limiting calls or busy ({code} {words}); the sync will retry", code=code)
        if code in TOKEN_CODES:
            return PermanentError(f"JD refused the access token ({code} {words}): authorise the shop again in "
                                  "the JD open platform and paste the new access token", code=code, token=True)
        if code in SIGNATURE_CODES:
            return PermanentError(f"JD refused the signature ({code} {words}): check that the App Secret belongs "
                                  "to this App Key", code=code)
        if code in PERMISSION_CODES:
            return PermanentError(f"JD does not let this app call the API ({code} {words}): ask for the API "
                                  "permission in the JD open platform", code=code)
        return PermanentError(f"JD refused the call ({code} {words})", code=code)

    # --- fetch ---------------------------------------------------------------------------------------------

    def fetch(self, kind: str, start: datetime, end: datetime, page_no: int) -> Page:
        begin, finish = china_time(start), china_time(end)
        if kind == "reviews":
            data = self.call(COMMENT_LIST, {"beginTime": begin, "endTime": finish, "page": page_no,
                                            "pageSize": self.page_size})
            comments = data.get("comments") or []
            return Page(list(comments), has_more=page_no * self.page_size < int(data.get("totalItem") or 0))
        if kind != "cases":
            raise ValueError(kind)
        records: list[dict] = []
        has_more = False
        services = self.call(SERVICE_LIST, {
            "buId": self.credentials.shop_ref, "operatePin": OPERATOR, "operateNick": OPERATOR,
            "updateTimeBegin": begin, "updateTimeEnd": finish, "pageNumber": page_no, "pageSize": self.page_size,
        }).get("pageResult") or {}
        records.extend(services.get("data") or [])
        has_more |= page_no * self.page_size < int(services.get("totalCount") or 0)
        seen: set[str] = set()
        for window in (("applyTimeStart", "applyTimeEnd"), ("checkTimeStart", "checkTimeEnd")):
            applications = self.call(REFUND_APPLY_LIST, {
                window[0]: begin, window[1]: finish, "pageIndex": page_no, "pageSize": self.page_size,
            }).get("queryResult") or {}
            for record in applications.get("result") or []:
                # made and checked in the same window: once is enough
                if str(record.get("id")) not in seen:
                    seen.add(str(record.get("id")))
                    records.append(record)
            has_more |= page_no * self.page_size < int(applications.get("totalCount") or 0)
        return Page(records, has_more=has_more)

    # --- records -------------------------------------------------------------------------------------------

    def record_id(self, kind: str, record: dict) -> str:
        if kind == "reviews":
            return text(record.get("commentId"))
        if is_refund_application(record):
            number = text(record.get("id"))
            return REFUND_APPLICATION_PREFIX + number if number else ""
        return text(record.get("serviceId"))

    def shop_of(self, kind: str, record: dict) -> str | None:
        # ServiceBrief, RefundApplyVo and PopCommentJosVo carry no venderId: the token names the shop.
        return None

    def row(self, kind: str, record: dict) -> dict:
        record_id = self.record_id(kind, record)
        if not record_id:
            raise BadRecord("", "the record has no id")
        if kind == "reviews":
            return self.review_row(record_id, record)
        if is_refund_application(record):
            return self.refund_application_row(record_id, record)
        return self.service_order_row(record_id, record)

    def service_order_row(self, record_id: str, record: dict) -> dict:
        expect = whole(record.get("customerExpect"))
        status = record.get("serviceStatus")
        status_words = text(record.get("serviceStatusName")) or SERVICE_STATUS_NAMES.get(whole(status), text(status))
        if not status_words:
            raise BadRecord(record_id, "the service order has no serviceStatus")
        row = {
            "order_no": required(record_id, record, "orderId"),
            "platform_case_id": record_id,
            "buyer_nick": text(record.get("customerPin")) or text(record.get("customerName")),
            "kind": KIND_OF_EXPECT.get(expect) or text(record.get("customerExpectName")),
            "order_amount": amount(record_id, record, "actualPayPrice"),
            "received_at": moment(record_id, record, "applyTime", needed=True),
            "platform_status": status_words,
            "explanation": text(record.get("questionDesc")),
        }
        return {key: value for key, value in row.items() if value not in (None, "")}

    def refund_application_row(self, record_id: str, record: dict) -> dict:
        if record.get("status") in (None, ""):
            raise BadRecord(record_id, "the refund application has no status")
        status = whole(record.get("status"))
        refund = amount(record_id, record, "applyRefundSum")
        row = {
            "order_no": required(record_id, record, "orderId"),
            "platform_case_id": record_id,
            "buyer_nick": text(record.get("buyerName")) or text(record.get("buyerId")),
            "kind": "售前退款",  # a refund asked before the goods left: qihangerp files these as customerExpect 1
            "refund_amount": None if refund is None else (refund / 100).quantize(Decimal("0.01")),  # fen
            "received_at": moment(record_id, record, "applyTime", needed=True),
            "reason": text(record.get("reason")),
            "platform_status": REFUND_APPLY_STATUS.get(status, text(record.get("status"))),
        }
        return {key: value for key, value in row.items() if value not in (None, "")}

    def review_row(self, record_id: str, record: dict) -> dict:
        score = record.get("score")
        if whole(score) not in range(1, 6):
            raise BadRecord(record_id, f"the score {score!r} is not 1 to 5")
        row = {
            "platform_review_id": record_id,
            "order_no": required(record_id, record, "orderId"),
            "buyer_nick": text(record.get("nickName")),
            "product": text(record.get("skuName")),
            "sku": text(record.get("skuid")),
            "rating": whole(score),
            "text": text(record.get("content")),
            "reviewed_at": moment(record_id, record, "creationTime", needed=True),
            "picture_count": len(record.get("images") or []),
        }
        return {key: value for key, value in row.items() if value not in (None, "")}


# --- values as JOS writes them -------------------------------------------------------------------------------

def text(value) -> str:
    return "" if value is None else str(value).strip()


def whole(value) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def required(record_id: str, record: dict, field: str) -> str:
    value = text(record.get(field))
    if not value:
        raise BadRecord(record_id, f"the record has no {field}")
    return value


def amount(record_id: str, record: dict, field: str) -> Decimal | None:
    value = record.get(field)
    return None if value in (None, "") else amount_of(record_id, field, value)


def moment(record_id: str, record: dict, field: str, *, needed: bool = False) -> datetime | None:
    """A JOS time: "yyyy-MM-dd HH:mm:ss" in China time (how qihangerp's model generated from a real answer reads
    applyTime), or epoch milliseconds (how the same model reads approveTime, a Date in the SDK)."""
    value = record.get(field)
    if value in (None, ""):
        if needed:
            raise BadRecord(record_id, f"the record has no {field}")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    raw = str(value).strip()
    if raw.isdigit():
        return datetime.fromtimestamp(int(raw) / 1000, UTC)
    return china_moment(record_id, field, raw)
