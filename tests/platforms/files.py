"""Marketplace after-sales export files as their back offices write them, for the preset tests.

The header rows are written out here from public descriptions of each export, not taken from
platforms/exports.py (a test built from the code's own constants would prove nothing):
- Tmall/Taobao 千牛 退款管理 export, older layout with the buyer's member name: the column list of a public
  Java import DTO of "天猫退款单页面导出Excel模板" (AsTmrefundImportDto, columns A-AL), the same order in a Laravel
  migration and a C# entity of the export;
- the newer Tmall layout of 42 columns without the buyer's name: a public browser extension's parser of
  "淘宝导出的售后订单数据" (apichuammei_get_excel_refund_taobao_item_data);
- JD POP 售后服务单: the columns public importers of the 京东退款明细 / 售后明细 read (服务单号, 订单号, 商品编号,
  商品名称, 商家首次处理时间, 审核时间, 退款金额, 客户期望, 一级申请原因, 售后申请时间, 服务单状态), the customer's columns
  as the after-sales API names them (客户账号, 客户姓名, 联系电话, 问题描述), under a row of group titles (申请信息 …);
- Douyin 抖店 售后表: the 50 columns of a public configuration measured on a real workbook.
Every value is made up. Numbers are written as the back offices write them: ="…" or after a tab.
"""

from __future__ import annotations

import csv
import io

import openpyxl

TAOBAO_OLD = ["订单编号", "退款编号", "支付宝交易号", "订单付款时间", "商品编码", "退款完结时间", "买家会员名称", "买家实际支付金额",
              "宝贝标题", "买家退款金额", "手工退款/系统退款", "是否需要退货", "退款的申请时间", "超时时间", "退款状态", "货物状态",
              "退货物流信息", "发货物流信息", "客服介入状态", "卖家真实姓名", "卖家退货地址", "卖家邮编", "卖家电话", "卖家手机",
              "退货物流单号", "退货物流公司", "买家退款原因", "买家退款说明", "买家退货时间", "责任方", "售中或售后", "商家备注",
              "完结时间", "部分退款/全部退款", "审核操作人", "举证超时", "是否零秒响应", "退款操作人"]
TAOBAO_NEW = ["订单编号", "退款编号", "支付宝交易号", "订单付款时间", "商品编码", "退款完结时间", "买家实际支付金额", "宝贝标题",
              "买家退款金额", "手工退款/系统退款", "是否需要退货", "退款的申请时间", "超时时间", "退款状态", "货物状态", "退货物流信息",
              "发货物流信息", "客服介入状态", "卖家真实姓名", "卖家真实姓名新", "卖家退货地址", "卖家邮编", "卖家电话", "卖家手机",
              "退货物流单号", "退货物流公司", "买家退款原因", "买家退款说明", "买家退货时间", "责任方", "售中或售后", "商家备注",
              "完结时间", "部分退款/全部退款", "审核操作人", "举证超时", "是否零秒响应", "退款操作人", "退款原因标签", "业务类型",
              "是否帮他退款", "帮他退款操作账号"]
JD_GROUPS = ["申请信息", "", "", "", "", "", "订单信息", "", "", "", "处理信息", "", "", "", ""]
JD = ["服务单号", "订单号", "客户账号", "客户姓名", "联系电话", "售后申请时间", "商品编号", "商品名称", "客户期望", "退款金额",
      "一级申请原因", "问题描述", "商家首次处理时间", "审核时间", "服务单状态"]
DOUYIN = ["售后单号", "订单号", "商品单号", "商品名称", "商品ID", "应付金额（元）", "商品运费（元）", "支付优惠（元）", "商品税费（元）",
          "商品发货状态", "售后类型", "退商品金额（元）", "退运费金额（元）", "退支付优惠（元）", "退税费金额（元）", "售后状态",
          "售后申请时间", "退款方式", "是否已上传退款凭证", "售后原因", "售后原因标签", "退货物流单号", "退货异常", "退货发货时间",
          "退货物流公司", "自动处理截止时间", "同意售后申请时间", "商家退款时间", "用户到账时间", "售后关闭时间", "商家退货地址",
          "商家退货联系人姓名", "商家退货联系人电话", "仲裁状态", "纠纷责任方", "是否极速退款", "是否拒签后退款", "发货物流单号",
          "发货物流状态", "换货物流单号", "退货物流状态", "售后完结时间", "订单备注", "用户售后说明", "售后备注", "操作人", "协商记录",
          "换货商品信息", "商家编码", "门店名称"]

# What a cell holds when a test does not say: plausible, and read by nothing the tests check.
FILLER = {"宝贝标题": "虚构商品 加湿器", "商品名称": "虚构商品 加湿器", "卖家真实姓名": "虚构店主", "卖家退货地址": "虚构市虚构路1号",
          "手工退款/系统退款": "系统退款", "售中或售后": "售后", "部分退款/全部退款": "全部退款", "是否零秒响应": "否",
          "货物状态": "买家已收到货", "客服介入状态": "不需客服介入", "退款方式": "原路退回", "是否极速退款": "否"}


def row_of(header: list[str], values: dict) -> list[str]:
    return [values.get(name, FILLER.get(name, "")) for name in header]


def excel_text(number: str) -> str:
    """How the Tmall export keeps a long number from Excel: an Excel text formula."""
    return f'="{number}"'


def tabbed(value: str) -> str:
    """How Douyin and JD exports keep one: a leading tab."""
    return f"\t{value}"


def csv_file(rows: list[list[str]], encoding: str = "gbk") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_file(rows: list[list[str]]) -> bytes:
    """A workbook whose cells are all text, as the back offices' XLSX exports are."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Sheet1"
    for row in rows:
        sheet.append(row)
    for row in sheet.iter_rows():
        for cell in row:
            if cell.value is not None:
                cell.data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
