"""Importing a marketplace's after-sales export: read the file, plan every row, apply all or nothing.

Plain functions with no request in them. The flow a view follows:

    table = spreadsheets.read_table(data, filename)        # CSV or XLSX -> headers and rows
    plan = plan_import(table, platform=..., shops=..., now=..., zone=...)
    if plan.ready:
        apply_import(plan, actor, rules, now, source={...})  # then commit: one transaction

Row numbers are the ones the user sees in Excel (the header is row 1). Every refusal
says why in plain words; one refused row means nothing is imported. A row's key is
(platform, platform case id) when it has one, else (platform, order number, kind):
importing the same file twice creates and changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

import spreadsheets
from cases import flow
from cases import platform as platform_reports
from cases.labels import CASE_CATEGORIES, CASE_KINDS, CASE_STATES, FLAGS, PRIORITIES
from models import PLATFORMS, Case, Shop, User, db, record
from platforms import exports, statuses
from spreadsheets import (
    CREATE,
    UNCHANGED,
    UPDATE,
    CellError,
    Columns,
    FieldSpec,
    ImportTable,
    PlanNotReady,
    RowPlan,
    cell_text,
    choice_table,
    clean_text,
    normalise,
    parse_amount,
    parse_choice,
    parse_datetime,
    parse_identifier,
    parse_phone,
    quote,
)

FUTURE_SLACK = timedelta(days=1)        # clocks differ; a request "from tomorrow" is a typo
DEADLINE_HORIZON = timedelta(days=366)
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")
SUMMARY_LIMIT = 500
YES = frozenset(normalise(word) for word in ("是", "需要", "需要退货", "Y", "yes", "true", "1"))
NO = frozenset(normalise(word) for word in ("否", "不需要", "无需退货", "不需要退货", "N", "no", "false", "0"))
REQUIRED = ("order_no", "buyer_nick", "kind", "shop")  # buyer_nick and kind may be spared: see required_fields
KEY_FIELDS = ("order_no", "platform_case_id", "buyer_nick", "kind", "platform_status", "shop")  # the preview's columns


# --- our fields and the column names that mean them ------------------------------------

FIELDS: dict[str, FieldSpec] = {spec.name: spec for spec in (
    FieldSpec("order_no", "订单号", _l("Order no."),
              ("订单编号", "订单ID", "主订单编号", "主订单号", "原始订单号", "京东订单号", "订单", "order_no", "order no", "order id")),
    FieldSpec("platform_case_id", "售后单号", _l("Platform case no."),
              ("退款编号", "售后编号", "服务单号", "服务单编号", "退款单号", "售后单ID", "售后ID", "退款ID", "退款单编号",
               "platform_case_id", "refund id", "case id")),
    FieldSpec("buyer_nick", "买家昵称", _l("Buyer nickname"),
              ("买家会员名称", "买家会员名", "用户昵称", "买家账号", "买家用户名", "客户昵称", "用户账号", "用户名", "买家", "buyer_nick", "buyer")),
    FieldSpec("buyer_phone", "手机号", _l("Buyer phone"),
              ("联系电话", "收货人手机", "收货人电话", "收货人手机号", "买家手机号", "手机", "联系手机", "联系方式", "buyer_phone", "phone")),
    FieldSpec("kind", "售后类型", _l("Case kind"),
              ("退款类型", "服务类型", "售后方式", "工单类型", "申请类型", "kind", "type")),
    FieldSpec("needs_return", "是否需要退货", _l("Goods to be returned"),
              ("是否退货", "需要退货", "needs_return")),
    FieldSpec("category", "问题类型", _l("Problem category"),
              ("问题分类", "问题类别", "category")),
    FieldSpec("priority", "优先级", _l("Priority"),
              ("紧急程度", "紧急度", "priority")),
    FieldSpec("order_amount", "订单金额", _l("Order amount"),
              ("买家实际支付金额", "实付金额", "买家实付", "实付款", "订单实付金额", "支付金额", "order_amount")),
    FieldSpec("refund_amount", "退款金额", _l("Refund amount"),
              ("买家退款金额", "申请退款金额", "退款申请金额", "买家申请退款金额", "refund_amount")),
    FieldSpec("received_at", "申请时间", _l("Received at"),
              ("退款的申请时间", "创建时间", "退款申请时间", "售后申请时间", "申请日期", "发起时间", "提交时间", "received_at")),
    FieldSpec("platform_deadline_at", "超时时间", _l("Platform deadline"),
              ("平台处理截止时间", "处理截止时间", "截止时间", "超时截止时间", "platform_deadline_at", "deadline")),
    FieldSpec("summary", "问题描述", _l("Summary"),
              ("问题说明", "买家留言", "备注", "summary")),
    FieldSpec("reason", "退款原因", _l("Buyer's reason"),
              ("买家退款原因", "售后原因", "申请原因", "退货原因", "reason")),
    FieldSpec("explanation", "退款说明", _l("Buyer's explanation"),
              ("买家退款说明", "申请说明", "售后说明", "申请描述", "explanation")),
    FieldSpec("platform_status", "退款状态", _l("Platform status"),
              ("售后状态", "服务单状态", "售后单状态", "platform_status", "status")),
    FieldSpec("platform_goods_status", "货物状态", _l("Goods status on the platform"),
              ("商品状态", "收货状态", "platform_goods_status")),
    FieldSpec("platform_intervention", "客服介入状态", _l("Platform intervention"),
              ("平台介入状态", "介入状态", "仲裁状态", "platform_intervention")),
    FieldSpec("flag", "旗帜", _l("Flag"),
              ("插旗", "旗帜颜色", "卖家旗帜", "flag")),
    FieldSpec("flag_note", "插旗备注", _l("Flag note"),
              ("卖家备注", "旗帜备注", "商家备注", "flag_note")),
    FieldSpec("shop", "店铺", _l("Shop"),
              ("店铺名称", "店铺名", "店铺名字", "shop")),
)}

TEMPLATE_FIELDS = ("order_no", "platform_case_id", "buyer_nick", "buyer_phone", "kind", "category", "priority", "order_amount",
                   "refund_amount", "received_at", "platform_deadline_at", "summary", "flag", "flag_note", "shop")
# One example row for the template: clearly fake, and refused if imported unchanged (no such shop).
TEMPLATE_EXAMPLE = {
    "order_no": "示例-0000000001",
    "platform_case_id": "示例-售后-0001",
    "buyer_nick": "示例买家（请删除本行）",
    "buyer_phone": "13800000000",
    "kind": "退货退款",
    "category": "到货破损",
    "priority": "P1",
    "order_amount": "199.00",
    "refund_amount": "199.00",
    "received_at": "2026-01-05 10:30",
    "platform_deadline_at": "2026-01-07 10:30",
    "summary": "示例：外箱压坏，机身右侧有划痕（虚构数据）",
    "flag": "红",
    "flag_note": "示例备注",
    "shop": "示例店铺（改为你的店铺名称）",
}

# Chinese names of our kinds and categories as the marketplaces and agents write them.
# The zh catalogue's labels are accepted too; this table does not depend on its wording.
# The marketplaces' own words: 抖店's 售后类型 (仅退款 as 未发货退款/已发货退款, 补寄, 维修, 价保) and JD's 客户期望
# (customerExpect: 售前退款, 退货, 仅退款, 换货, 维修, 大家电安装, 上门维修, 补发商品 …), as platforms/exports.py cites.
KIND_SYNONYMS = {
    "refund_only": ("仅退款", "退款", "未发货仅退款", "已发货仅退款", "未收到货仅退款", "退款不退货", "未发货退款", "已发货退款",
                    "未收货退款", "已收货退款", "售前退款"),
    "return_refund": ("退货退款", "退货", "退货退款申请"),
    "exchange": ("换货", "换新"),
    "reship": ("补发", "补寄", "补发商品", "补发配件", "补发新品"),
    "compensation": ("补偿", "赔偿", "赔付", "补差价", "仅补偿", "价保"),
    "install_repair": ("安装/维修", "安装维修", "安装", "维修", "上门安装", "返修", "上门维修", "大家电安装", "大家电移机"),
    "complaint": ("投诉", "维权", "投诉维权"),
    "dispute": ("平台纠纷", "纠纷", "平台介入", "小二介入", "仲裁"),
    "inquiry": ("咨询", "售前咨询", "问询", "催发货"),
}
CATEGORY_SYNONYMS = {
    "install": ("安装/拆卸", "安装拆卸", "安装", "拆卸", "移机", "安装问题"),
    "missing_whole": ("少件:整机", "少件-整机", "漏发整机", "整机漏发", "少发整件", "漏发"),
    "missing_accessory": ("少件:配件", "少件-配件", "少配件", "漏发配件", "缺配件", "配件缺失", "少件"),
    "extra_item": ("多发", "多发货", "多发商品"),
    "wrong_whole": ("错发:整机", "错发-整机", "错发整机", "发错货", "错发"),
    "wrong_accessory": ("错发:配件", "错发-配件", "错发配件", "配件发错"),
    "damaged_on_arrival": ("到货破损", "到货损坏", "破损", "到货划痕", "外观破损", "磕碰", "运输破损"),
    "fault_in_use": ("使用中划痕/故障", "使用故障", "故障", "质量问题", "使用中划痕"),
    "size_differs": ("尺寸不符", "尺寸与页面不符", "大小不符", "尺码不符"),
    "function_not_expected": ("功能不符", "功能与预期不符", "效果不好", "描述不符", "与描述不符"),
    "service": ("服务体验", "服务态度", "服务问题"),
    "logistics": ("物流", "物流问题", "快递问题", "物流延迟", "物流停滞", "快递丢件", "未收到货"),
    "bad_review_threat": ("差评威胁", "威胁差评"),
    "seven_day_return": ("7天无理由", "七天无理由", "7天无理由退货", "七天无理由退货", "七天无理由退换货", "不想要了"),
    "payment_refund": ("付款/退款未到账", "退款未到账", "付款问题", "未收到退款"),
    "platform_dispute": ("平台介入纠纷", "平台介入", "小二介入", "纠纷"),
    "other": ("其他", "其它"),
}
PRIORITY_SYNONYMS = {
    0: ("P0", "紧急", "特急", "urgent"),
    1: ("P1", "高", "重要", "high"),
    2: ("P2", "普通", "一般", "中", "normal"),
    3: ("P3", "低", "low"),
}
FLAG_SYNONYMS = {
    "red": ("红", "红旗", "红色"),
    "yellow": ("黄", "黄旗", "黄色"),
    "green": ("绿", "绿旗", "绿色"),
    "blue": ("蓝", "蓝旗", "蓝色"),
    "purple": ("紫", "紫旗", "紫色"),
}
NO_FLAG = ("无", "灰", "灰旗", "none", "no flag")  # the back office's grey flag means no flag


def field_title(name: str) -> str:
    return spreadsheets.field_title(FIELDS[_field(name)])


def header_aliases() -> dict[str, tuple[str, ...]]:
    return spreadsheets.header_aliases(FIELDS)


recognised_header = exports.recognised  # spreadsheets.read_table's header_test: a header under group titles
PRESETS = exports.PRESETS  # the exports recognised without a mapping, as the upload page lists them


def preset_aliases(preset: exports.Preset | None) -> dict[str, tuple[str, ...]]:
    """Every field's recognised column names, the preset's own names first."""
    aliases = header_aliases()
    if preset is not None:
        claimed = {normalise(header): name for name, names in preset.columns.items() for header in names}
        for name in aliases:  # a column the preset gives one field is no other field's (JD's 问题描述 is not our summary)
            aliases[name] = tuple(alias for alias in aliases[name] if claimed.get(normalise(alias), name) == name)
        for name, names in preset.columns.items():
            aliases[name] = tuple(dict.fromkeys((*names, *aliases[name])))
    return aliases


def required_fields(headers: list[str], aliases: dict, mapping: dict | None, has_default_shop: bool) -> list[str]:
    """REQUIRED, less what this file does not need: the shop when one is chosen for the whole file; the buyer's
    nickname when rows are keyed by the platform's case number (the newer Tmall export has no nickname); the
    kind when the file says whether goods go back (是否需要退货)."""
    found = spreadsheets.resolve_columns(headers, aliases, (), mapping).index
    spared = {"shop"} if has_default_shop else set()
    if "platform_case_id" in found:
        spared.add("buyer_nick")
    if "needs_return" in found:
        spared.add("kind")
    return [name for name in REQUIRED if name not in spared]


def resolve_columns(headers: list[str], mapping: dict | None = None, *, has_default_shop: bool = False) -> Columns:
    """The file's columns for our fields: a saved mapping first, then the recognised export's (preset's) names,
    then every platform's usual names."""
    aliases = preset_aliases(exports.detect(headers))
    required = required_fields(headers, aliases, mapping, has_default_shop)
    return spreadsheets.resolve_columns(headers, aliases, required, mapping)


@dataclass
class Vocabulary:
    """Accepted cell values of the choice fields, normalised text -> our key."""

    kinds: dict
    categories: dict
    priorities: dict
    flags: dict

    @classmethod
    def build(cls) -> Vocabulary:
        priority_extra = [(str(p), p) for p in PRIORITIES] + [(f"P{p}", p) for p in PRIORITIES]
        priority_extra += [(text, p) for p, texts in PRIORITY_SYNONYMS.items() for text in texts]
        flag_extra = [(text, None) for text in NO_FLAG]
        return cls(
            kinds=choice_table(CASE_KINDS, KIND_SYNONYMS),
            categories=choice_table(CASE_CATEGORIES, CATEGORY_SYNONYMS),
            priorities=choice_table(PRIORITIES, {}, priority_extra),
            flags=choice_table(FLAGS, FLAG_SYNONYMS, flag_extra),
        )


# --- the plan ------------------------------------------------------------------------------

@dataclass
class ImportPlan(spreadsheets.ImportPlan):
    platform: str = ""
    default_shop_id: int | None = None
    shop_names: dict = field(default_factory=dict)  # shop id -> name, for showing values
    preset: exports.Preset | None = None            # the export the headers were recognised as


def find_existing_cases(platform: str, case_ids: set[str], order_nos: set[str]) -> list[Case]:
    """The cases a file's rows may match: by platform case id, and by order number (kind checked after)."""
    found: dict[int, Case] = {}
    for column, keys in ((Case.platform_case_id, sorted(case_ids)), (Case.order_no, sorted(order_nos))):
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            for case in db.session.scalars(sa.select(Case).where(Case.platform == platform, column.in_(chunk))):
                found[case.id] = case
    return list(found.values())


def plan_import(table: ImportTable, *, platform: str, shops: Iterable[Shop], now: datetime,
                zone: ZoneInfo = DEFAULT_ZONE, default_shop_id: int | None = None, mapping: dict | None = None,
                find_existing: Callable[[str, set, set], list] | None = None) -> ImportPlan:
    """Decide, for every row, create / update / unchanged / refused, and why. Writes nothing.

    ``shops`` are all the shops (a row naming a shop of another platform is refused);
    ``find_existing`` is find_existing_cases unless a test gives another.
    """
    shops = list(shops)
    shop_names = {shop.id: shop.name for shop in shops}
    columns = resolve_columns(table.headers, mapping, has_default_shop=default_shop_id is not None)
    preset = exports.detect(table.headers)
    plan = ImportPlan(table, columns, [], spreadsheets.missing_columns(columns, FIELDS),
                      spreadsheets.column_warnings(table, columns, mapping, field_title),
                      platform=platform, default_shop_id=default_shop_id, shop_names=shop_names, preset=preset)
    if preset is not None and preset.family != statuses.FAMILY.get(platform, platform):
        plan.problems.append(_("This file is a %(export)s, but the import is for %(platform)s: choose the platform "
                               "the file comes from.", export=preset.title, platform=PLATFORMS.get(platform, platform)))
    if plan.problems:
        return plan

    vocabulary = Vocabulary.build()
    context = _RowContext(platform, shops, default_shop_id, now, zone, vocabulary)
    plan.rows = [_parse_row(number, cells, columns, context) for number, cells in table.rows]
    spreadsheets.refuse_repeated_keys(plan.rows, ROW_KEYS)
    find_existing = find_existing or find_existing_cases
    keyed = [row for row in plan.rows if "order_no" in row.values and "kind" in row.values]
    existing = find_existing(platform, {row.values["platform_case_id"] for row in keyed if row.values.get("platform_case_id")},
                             {row.values["order_no"] for row in keyed})
    _match_existing(plan.rows, existing)
    return plan


@dataclass
class _RowContext:
    platform: str
    shops: list
    default_shop_id: int | None
    now: datetime
    zone: ZoneInfo
    vocabulary: Vocabulary

    def __post_init__(self):
        self.shops_by_name = {normalise(shop.name): shop for shop in self.shops}
        self.kind_hint = "、".join(KIND_SYNONYMS[key][0] for key in CASE_KINDS)
        self.category_hint = "、".join(CATEGORY_SYNONYMS[key][0] for key in CASE_CATEGORIES)


def _parse_row(number: int, cells: list, columns: Columns, context: _RowContext) -> RowPlan:
    row = spreadsheets.read_row(number, cells, columns, lambda name, value, row: _parse_value(name, value, row, context))
    if not row.cells.get("order_no"):
        row.refuse(_("%(column)s is empty.", column=columns.header["order_no"]))
    if "buyer_nick" in columns.header and "platform_case_id" not in columns.header and not row.cells.get("buyer_nick"):
        row.refuse(_("%(column)s is empty.", column=columns.header["buyer_nick"]))  # rows are keyed by nothing better
    _derive(row, columns, context)
    if "shop" not in row.values and not row.cells.get("shop"):
        if context.default_shop_id is None:
            row.refuse(_("No shop: fill in the shop column or choose a shop for the whole file."))
        else:
            row.values["shop"] = context.default_shop_id
    received = row.values.get("received_at")
    if received is not None and received > context.now + FUTURE_SLACK:
        row.refuse(_("%(column)s: more than a day in the future.", column=columns.header["received_at"]))
    deadline = row.values.get("platform_deadline_at")
    if deadline is not None:
        if deadline > context.now + DEADLINE_HORIZON:
            row.refuse(_("%(column)s: more than a year in the future.", column=columns.header["platform_deadline_at"]))
        elif received is not None and deadline < received:
            row.refuse(_("%(column)s is earlier than %(other)s.", column=columns.header["platform_deadline_at"],
                         other=columns.header["received_at"]))
    return row


def _derive(row: RowPlan, columns: Columns, context: _RowContext) -> None:
    """The kind from 是否需要退货, the summary from the buyer's reason and explanation, the platform's status
    from its words (its intervention first while it lasts): what the export says in its own way."""
    values = row.values
    needs_return = values.pop("needs_return", None)
    if "kind" not in values and not row.cells.get("kind"):
        if needs_return is not None:
            values["kind"] = "return_refund" if needs_return else "refund_only"
        elif not row.cells.get("needs_return"):
            row.refuse(_("%(column)s is empty.", column=columns.header.get("kind") or columns.header.get("needs_return")
                         or field_title("kind")))
    reason, explanation = values.pop("reason", ""), values.pop("explanation", "")
    if "summary" not in values and not row.cells.get("summary") and (reason or explanation):
        text = "：".join(part for part in (reason, explanation) if part)
        values["summary"], shortened = clean_text(text, SUMMARY_LIMIT, single_line=False)
        if shortened:
            row.notes.append(_("%(field)s was shortened to %(max)s characters.", field=field_title("summary"),
                               max=SUMMARY_LIMIT))
    if "platform_status" in values:
        text = values.pop("platform_status")
        status = statuses.status_of(context.platform, text)
        if status is None:
            row.notes.append(_("The platform status “%(status)s” is not one we know: it is kept as written and "
                               "moves nothing.", status=text))
        values["platform_status"], values["platform_status_text"] = status, text
    if statuses.intervening(context.platform, values.get("platform_intervention")) \
            and values.get("platform_status") not in statuses.FINAL:
        values["platform_status"] = statuses.INTERVENING
        values.setdefault("platform_status_text", "")


def _parse_yes_no(value) -> bool:
    key = normalise(cell_text(value))
    if key in YES:
        return True
    if key in NO:
        return False
    raise CellError(_l("“%(value)s” is not one of: %(choices)s.", value=quote(value), choices="是、否"))


def _parse_value(name: str, value, row: RowPlan, context: _RowContext):
    vocabulary = context.vocabulary
    if name in ("order_no", "platform_case_id"):
        return parse_identifier(value)
    if name == "buyer_nick":
        text, shortened = clean_text(value, 10_000)
        if len(text) > 64:
            raise CellError(_l("Longer than %(max)s characters.", max=64))
        return text
    if name == "buyer_phone":
        phone = parse_phone(value)
        if phone is spreadsheets.SKIP:
            row.notes.append(_("The phone number is masked in the file and was not imported."))
        return phone
    if name == "kind":
        return parse_choice(value, vocabulary.kinds, context.kind_hint)
    if name == "category":
        return parse_choice(value, vocabulary.categories, context.category_hint)
    if name == "priority":
        if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer():
            value = int(value)
        return parse_choice(value, vocabulary.priorities, "P0、P1、P2、P3")
    if name == "flag":
        return parse_choice(value, vocabulary.flags, "红、黄、绿、蓝、紫、无")
    if name in ("order_amount", "refund_amount"):
        return parse_amount(value)
    if name in ("received_at", "platform_deadline_at"):
        return parse_datetime(value, context.zone)
    if name == "needs_return":
        return _parse_yes_no(value)
    if name in ("platform_status", "platform_goods_status", "platform_intervention"):
        return clean_text(value, 64 if name == "platform_status" else 32)[0]
    if name in ("summary", "flag_note", "reason", "explanation"):
        limit = 200 if name == "flag_note" else SUMMARY_LIMIT
        text, shortened = clean_text(value, limit, single_line=name == "flag_note")
        if shortened and name in ("summary", "flag_note"):
            row.notes.append(_("%(field)s was shortened to %(max)s characters.", field=field_title(name), max=limit))
        return text
    if name == "shop":
        shop = context.shops_by_name.get(normalise(cell_text(value)))
        if shop is None:
            raise CellError(_l("There is no shop named “%(name)s”.", name=quote(value)))
        if shop.platform != context.platform:
            raise CellError(_l("“%(name)s” is a shop on another platform.", name=shop.name))
        if not shop.active:
            raise CellError(_l("The shop “%(name)s” is deactivated.", name=shop.name))
        return shop.id
    raise KeyError(name)


def _order_key(row: RowPlan) -> tuple | None:
    order = (row.values.get("order_no"), row.values.get("kind"))
    return None if None in order else order


ROW_KEYS = spreadsheets.RowKeys(
    id_of=lambda row: row.values.get("platform_case_id"),
    key_of=_order_key,
    stored_id_of=lambda case: case.platform_case_id,
    same_id=lambda first: _("The same platform case no. as row %(row)s.", row=first),
    same_key_without_id=lambda first: _("The same order no. and case kind as row %(row)s, which has no platform case no.",
                                        row=first),
    same_key=lambda first: _("The same order no. and case kind as row %(row)s; add the platform case no. "
                             "to tell them apart.", row=first),
    ambiguous=lambda count: _("%(count)s cases already exist for this order no. and case kind; add the platform case no. "
                              "to choose one.", count=count),
    matched_twice=lambda first, reference: _("Row %(row)s already matches the same case %(case)s.", row=first,
                                             case=reference),
)


def _match_existing(rows: list[RowPlan], existing: list) -> None:
    by_case_id = {case.platform_case_id: case for case in existing if case.platform_case_id}
    by_order: dict[tuple, list] = {}
    for case in existing:
        by_order.setdefault((case.order_no, case.kind), []).append(case)
    for row, case in spreadsheets.matched_rows(rows, ROW_KEYS, by_case_id, by_order):
        outcome = platform_reports.changes_of(case, report_of(row))
        row.changes = {_field(name): change for name, change in outcome.changes.items()
                       if not (name == "platform_status_text" and "platform_status" in outcome.changes)}
        for conflict in outcome.conflicts:
            row.notes.append(_conflict_note(conflict))
        row.action = UPDATE if outcome else UNCHANGED


def _conflict_note(conflict: dict) -> str:
    if conflict["field"] == "state":
        return _("The case is already %(state)s in the app and stays so; the platform's “%(status)s” is shown "
                 "on the case for a person to decide.", state=str(CASE_STATES.get(conflict["ours"], conflict["ours"])),
                 status=str(statuses.STATUSES.get(conflict["platform"], conflict["platform"])))
    return _("%(field)s stays as a person set it in the app; the file's value is shown on the case for a person "
             "to decide.", field=field_title(conflict["field"]))


def _attribute(name: str) -> str:
    return "shop_id" if name == "shop" else name


def _field(attribute: str) -> str:
    return {"shop_id": "shop", "platform_status_text": "platform_status"}.get(attribute, attribute)


def report_of(row: RowPlan) -> dict:
    """A row as the platform's report on a case (cases/platform.py): Case attribute names."""
    return {_attribute(name): value for name, value in row.values.items()}


def new_case_values(row: RowPlan, platform: str) -> dict:
    """What flow.create_case needs for a row to create; unset fields take the model's defaults."""
    values = report_of(row)
    values["platform"] = platform
    values.setdefault("category", "other")
    values.setdefault("priority", 2)
    values.setdefault("summary", "")
    values.setdefault("buyer_nick", "")  # the newer Tmall and the Douyin exports have no buyer name
    values.setdefault("flag_note", "")
    values.setdefault("order_amount", Decimal("0"))
    return values


def format_value(name: str, value, zone: ZoneInfo, shop_names: dict | None = None) -> str:
    """A parsed value as the preview shows it: labels for keys, the shop's name, local time."""
    if value is None or value == "":
        return "—"
    if name == "kind":
        return str(CASE_KINDS.get(value, value))
    if name == "category":
        return str(CASE_CATEGORIES.get(value, value))
    if name == "priority":
        return str(PRIORITIES.get(value, value))
    if name == "flag":
        return str(FLAGS.get(value, value))
    if name == "platform_status":
        return str(statuses.STATUSES.get(value, value))
    if name == "shop":
        return (shop_names or {}).get(value, str(value))
    if name == "buyer_phone":
        return flow.mask_phone(value)
    if isinstance(value, datetime):
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return str(value)


# --- applying ----------------------------------------------------------------------------------

@dataclass
class ImportResult:
    created: list[int]
    updated: list[int]
    unchanged: int


def apply_import(plan: ImportPlan, actor: User, rules, now: datetime, *, source: dict | None = None) -> ImportResult:
    """Create and update every case of a ready plan in the current transaction; the caller commits.

    Each case gets its own timeline event and deadlines (caseflow); the import as a whole
    gets one event (subject "import") saying who imported which file and what it did.
    """
    if not plan.ready:
        raise PlanNotReady("the plan has refused rows or nothing to do")
    result = apply_rows(plan.rows, plan.platform, actor, rules, now, via="import")
    record(actor, "import", 0, "imported", platform=plan.platform, shop_id=plan.default_shop_id,
           file=plan.table.filename, rows=len(plan.rows), created=len(result.created), updated=len(result.updated),
           unchanged=result.unchanged, created_ids=result.created, updated_ids=result.updated, **(source or {}))
    db.session.flush()
    return result


def apply_rows(rows: list[RowPlan], platform: str, actor: User | None, rules, now: datetime, *, via: str) -> ImportResult:
    """Create and update the cases of planned rows (refused ones are left out) in the current transaction:
    the import's confirm applies a whole file, sync (sync/runner.py) a page of records."""
    created, updated, unchanged = [], [], 0
    shops = {shop.id: shop for shop in db.session.scalars(sa.select(Shop))}  # once, not a lookup and flush per row
    for row in rows:
        if row.action == CREATE:
            values = new_case_values(row, platform)
            values["shop"] = shops[values["shop_id"]]
            case = flow.create_case(values, actor, rules, now, via=via)
            platform_reports.created(case, actor, rules, now, via=via)
            created.append(case.id)
        elif row.action == UPDATE:
            platform_reports.apply(row.existing, report_of(row), actor, rules, now, via=via)
            updated.append(row.existing.id)
        elif row.action == UNCHANGED:
            unchanged += 1
    return ImportResult(created, updated, unchanged)


# --- the template -----------------------------------------------------------------------------

def template_rows() -> list[list[str]]:
    """The documented template: our Chinese column names and one clearly fake example row."""
    return [[FIELDS[name].header_zh for name in TEMPLATE_FIELDS], [TEMPLATE_EXAMPLE[name] for name in TEMPLATE_FIELDS]]
