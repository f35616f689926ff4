"""The marketplaces' own after-sales export files, recognised by their headers: the import's presets.

A preset names an export as its back office writes it, says which platforms' shops produce it, which headers
identify it (``signature``: all of them present) and which of its columns hold each of our import fields
(cases/importing.FIELDS). It maps nothing by hand: the lead uploads the file as it came out of the back
office. A saved column mapping still wins over a preset, for a shop whose export differs.

The column names are the platforms' own, taken from public sources cited next to each preset; the status
words of their status columns are read through platforms/statuses.py, written once for imports and sync.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from spreadsheets import normalise


@dataclass(frozen=True)
class Preset:
    key: str
    family: str                      # platforms.statuses.FAMILY: whose shops export it
    title: object                    # what the preview calls it
    signature: tuple[str, ...]       # headers that all appear in this export (and identify it)
    columns: dict                    # our field -> its column names in this export, preferred first

    def matches(self, headers: set[str]) -> bool:
        return all(normalise(name) in headers for name in self.signature)


# Tmall and Taobao: 千牛 → 交易 → 退款管理 → 批量导出 (one export for both back offices). Column names as public
# importers of this export read them (none of them is the platform's own specification; where they agree, the
# name is taken):
# - the older layout, with the buyer's member name: a Java import DTO "天猫退款单页面导出Excel模板" (class
#   AsTmrefundImportDto, columns A-AM: 订单编号 退款编号 支付宝交易号 订单付款时间 商品编码 退款完结时间 买家会员名称
#   买家实际支付金额 宝贝标题 买家退款金额 手工退款/系统退款 是否需要退货 退款的申请时间 超时时间 退款状态 货物状态
#   退货物流信息 发货物流信息 客服介入状态 卖家真实姓名 卖家退货地址 卖家邮编 卖家电话 卖家手机 退货物流单号 退货物流公司
#   买家退款原因 买家退款说明 买家退货时间 责任方 售中或售后 商家备注 完结时间 部分退款/全部退款 审核操作人 举证超时
#   是否零秒响应 退款操作人), with the same sequence in a Laravel migration (CreateTbRefundsTable) and a C# entity
#   (IGrow RefundEntity); its controller reads the times as yyyy-MM-dd HH:mm:ss;
# - the newer layout, 42 columns without the buyer's name (卖家真实姓名新, 退款原因标签, 业务类型, 是否帮他退款 and
#   帮他退款操作账号 added): a public browser extension for the 传美打印 print service, function
#   apichuammei_get_excel_refund_taobao_item_data ("淘宝导出的售后订单数据");
# - the newest seen, where 售后类型 stands for 是否需要退货: public TypeScript importers of the export.
# Values: 是否需要退货 是/否; 退款状态, 货物状态 and 客服介入状态 in the API's Chinese (platforms/statuses.py); amounts
# in yuan; long numbers written as ="…" or with a leading tab so that Excel keeps their digits; CSV in GBK.
TAOBAO_COLUMNS = {
    "order_no": ("订单编号",),
    "platform_case_id": ("退款编号",),
    "buyer_nick": ("买家会员名称", "买家会员名", "买家昵称"),
    "kind": ("售后类型",),
    "needs_return": ("是否需要退货",),
    "order_amount": ("买家实际支付金额",),
    "refund_amount": ("买家退款金额",),
    "received_at": ("退款的申请时间",),
    "platform_deadline_at": ("超时时间",),
    "platform_status": ("退款状态",),
    "platform_goods_status": ("货物状态",),
    "platform_intervention": ("客服介入状态",),
    "reason": ("买家退款原因",),
    "explanation": ("买家退款说明",),
    "flag_note": ("商家备注",),
}
TAOBAO_SIGNATURE = ("订单编号", "退款编号", "退款的申请时间", "退款状态")

# JD POP: 京麦 → 售后 → 服务单 → 导出 (售后服务单). No public copy of the whole header row was found; the columns
# below are those public importers of this export read (a Python parser of "京东退款明细": 服务单号 订单号 商品编号
# 商品名称 商家首次处理时间 审核时间 退款金额 客户期望 一级申请原因; a Go importer of the 售后明细: 售后申请时间 客户期望
# 服务单状态), with the customer's columns named as the after-sales API names them (customerPin 客户账号, customerName
# 客户姓名, customerTel 联系电话, questionDesc 问题描述; github.com/zeasin/qihangerp-oms, OmsJdAfterSale.java). The
# file has a row of group titles (申请信息, 订单信息 …) above its header row: ``recognised`` finds the header under it.
# 客户期望 is the kind (退货, 换货, 维修, 补发新品, 未收货退款, 已收货退款 …); 服务单状态 the status; amounts in yuan.
JD_COLUMNS = {
    "order_no": ("订单号",),
    "platform_case_id": ("服务单号",),
    "buyer_nick": ("客户账号", "客户姓名", "用户账号"),
    "buyer_phone": ("联系电话", "客户电话"),
    "kind": ("客户期望", "服务类型"),
    "refund_amount": ("退款金额",),
    "received_at": ("售后申请时间", "申请时间"),
    "platform_status": ("服务单状态", "售后状态"),
    "reason": ("一级申请原因", "申请原因"),
    "explanation": ("问题描述",),
}
JD_SIGNATURE = ("服务单号", "订单号", "客户期望", "服务单状态")

# Douyin: 抖店 → 售后 → 售后工作台 → 导出 (售后表). Its 50 columns, as a public configuration measured on a real
# workbook lists them (售后单号 订单号 商品单号 商品名称 商品ID 应付金额（元） 商品运费（元） 支付优惠（元） 商品税费（元）
# 商品发货状态 售后类型 退商品金额（元） 退运费金额（元） 退支付优惠（元） 退税费金额（元） 售后状态 售后申请时间 退款方式
# 是否已上传退款凭证 售后原因 售后原因标签 退货物流单号 退货异常 退货发货时间 退货物流公司 自动处理截止时间 同意售后申请时间
# 商家退款时间 用户到账时间 售后关闭时间 商家退货地址 商家退货联系人姓名 商家退货联系人电话 仲裁状态 纠纷责任方 是否极速退款
# 是否拒签后退款 发货物流单号 发货物流状态 换货物流单号 退货物流状态 售后完结时间 订单备注 用户售后说明 售后备注 操作人
# 协商记录 换货商品信息 商家编码 门店名称), corroborated by public parsers of the same sheet, which also note that
# its cells often start with a tab. It has no buyer name or phone: rows are keyed by 售后单号.
DOUYIN_COLUMNS = {
    "order_no": ("订单号",),
    "platform_case_id": ("售后单号",),
    "kind": ("售后类型",),
    "order_amount": ("应付金额（元）",),
    "refund_amount": ("退商品金额（元）",),
    "received_at": ("售后申请时间",),
    "platform_deadline_at": ("自动处理截止时间",),
    "platform_status": ("售后状态",),
    "platform_goods_status": ("商品发货状态",),
    "platform_intervention": ("仲裁状态",),
    "reason": ("售后原因",),
    "explanation": ("用户售后说明",),
    "flag_note": ("售后备注",),
}
DOUYIN_SIGNATURE = ("售后单号", "订单号", "售后类型", "售后状态", "售后申请时间")

PRESETS = (
    Preset("taobao_refunds_with_buyer", "taobao", _l("Tmall/Taobao refund export (with buyer name)"),
           (*TAOBAO_SIGNATURE, "买家会员名称"), TAOBAO_COLUMNS),
    Preset("taobao_refunds", "taobao", _l("Tmall/Taobao refund export"), TAOBAO_SIGNATURE, TAOBAO_COLUMNS),
    Preset("jd_service_orders", "jd", _l("JD POP after-sales service order export"), JD_SIGNATURE, JD_COLUMNS),
    Preset("douyin_aftersales", "douyin", _l("Douyin shop after-sales export"), DOUYIN_SIGNATURE, DOUYIN_COLUMNS),
)


def detect(headers) -> Preset | None:
    """The preset of a file's headers: the most specific one whose signature is all there, or None."""
    present = {normalise(header) for header in headers if header}
    found = [preset for preset in PRESETS if preset.matches(present)]
    return max(found, key=lambda preset: len(preset.signature)) if found else None


def recognised(headers) -> bool:
    """Whether a row is the header of a known export (the JD file has a row of group titles above it)."""
    return detect(headers) is not None
