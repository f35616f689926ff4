"""A local stand-in of JD's open platform (京东宙斯 JOS) for POP shops: the /routerjson gateway and the three
queries the JD connector makes.

Sources, read for every rule below (all public):
- JD's official .NET SDK as vendored in github.com/yjm123456/fx.amiya.api, src/JDSDK/: DefaultJdClient.cs (system
  parameters method, app_key, access_token, timestamp, v=2.0, 360buy_param_json; POST), Util/JdUtils.cs
  (SignJdRequest), JdResponse.cs and Parser/JdJsonParser.cs (an answer is one object whose only key holds the
  data; errors are {"error_response": {"code", "zh_desc", "en_desc"}}), Domain/ServiceBrief.cs,
  Domain/RefundApplyVo.cs, Domain/PopCommentJosVo.cs, Domain/ImageUgcVo.cs, Domain/PopCommentReplyVo.cs (record
  fields), Response/PopPopCommentJsfServiceGetVenderCommentsForJosResponse.cs.
- JD's official Python SDK as vendored in github.com/ogto/scm_backend, app/storeman/stores/jd/api_bak20211025/base.py
  (the same signature, the /routerjson path) and the request definitions of the PyPI package seven-jd
  (seven_jd/jd/api/rest/AscQueryListRequest.py, PopAfsSoaRefundapplyQueryPageListRequest.py): the query parameters.
- github.com/zeasin/qihangerp-sdk, open-sdk/src/main/java/cn/qihangerp/open/jd/JdAfterSaleApiHelper.java (a client
  in use: the envelope names jingdong_asc_query_list_responce / jingdong_pop_afs_soa_refundapply_queryPageList_responce,
  "code" "0", pageResult.totalCount / pageResult.data, queryResult.totalCount / queryResult.result) and
  open-sdk/.../jd/model/AfterSale.java (a class generated from a real answer: applyTime and updateDate are text,
  approveTime is epoch milliseconds).
- github.com/zeasin/qihangerp-oms: api/oms-api/.../domain/OmsJdAfterSale.java (serviceStatus and customerExpect
  codes with their names), module/order/.../service/impl/ORefundServiceImpl.java (applyRefundSum is in fen; the
  refund application's status codes).
- A PHP JOS client's GetVenderCommentsForJosRequest (code search; comment query parameters, "每页条数(最大50)",
  score 1 差评 / 2 中评 / 3 好评 as a filter, the envelope jingdong_pop_PopCommentJsfService_getVenderCommentsForJos_responce).

Error codes: 12 无效签名 (a public JD client's README quoting JD's 平台网关系统错误码 document), 19 for an invalid or
expired access_token (public JOS client tests mocking {"error_response":{"code":"19","zh_desc":"Token expired"}}),
66 retried by the official .NET SDK (DefaultJdClient.cs retries only that code, backing off): we use it for the
call-rate limit. The Chinese wording of 19 and 66 here is ours; the public record we read does not quote it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from zoneinfo import ZoneInfo

from werkzeug.wrappers import Request, Response

from sync.fakes.base import FakePlatform

CHINA = ZoneInfo("Asia/Shanghai")  # JOS times are GMT+8 text, "yyyy-MM-dd HH:mm:ss"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

SERVICE_LIST = "jingdong.asc.query.list"
REFUND_APPLY_LIST = "jingdong.pop.afs.soa.refundapply.queryPageList"
COMMENT_LIST = "jingdong.pop.PopCommentJsfService.getVenderCommentsForJos"
METHODS = (SERVICE_LIST, REFUND_APPLY_LIST, COMMENT_LIST)

# serviceStatus -> serviceStatusName (qihangerp-oms OmsJdAfterSale.java)
SERVICE_STATUS_NAMES = {
    10000: "待审核领取", 10001: "待审核", 10002: "待客户反馈", 10004: "审核关闭", 10005: "待收货",
    10006: "待处理领取", 10007: "待处理", 10009: "待用户确认", 10010: "完成", 10011: "取消", 10012: "客户已反馈",
    10013: "待审核和待客户反馈", 10041: "提交退款申请",
}
# customerExpect -> customerExpectName (same file)
CUSTOMER_EXPECT_NAMES = {
    1: "售前退款", 10: "退货", 11: "仅退款", 20: "换货", 30: "维修", 40: "大家电安装", 50: "大家电移机",
    60: "大家电增值服务", 70: "上门维修", 80: "补发商品", 90: "优鲜赔", 100: "试用收回",
}
REASONS = ("商品质量问题", "商品与描述不符", "收到商品破损", "发错货", "不想要了")


def china_text(moment: datetime) -> str:
    return moment.astimezone(CHINA).strftime(TIME_FORMAT)


def parse_china_text(text) -> datetime | None:
    """JOS request times: "yyyy-MM-dd HH:mm:ss" in China time. The official .NET SDK sends its timestamp with
    milliseconds and an offset ("yyyy-MM-dd HH:mm:ss.fff+0800"); the first 19 characters are the same."""
    try:
        return datetime.strptime(str(text)[:19], TIME_FORMAT).replace(tzinfo=CHINA)
    except ValueError:
        return None


def sign(params: dict, secret: str) -> str:
    """JdUtils.SignJdRequest: parameters sorted by name, empty values left out, name and value joined with nothing
    between, the secret before and after, MD5, upper-case hex."""
    joined = "".join(f"{key}{params[key]}" for key in sorted(params) if key and params[key] not in (None, ""))
    return hashlib.md5(f"{secret}{joined}{secret}".encode()).hexdigest().upper()


def error_body(code: str, zh_desc: str, en_desc: str) -> dict:
    return {"error_response": {"code": code, "zh_desc": zh_desc, "en_desc": en_desc}}


class FakeJd(FakePlatform):
    family = "jd"
    path = "/routerjson"

    # A return and refund as the service order moves (OmsJdAfterSale.java's codes): the seller audits, the goods
    # come back, the seller handles them, the refund is submitted, done.
    FLOW = ("10001", "10005", "10007", "10041", "10010")

    # --- builders ------------------------------------------------------------------------------------------

    def new_after_sale(self, **overrides) -> dict:
        """A service order (售后服务单) in the fields of ServiceBrief, as jingdong.asc.query.list returns it."""
        serial = next(self.serial)
        now = self.clock()
        status = int(overrides.pop("serviceStatus", 10001))
        expect = int(overrides.pop("customerExpect", 10))
        record = {
            "applyId": 80000000 + serial,
            "serviceId": 1800000000 + serial,
            "orderId": 300000000000 + serial,
            "applyTime": china_text(now),
            "customerExpect": expect,
            "customerExpectName": CUSTOMER_EXPECT_NAMES.get(expect, ""),
            "serviceStatus": status,
            "serviceStatusName": SERVICE_STATUS_NAMES.get(status, ""),
            "customerPin": f"jd_{serial:06d}buyer",
            "customerName": "张**",
            "customerGrade": 56,
            "orderType": 22,
            "orderTypeName": "POPSOP",
            "actualPayPrice": "199.00",
            "skuId": 100012345600 + serial,
            "wareName": "不锈钢保温杯 500ml 曜石黑",
            "wareType": 10,
            "wareTypeName": "申请主商品",
            "skuType": 1,
            "skuTypeName": "单品",
            "serviceCount": 1,
            "platformSrc": 1,
            "platformSrcName": "京东商城",
            "updateDate": china_text(now),
        }
        record.update(overrides)
        return self.put("cases", str(record.get("serviceId", f"missing-{serial}")), record)

    def new_refund_application(self, **overrides) -> dict:
        """A refund application before shipment (退款申请单) in the fields of RefundApplyVo, as
        jingdong.pop.afs.soa.refundapply.queryPageList returns it; applyRefundSum in fen."""
        serial = next(self.serial)
        record = {
            "id": 52000000 + serial,
            "orderId": str(300000000000 + serial),
            "buyerId": f"jd_{serial:06d}buyer",
            "buyerName": "李**",
            "applyTime": china_text(self.clock()),
            "checkTime": "",
            "applyRefundSum": 8900,
            "status": 0,
            "checkUserName": "",
            "checkRemark": "",
            "reason": "不想要了",
            "systemId": 1,
            "storeId": 0,
        }
        record.update(overrides)
        return self.put("cases", f"RA{record.get('id', f'missing-{serial}')}", record)

    def change_after_sale(self, record_id: str, **fields) -> dict:
        """Change a service order (id: its serviceId) or a refund application (id: "RA" + its id). ``status`` is
        the status of either; a service order's name follows its code, a checked application gets its checkTime."""
        key = str(record_id)
        record = dict(self.get("cases", key))
        now = self.clock()
        status = fields.pop("status", None)
        if key.startswith("RA"):
            if status is not None:
                record["status"] = int(status)
                record["checkTime"] = china_text(now)
        else:
            if status is not None:
                fields.setdefault("serviceStatus", status)
            if "serviceStatus" in fields:
                fields["serviceStatus"] = int(fields["serviceStatus"])
                fields.setdefault("serviceStatusName", SERVICE_STATUS_NAMES.get(fields["serviceStatus"], ""))
            record["updateDate"] = china_text(now)
        record.update(fields)
        return self.put("cases", key, record, modified=now)

    def new_review(self, **overrides) -> dict:
        """A comment in the fields of PopCommentJosVo; a bad one (score 1) unless said."""
        serial = next(self.serial)
        record = {
            "commentId": f"{15000000000 + serial}",
            "skuid": f"{100012345600 + serial}",
            "skuName": "不锈钢保温杯 500ml 曜石黑",
            "skuImage": "jfs/t1/1/1/1/1/demo.jpg",
            "content": "用了两天就不保温了，盖子还漏水，差评",
            "creationTime": china_text(self.clock()),
            "score": 1,
            "status": 1,
            "usefulCount": 0,
            "replyCount": 0,
            "isVenderReply": False,
            "nickName": "j***8",
            "replies": [],
            "images": [{"id": 9000 + serial, "imgUrl": "//img30.360buyimg.com/shaidan/demo.jpg", "imgTitle": ""}],
            "videos": [],
            "orderId": 300000000000 + serial,
        }
        record.update(overrides)
        return self.put("reviews", str(record.get("commentId", f"missing-{serial}")), record)

    # --- HTTP ----------------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        # The SDKs POST a form; the gateway reads the same parameters from the query string (qihangerp's helper
        # sends a GET), so both are read.
        params = {key: value for key, value in request.values.items()}
        method = params.get("method", "")
        try:
            business = json.loads(params.get("360buy_param_json") or "{}")
        except ValueError:
            business = {}
        with self.lock:
            self.calls.append({"method": method, "page": business.get("pageNumber", business.get("pageIndex",
                               business.get("page"))), **business})
        failure = self.next_failure()
        if failure == "server_error":
            # A gateway failure outside the platform's envelope: what an overloaded front end answers.
            return Response("<html><body>503 Service Temporarily Unavailable</body></html>", status=503,
                            content_type="text/html")
        if failure == "rate_limit":
            return self.answer(error_body("66", "调用频率超过限制，请稍后再试", "Call frequency limit exceeded"))
        if params.get("app_key") != self.app_key or params.get("sign", "").upper() != sign(
                {key: value for key, value in params.items() if key != "sign"}, self.app_secret):
            return self.answer(error_body("12", "无效签名", "Invalid signature"))
        if failure == "bad_token" or params.get("access_token") != self.access_token:
            return self.answer(error_body("19", "无效的access_token或已过期", "Invalid access_token"))
        if method not in METHODS:
            return self.answer(error_body("15", "不存在的方法名", "Invalid Method"))
        envelope = method.replace(".", "_") + "_responce"  # JD's own spelling, as every client reads it
        if method == SERVICE_LIST:
            return self.answer({envelope: self.service_orders(business)})
        if method == REFUND_APPLY_LIST:
            return self.answer({envelope: self.refund_applications(business)})
        return self.answer({envelope: self.comments(business)})

    @staticmethod
    def answer(body: dict) -> Response:
        return Response(json.dumps(body, ensure_ascii=False), content_type="application/json;charset=utf-8")

    @staticmethod
    def window(business: dict, begin_key: str, end_key: str) -> tuple[datetime, datetime]:
        begin = parse_china_text(business.get(begin_key)) or datetime(1970, 1, 1, tzinfo=CHINA)
        end = parse_china_text(business.get(end_key)) or datetime(9999, 1, 1, tzinfo=CHINA)
        return begin, end

    @staticmethod
    def page_of(records: list, number, size, largest: int = 50) -> list:
        number = max(int(number or 1), 1)
        size = min(max(int(size or 10), 1), largest)
        return records[(number - 1) * size:number * size]

    def service_orders(self, business: dict) -> dict:
        """jingdong.asc.query.list by updateTimeBegin/updateTimeEnd, paged by pageNumber/pageSize."""
        begin, end = self.window(business, "updateTimeBegin", "updateTimeEnd")
        chosen = [record for record in self.modified_between("cases", begin, end) if "applyRefundSum" not in record]
        data = self.page_of(chosen, business.get("pageNumber"), business.get("pageSize"))
        return {"code": "0", "pageResult": {"pageNumber": int(business.get("pageNumber") or 1),
                                            "pageSize": int(business.get("pageSize") or 10),
                                            "totalCount": len(chosen), "data": data}}

    def refund_applications(self, business: dict) -> dict:
        """jingdong.pop.afs.soa.refundapply.queryPageList: the window is on applyTime or on checkTime (the query
        has no modified time), paged by pageIndex/pageSize."""
        if business.get("checkTimeStart") or business.get("checkTimeEnd"):
            field, (begin, end) = "checkTime", self.window(business, "checkTimeStart", "checkTimeEnd")
        else:
            field, (begin, end) = "applyTime", self.window(business, "applyTimeStart", "applyTimeEnd")
        with self.lock:
            every = [record for _moment, record in self.records["cases"].values() if "applyRefundSum" in record]
        chosen = []
        for record in every:
            moment = parse_china_text(record.get(field) or "")
            if moment is not None and begin <= moment < end:
                chosen.append(record)
        chosen.sort(key=lambda record: (str(record.get(field)), str(record.get("id"))))
        result = self.page_of(chosen, business.get("pageIndex"), business.get("pageSize"))
        return {"code": "0", "queryResult": {"totalCount": len(chosen), "result": result}}

    def comments(self, business: dict) -> dict:
        """getVenderCommentsForJos by beginTime/endTime, paged by page/pageSize (at most 50)."""
        begin, end = self.window(business, "beginTime", "endTime")
        chosen = self.modified_between("reviews", begin, end)
        return {"code": "0", "comments": self.page_of(chosen, business.get("page"), business.get("pageSize")),
                "totalItem": len(chosen), "page": int(business.get("page") or 1)}

