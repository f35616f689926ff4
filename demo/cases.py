"""Demo after-sales cases: each case gets a *plan*, the steps people took on it and when
(start, first reply, routed to the warehouse, return received, refund, resolved,
closed with cause and responsibility, followed up …), cut short for the cases that
are still open. A small demo replays every plan through ``cases.flow``, so its
timeline reads as if the team had worked the cases; a large one (more than
``BULK_ABOVE`` cases) folds each plan into the row and inserts in batches with only
the "created" event, so 100,000 cases load in minutes on SQLite. Both ways store the
nearest deadline computed by the real SLA rules at the moment of loading, and
tests/cases/test_demo_and_queries.py checks that the two ways produce the same cases.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

import sqlalchemy as sa
from flask import current_app

from cases import flow, sla
from cases.labels import INTERVENTION_CATEGORIES, INTERVENTION_KINDS, OUTCOME_KINDS
from demo.accounts import SHOPS
from models import CENT, Case, Shop, Team, TimelineEvent, User, db

BULK_ABOVE = 2000   # more cases than this: bulk insert, only the "created" event
BATCH_SIZE = 2000   # rows per insert and commit in bulk mode

# --- what the shop sells -------------------------------------------------------------

# name, line, price points in yuan, needs installing
PRODUCTS = [
    ("实木餐桌", "furniture", (1299, 1899, 2599, 3699), True),
    ("布艺沙发", "furniture", (2499, 3999, 5899, 8999), True),
    ("人体工学椅", "furniture", (399, 599, 899), True),
    ("床头柜", "furniture", (199, 299, 459), True),
    ("推拉门衣柜", "furniture", (1599, 2999, 4599), True),
    ("儿童书桌", "furniture", (459, 799, 1199), True),
    ("电热水器", "appliance", (899, 1299, 1999, 2999), True),
    ("吸油烟机", "appliance", (1599, 2699, 4599), True),
    ("洗碗机", "appliance", (2999, 3999, 5499), True),
    ("空气炸锅", "appliance", (199, 299, 459), False),
    ("扫地机器人", "appliance", (1299, 1999, 3299), False),
    ("落地扇", "appliance", (129, 199, 299), False),
    ("羽绒服", "clothes", (399, 699, 1299), False),
    ("牛仔裤", "clothes", (99, 159, 239), False),
    ("纯棉T恤", "clothes", (39, 59, 89), False),
    ("连衣裙", "clothes", (159, 259, 399), False),
    ("运动鞋", "clothes", (199, 329, 599), False),
]

# Which products a problem can concern (None: any).
CATEGORY_LINES = {
    "install": "installable",
    "missing_accessory": ("furniture", "appliance"),
    "wrong_accessory": ("furniture", "appliance"),
    "damaged_on_arrival": ("furniture", "appliance"),
    "fault_in_use": ("furniture", "appliance"),
    "size_differs": ("furniture", "clothes"),
    "function_not_expected": ("appliance",),
}

# How often each problem comes up, roughly as in a furniture/appliance/clothing shop.
CATEGORY_WEIGHTS = {
    "install": 7, "missing_whole": 3, "missing_accessory": 8, "extra_item": 1, "wrong_whole": 4,
    "wrong_accessory": 3, "damaged_on_arrival": 12, "fault_in_use": 6, "size_differs": 7,
    "function_not_expected": 5, "service": 4, "logistics": 14, "bad_review_threat": 4,
    "seven_day_return": 12, "payment_refund": 4, "platform_dispute": 2, "other": 4,
}

# The kinds of case a problem leads to, with weights. The first kinds together cover every kind.
CATEGORY_KINDS = {
    "install": (("install_repair", 8), ("complaint", 1), ("inquiry", 2)),
    "missing_whole": (("refund_only", 3), ("reship", 5), ("inquiry", 2)),
    "missing_accessory": (("reship", 8), ("compensation", 2)),
    "extra_item": (("inquiry", 1),),
    "wrong_whole": (("exchange", 5), ("return_refund", 3)),
    "wrong_accessory": (("reship", 1),),
    "damaged_on_arrival": (("compensation", 5), ("exchange", 3), ("return_refund", 2), ("refund_only", 2)),
    "fault_in_use": (("install_repair", 4), ("compensation", 2), ("exchange", 2)),
    "size_differs": (("return_refund", 5), ("exchange", 4), ("compensation", 1)),
    "function_not_expected": (("complaint", 1), ("return_refund", 3), ("compensation", 1)),
    "service": (("complaint", 1),),
    "logistics": (("inquiry", 6), ("refund_only", 2), ("reship", 1)),
    "bad_review_threat": (("compensation", 3), ("complaint", 1)),
    "seven_day_return": (("return_refund", 1),),
    "payment_refund": (("refund_only", 2), ("inquiry", 2), ("complaint", 1)),
    "platform_dispute": (("dispute", 1),),
    "other": (("inquiry", 1),),
}

# The first open cases cover every category and kind, and every open state, whatever the seed.
COVERAGE_STATES = {
    "install": "waiting:third_party",
    "missing_whole": "new",
    "missing_accessory": "waiting:buyer",
    "wrong_whole": "waiting:warehouse",
    "damaged_on_arrival": "in_progress",
    "size_differs": "resolved",
    "platform_dispute": "waiting:platform",
}

# (category, kind, target state) of the first open cases: every category, every kind, every open state.
COVERAGE = [(category, kinds[0][0], COVERAGE_STATES.get(category)) for category, kinds in CATEGORY_KINDS.items()]

# Problems where the procedure starts by asking the buyer for photos.
PHOTO_CATEGORIES = {"missing_accessory", "wrong_whole", "wrong_accessory", "damaged_on_arrival", "fault_in_use",
                    "size_differs", "function_not_expected", "missing_whole"}

# Which team a problem is routed to (team function; the name comes from the database).
ROUTE_FUNCTION = {
    "install": "installer", "missing_whole": "warehouse", "missing_accessory": "warehouse", "extra_item": "warehouse",
    "wrong_whole": "warehouse", "wrong_accessory": "warehouse", "damaged_on_arrival": "qc",
    "fault_in_use": "tech_support", "size_differs": "operations", "function_not_expected": "qc",
    "logistics": "logistics", "seven_day_return": "warehouse", "payment_refund": "finance", "other": "finance",
}
TEAM_FALLBACK_NAMES = {"warehouse": "仓库", "logistics": "物流", "installer": "安装服务商", "qc": "品控",
                       "tech_support": "技术支持", "operations": "运营", "finance": "财务"}

# What the buyer says, in a line, per problem; {p} is the product. A tuple names the product lines it fits.
SUMMARIES = {
    "install": ("{p}到货后约了安装师傅，两天了还没上门，买家在催", "买家自己装{p}看不懂说明书，想要安装视频",
                ("师傅上门说墙面不能打孔，{p}装不上，买家要求退安装费", ("appliance",))),
    "missing_whole": ("订单买了两件，只收到一个包裹，另一件{p}物流一直没更新", ("{p}一共三箱，买家只收到两箱", ("furniture",))),
    "missing_accessory": (("{p}少了一包螺丝，没法组装", ("furniture",)), ("收到的{p}没有说明书和五金配件袋", ("furniture",)),
                          ("{p}缺一条连接线，买家拍了开箱照片", ("appliance",))),
    "extra_item": ("买家说多收到一件{p}，愿意寄回来", "仓库多发了一个{p}，需要约上门取件"),
    "wrong_whole": ("买的是灰色{p}，收到的是米白色", "下单的型号和收到的{p}不一样，发错货了"),
    "wrong_accessory": ("{p}配的连接件型号不对，和孔位对不上", "{p}里的配件发成了别的款"),
    "damaged_on_arrival": ("{p}外箱破损，表面有明显划痕", "开箱发现{p}边角磕坏了，要求换新或补偿",
                           ("{p}到货通电不工作", ("appliance",))),
    "fault_in_use": (("{p}用了两个月表面开裂，问能不能保修", ("furniture",)), ("{p}用了半年有异响，想约师傅上门看看", ("appliance",))),
    "size_differs": (("{p}实际尺寸比详情页标的小了三公分", ("furniture",)), ("{p}尺码偏小，和尺码表对不上", ("clothes",))),
    "function_not_expected": ("买家觉得{p}噪音太大，和宣传的静音不符", "{p}效果没有宣传的好，买家怀疑是质量问题"),
    "service": ("买家投诉客服回复太慢，问了三次没人理", "买家对上次的处理不满意，说客服态度敷衍"),
    "logistics": ("{p}的物流三天没更新，像是卡在中转站了", "快递显示已签收，买家说没收到{p}", "{p}下单五天还没发货，买家催发"),
    "bad_review_threat": (("买家说{p}有色差，不处理就给差评", ("furniture", "clothes")), "买家嫌送货太慢，说要差评加投诉"),
    "seven_day_return": ("买家收到{p}觉得不合适，申请七天无理由退货", "{p}还没拆封，买家改主意要退"),
    "payment_refund": ("买家说退款同意三天了，钱还没到账", "买家付了款，订单却显示未付款，要求核实"),
    "platform_dispute": ("买家申请平台介入，说收到的{p}像是二手的", "退款纠纷，平台要求商家48小时内上传凭证"),
    "other": ("买家要改收货电话", "买家要开增值税专用发票", "买家问{p}能不能加急发货"),
}


def products_for(category: str) -> list[tuple]:
    lines = CATEGORY_LINES.get(category)
    return [p for p in PRODUCTS if lines is None or (p[3] if lines == "installable" else p[1] in lines)]


def summaries_for(category: str, line: str) -> list[str]:
    return [text if isinstance(text, str) else text[0] for text in SUMMARIES[category]
            if isinstance(text, str) or line in text[1]]

# Why it happened, who is responsible, and who by name ("" none; "courier" a carrier; "agent" the assignee).
CAUSES = {
    "install": (("安装师傅没按约定时间上门", "none", ""), ("说明书步骤不清楚", "production", "工厂二车间")),
    "missing_whole": (("多件订单分两个包裹发出，第二个包裹漏发", "warehouse", "仓库-老周"), ("快递漏派一件", "courier", "courier")),
    "missing_accessory": (("包装时漏放五金配件包", "production", "包装线-王班长"), ("仓库打包漏装配件", "warehouse", "仓库-小陈")),
    "extra_item": (("同一订单打了两张面单，重复发货", "warehouse", "仓库-老周"),),
    "wrong_whole": (("仓库拣货拿错颜色", "warehouse", "仓库-小陈"), ("没看订单备注，发错规格", "order_clerk", "打单-小何")),
    "wrong_accessory": (("外箱条码和实物不符，包装错误", "production", "包装线-王班长"),),
    "damaged_on_arrival": (("运输途中外箱受压破损", "courier", "courier"), ("出厂质检漏检划痕", "production", "工厂二车间")),
    "fault_in_use": (("买家使用方法不当", "none", ""), ("部件批次质量问题", "production", "工厂二车间")),
    "size_differs": (("详情页尺寸标注错误", "operations", "运营-小林"), ("尺码表没有更新", "operations", "运营-小林")),
    "function_not_expected": (("买家主观感受，已解释正常现象", "none", ""), ("详情页宣传描述夸大", "operations", "运营-小林")),
    "service": (("客服没按流程及时回复", "customer_service", "agent"),),
    "logistics": (("快递在中转站滞留", "courier", "courier"), ("到货晚导致发货延迟", "purchasing", "采购-阿杰"),
                  ("打单员没及时审单", "order_clerk", "打单-小何")),
    "bad_review_threat": (("色差在正常范围，补偿安抚", "none", ""),),
    "seven_day_return": (("七天无理由，买家个人原因", "none", ""),),
    "payment_refund": (("退款原路返回，银行到账延迟", "none", ""), ("客服漏点同意退款", "customer_service", "agent")),
    "platform_dispute": (("未在时限内上传凭证", "customer_service", "agent"), ("举证后平台判定商家无责", "none", "")),
    "other": (("按买家要求修改信息", "none", ""),),
}
CARRIERS = ("顺丰", "中通", "圆通", "韵达", "京东物流", "德邦")

RESULTS = {
    "refund_only": ("已退款，买家确认到账", "部分退款，买家接受"),
    "return_refund": ("退货入库验收无误，已退款", "扣除运费险后退款完成"),
    "exchange": ("已换新，买家签收确认",),
    "reship": ("补发已签收，问题解决", "补发配件后买家已装好"),
    "compensation": ("补偿10元，买家接受", "补偿20元并致歉，买家满意", "补偿50元（组长审批），买家接受"),
    "install_repair": ("师傅上门安装完成", "上门维修后恢复正常"),
    "complaint": ("已致歉并说明原因，买家撤销投诉", "已解释清楚，买家表示理解"),
    "dispute": ("平台判定商家无责，纠纷结束", "协商一致，买家撤销介入"),
    "inquiry": ("已答复，买家没有其他问题", "已按要求处理并告知买家"),
}
FEEDBACK = ("满意", "非常满意，谢谢客服", "还可以", "一般，处理有点慢", "不太满意，但接受方案", "")

UPDATES = {
    "photo": "请买家把全部配件摆开拍一张照片",
    "return": "已告知买家退货地址，运费先垫付",
    "refunded": "退款已原路退回",
    "exchanged": "换新已发出，单号已同步给买家",
    "reshipped": "补发已发出，单号已同步给买家",
    "compensated": "补偿已发放，请买家留意",
    "visited": "师傅已上门处理",
    "apology": "已致歉并说明处理方案",
    "evidence": "已向平台提交凭证",
    "ruled": "平台已判定，已告知买家",
    "courier": "快递已回复，已告知买家",
    "reopen": "重新核实问题，已和买家约好方案",
}
REOPEN_NOTES = ("买家说问题没解决，要求重新处理", "补发的配件还是不对", "买家对补偿金额不满意")

FLAG_NOTES = {
    "red": ("买家情绪激动，先电话安抚", "差评风险，优先处理", "小二已介入，注意举证时限"),
    "yellow": ("等仓库确认退货入库", "配件缺货，已登记跟进表", "等师傅反馈上门时间"),
    "green": ("已补偿，勿重复补偿", "买家已确认方案"),
    "blue": ("大促订单", "老客户，多次回购"),
    "purple": ("补偿超额度，需组长审批", "疑似批次问题，已报品控"),
}
NOTES = ("买家发来照片，外箱有明显压痕", "电话联系买家没接通，稍后再打", "买家要求今天内给答复",
         "ERP里查到分两个包裹发出", "买家同意先补发配件")

NICK_WORDS = ("小鱼儿", "橙子", "木木", "糖糖", "星星", "豆豆", "可乐", "阿杰", "大白", "七七", "柚子", "团团", "小北", "晴天")
NICK_PREFIXES = ("爱吃", "快乐的", "小", "阿", "超级", "")
PHONE_PREFIXES = tuple(f"13{d}" for d in range(10)) + ("150", "151", "152", "155", "156", "157", "158", "159") + tuple(
    f"18{d}" for d in range(10))
PLATFORM_WEIGHTS = {"tmall": 35, "jd_pop": 25, "douyin": 15, "pdd": 15, "taobao": 10}
# Local hours when buyers write, weighted (evenings are busy, nights quiet).
HOUR_WEIGHTS = (1, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 4, 6, 7, 7, 6, 6, 7, 7, 6, 6, 7, 8, 9, 9, 7, 4)
PROMO_DAYS = {(11, 10), (11, 11), (11, 12), (11, 13), (6, 17), (6, 18), (6, 19), (6, 20), (12, 12)}

MIN, DAY = timedelta(minutes=1), timedelta(days=1)


def create_cases(rng: random.Random, case_count: int, now: datetime, bulk: bool | None = None) -> int:
    """``case_count`` cases; returns how many are still open. ``bulk`` forces or forbids the fast path."""
    planner = Planner(rng, now)
    use_bulk = case_count > BULK_ABOVE if bulk is None else bulk
    load = _insert_in_bulk if use_bulk else _replay_through_caseflow
    return load(planner.plans(case_count), planner, sla.load_rules(), now)


# --- plans ---------------------------------------------------------------------------

@dataclass
class CasePlan:
    values: dict                                # what the case is created with
    creator: str                                # usernames
    actor: str
    steps: list = field(default_factory=list)   # [(at, op, arg)], op: milestone, state, flag, note

    @property
    def is_open(self) -> bool:
        states = [arg[0] for _, op, arg in self.steps if op == "state"]
        return not states or states[-1] != "closed"


def open_count_for(case_count: int) -> int:
    """A small demo is a lively board; a big one is a real shop's history, about 3% still open."""
    lively = round(case_count * 0.45)
    return lively if lively <= 180 else max(180, round(case_count * 0.03))


def _uniform_minutes(rng, low: float, high: float) -> timedelta:
    return timedelta(minutes=rng.uniform(low, high))


def _mixture(rng, choices) -> timedelta:
    """choices: ((weight, low minutes, high minutes), …)."""
    weights = [c[0] for c in choices]
    _, low, high = rng.choices(choices, weights)[0]
    return _uniform_minutes(rng, low, high)


class Planner:
    """Draws believable cases. Everything random comes from ``rng``, in a fixed order."""

    def __init__(self, rng: random.Random, now: datetime):
        self.rng = rng
        self.now = now
        self.zone = current_app.config["SHOP_TZ"]
        by_name = {shop.name: shop for shop in db.session.scalars(sa.select(Shop))}
        self.shops = [by_name[name] for _, name in SHOPS if name in by_name] or list(by_name.values())
        self.shop_weights = [PLATFORM_WEIGHTS.get(shop.platform, 10) for shop in self.shops]
        usernames = {"agent1", "agent2", "lead", "presales", "reviewer"}
        found = {u.username: u for u in db.session.scalars(sa.select(User).where(User.username.in_(usernames), User.active))}
        self.users = found
        self.workers = [name for name in ("agent1", "agent2", "lead") if name in found] or list(found)
        self.worker_weights = [{"agent1": 44, "agent2": 40, "lead": 16}.get(name, 10) for name in self.workers]
        team_names = {t.function: t.name for t in db.session.scalars(sa.select(Team).where(Team.active))}
        self.team_names = {**TEAM_FALLBACK_NAMES, **{k: v for k, v in team_names.items() if k in TEAM_FALLBACK_NAMES}}
        self.sequence = (db.session.scalar(sa.select(sa.func.max(Case.id))) or 0) + 1
        self.categories = list(CATEGORY_WEIGHTS)
        self.category_weights = list(CATEGORY_WEIGHTS.values())
        self.recent_orders: list[dict] = []
        self.serials: dict[tuple, int] = {}

    # the whole set ---------------------------------------------------------------------

    def plans(self, case_count: int):
        """Closed cases oldest first, then the open ones oldest first (ids grow with time, mostly)."""
        open_count = min(case_count, open_count_for(case_count))
        if case_count >= 2:
            open_count = min(open_count, case_count - 1)  # at least one closed case
        for received in self.closed_receipt_times(case_count - open_count):
            category, kind = self.draw_problem()
            yield self.closed_plan(category, kind, received)
        open_plans = []
        for index in range(open_count):
            if index < len(COVERAGE):
                category, kind, target = COVERAGE[index]
            else:
                (category, kind), target = self.draw_problem(), None
            open_plans.append(self.open_plan(category, kind, target))
        open_plans.sort(key=lambda plan: plan.values["received_at"])
        yield from open_plans

    def closed_receipt_times(self, count: int) -> list[datetime]:
        """When the closed cases came in: over the shop's history, busier lately and in big promotions."""
        if count <= 0:
            return []
        span = max(21, -(-count // 120))
        today = self.now.astimezone(self.zone).date()
        days, weights = [], []
        for back in range(1, span + 1):
            day = today - timedelta(days=back)
            # busier lately, but most of the last few days' cases are still open (planned separately)
            weight = (1.0 - 0.4 * back / span) * min(1.0, back / 5)
            if (day.month, day.day) in PROMO_DAYS:
                weight *= 3
            days.append(day)
            weights.append(weight)
        cumulative = list(itertools.accumulate(weights))
        hours = list(itertools.accumulate(HOUR_WEIGHTS))
        times = []
        for _ in range(count):
            day = days[bisect.bisect(cumulative, self.rng.random() * cumulative[-1])]
            hour = bisect.bisect(hours, self.rng.random() * hours[-1])
            local = datetime(day.year, day.month, day.day, hour, tzinfo=self.zone) + timedelta(seconds=self.rng.randrange(3600))
            jitter = _uniform_minutes(self.rng, 1, 600)  # drawn every time: the same seed gives the same sequence any day
            times.append(local if local < self.now - DAY else self.now - DAY - jitter)
        times.sort()
        return times

    def draw_problem(self) -> tuple[str, str]:
        category = self.rng.choices(self.categories, self.category_weights)[0]
        kinds = CATEGORY_KINDS[category]
        kind = self.rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        return category, kind

    # one case ---------------------------------------------------------------------------

    def closed_plan(self, category: str, kind: str, received: datetime) -> CasePlan:
        plan = self.new_plan(category, kind, received, is_open=False)
        tokens = self.flow(category, kind, photo=None)
        if self.rng.random() < 0.03:
            tokens += [("reopen", self.rng.choice(REOPEN_NOTES)), ("update", UPDATES["reopen"]), ("resolve",)]
        tokens.append(("close", self.closure(category, kind, plan)))
        offsets = self.offsets(tokens)
        latest = self.now - _uniform_minutes(self.rng, 5, 90)
        if received + offsets[-1] > latest:  # came in lately: the same steps, done faster
            scale = max(latest - received, MIN) / offsets[-1]
            offsets = [offset * scale for offset in offsets]
        times = [received + offset for offset in offsets]
        followed = times[-1] + _mixture(self.rng, ((90, 60, 3600), (10, 4400, 7200)))
        if followed < self.now:
            tokens.append(("follow",))
            times.append(followed)
        plan.steps = self.steps(tokens, times)
        self.decorate(plan)
        return plan

    def open_plan(self, category: str, kind: str, target: str | None) -> CasePlan:
        tokens = self.flow(category, kind, photo=True if target == "waiting:buyer" else None)
        if kind == "inquiry" and self.rng.random() < 0.3:
            tokens = [("start",), ("reply",), ("resolve",)]  # answered at once
        cuts = range(len(tokens) + 1)
        if target is not None:
            cuts = [cut for cut in cuts if _state_after(tokens[:cut]) == target] or cuts
        tokens = tokens[:self.rng.choice(list(cuts))]
        offsets = self.offsets(tokens)
        state = _state_after(tokens)
        received = self.now - self.last_gap(state, tokens[-1] if tokens else None) - (offsets[-1] if offsets else timedelta())
        plan = self.new_plan(category, kind, received, is_open=True)
        plan.steps = self.steps(tokens, [received + offset for offset in offsets])
        if plan.steps:
            self.decorate(plan)
        elif self.rng.random() < 0.1:
            color = self.rng.choice(list(FLAG_NOTES))
            plan.values.update(flag=color, flag_note=self.rng.choice(FLAG_NOTES[color]))
        if state == "new" and self.rng.random() < 0.5:
            plan.values["assignee_id"] = None
        return plan

    def last_gap(self, state: str, last_token) -> timedelta:
        """How long ago the last thing happened: spread across on time, at risk and overdue."""
        if state == "new":  # reply clock: 3 h, at risk in its last 45 min
            return _mixture(self.rng, ((55, 2, 130), (20, 137, 178), (25, 183, 1500)))
        if state == "resolved":
            return _uniform_minutes(self.rng, 30, 3600)
        if state == "waiting:buyer":  # paused
            return _uniform_minutes(self.rng, 10, 2880)
        if last_token and last_token[0] == "route":  # department response: 2 h
            return _mixture(self.rng, ((50, 5, 85), (20, 92, 118), (30, 122, 600)))
        return _mixture(self.rng, ((55, 5, 355), (20, 362, 478), (25, 482, 2000)))  # progress update: 8 h

    def new_plan(self, category: str, kind: str, received: datetime, is_open: bool) -> CasePlan:
        rng = self.rng
        order = self.order_for(category, received)
        shop = order["shop"]
        price, quantity = order["price"], order["quantity"]
        amount = order["amount"]
        sequence, self.sequence = self.sequence, self.sequence + 1
        platform_case_id = None
        if kind in ("refund_only", "return_refund", "exchange", "dispute") or (kind == "reship" and rng.random() < 0.5):
            platform_case_id = f"{_PLATFORM_CASE_PREFIX.get(shop.platform, '9')}{sequence:08d}{rng.randrange(10**6):06d}"
        refund = None
        if kind == "return_refund":
            refund = amount if quantity == 1 or rng.random() < 0.5 else Decimal(price)
        elif kind == "refund_only":
            if category in ("damaged_on_arrival", "size_differs", "function_not_expected"):
                refund = min(amount, Decimal(rng.choice((10, 20, 30, 50, 80, 100, 200))))
            else:
                refund = amount
        elif kind == "dispute" and rng.random() < 0.6:
            refund = amount
        deadline, deadline_note = None, ""
        if kind in ("refund_only", "return_refund") and shop.platform in ("tmall", "taobao", "douyin", "pdd"):
            deadline, deadline_note = received + timedelta(hours=48), "超时未处理，平台自动同意退款"
        elif kind == "dispute":
            deadline, deadline_note = received + timedelta(hours=48), "逾期未举证，平台直接判定"
        if category == "bad_review_threat" and rng.random() < 0.7 and "reviewer" in self.users:
            worker = "reviewer"
        elif kind == "inquiry" and category == "other" and rng.random() < 0.6 and "presales" in self.users:
            worker = "presales"
        else:
            worker = rng.choices(self.workers, self.worker_weights)[0]
        high_stakes = kind in ("complaint", "dispute") or category == "bad_review_threat"
        priority = rng.choices((0, 1, 2, 3), (15, 40, 40, 5) if high_stakes else (3, 15, 67, 15))[0]
        creator = worker if worker and rng.random() < 0.7 else rng.choice(self.workers)
        values = {
            "shop_id": shop.id, "platform": shop.platform, "platform_case_id": platform_case_id,
            "order_no": order["order_no"], "buyer_nick": order["nick"], "buyer_phone": order["phone"],
            "kind": kind, "category": category, "priority": priority,
            "assignee_id": self.users[worker].id if worker else None,
            "order_amount": amount, "refund_amount": refund,
            "summary": rng.choice(summaries_for(category, order["line"])).format(p=order["product"]),
            "flag": None, "flag_note": "",
            "platform_deadline_at": deadline, "platform_deadline_note": deadline_note,
            "received_at": received, "created_at": received,
            "duplicate_serial": self.serial_for(shop.platform, order["order_no"], kind) if platform_case_id is None else 0,
        }
        fallback = "lead" if "lead" in self.users else self.workers[0]
        return CasePlan(values, creator=creator, actor=worker or fallback)

    def serial_for(self, platform: str, order_no: str, kind: str) -> int:
        """A second case of one order and kind without a platform number is numbered, as by hand."""
        key = (platform, order_no, kind)
        serial = self.serials.get(key, -1) + 1
        self.serials[key] = serial
        return serial

    def order_for(self, category: str, received: datetime) -> dict:
        """The order the case is about; now and then a second case on an earlier order."""
        rng = self.rng
        fits = products_for(category)
        if self.recent_orders and rng.random() < 0.03:
            earlier = rng.choice(self.recent_orders)
            if any(earlier["product"] == p[0] for p in fits):
                return earlier
        name, line, prices, _ = rng.choice(fits)
        price = rng.choice(prices)
        quantity = rng.choices((1, 2, 3), (80, 15, 5) if line == "clothes" else (94, 5, 1))[0]
        amount = Decimal(price * quantity)
        if rng.random() < 0.3:
            discount = rng.choice((10, 20, 50, 100, 200))
            if amount > 5 * discount:
                amount -= discount
        shop = rng.choices(self.shops, self.shop_weights)[0]
        ordered = received - timedelta(days=rng.uniform(1, 15))
        order = {"shop": shop, "product": name, "line": line, "price": price, "quantity": quantity,
                 "amount": amount.quantize(CENT), "order_no": self.order_no(shop.platform, ordered),
                 "nick": self.nickname(shop.platform), "phone": self.phone()}
        self.recent_orders = [*self.recent_orders[-49:], order]
        return order

    def order_no(self, platform: str, ordered: datetime) -> str:
        rng = self.rng
        if platform in ("tmall", "taobao"):
            return str(rng.randrange(10**18, 4 * 10**18))
        if platform.startswith("jd"):
            return str(rng.randrange(2 * 10**11, 4 * 10**11))
        if platform == "douyin":
            return "69" + f"{rng.randrange(10**17):017d}"
        if platform == "pdd":
            return ordered.astimezone(self.zone).strftime("%y%m%d") + "-" + f"{rng.randrange(10**15):015d}"
        return f"{rng.randrange(10**15):015d}"

    def nickname(self, platform: str) -> str:
        rng = self.rng
        style = rng.random()
        if style < 0.45:
            nick = rng.choice(NICK_PREFIXES) + rng.choice(NICK_WORDS)
            return nick + (str(rng.choice((88, 99, 520, 666, 2019, 2023))) if rng.random() < 0.4 else "")
        if platform in ("tmall", "taobao"):
            return f"tb{rng.randrange(10**8, 10**10)}"
        if platform.startswith("jd"):
            return "jd_" + "".join(rng.choice("0123456789abcdef") for _ in range(12))
        if platform == "douyin":
            return f"用户{rng.randrange(10**9, 10**10)}"
        return f"pdd{rng.randrange(10**10, 10**11)}"

    def phone(self) -> str | None:
        if self.rng.random() < 0.12:
            return None
        return self.rng.choice(PHONE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    def flow(self, category: str, kind: str, photo: bool | None) -> list[tuple]:
        """The whole path of a case of this kind, up to resolved."""
        rng = self.rng
        team = self.team_names.get(ROUTE_FUNCTION.get(category, ""), "")
        tokens = [("start",), ("reply",)]
        if photo is None:
            photo = category in PHOTO_CATEGORIES and kind not in ("inquiry", "dispute") and rng.random() < 0.6
        if photo:
            tokens += [("update", UPDATES["photo"]), ("wait", "buyer"), ("resume",)]
        warehouse, installer = self.team_names["warehouse"], self.team_names["installer"]
        if kind in ("return_refund", "exchange"):
            tokens += [("route", warehouse), ("update", UPDATES["return"]), ("wait", "warehouse"), ("return",),
                       ("respond",), ("resume",)]
            tokens += [("refund",), ("update", UPDATES["refunded"])] if kind == "return_refund" else [("update", UPDATES["exchanged"])]
        elif kind == "refund_only":
            if category == "payment_refund":
                tokens += [("route", self.team_names["finance"]), ("respond",)]
            tokens += [("refund",), ("update", UPDATES["refunded"])]
        elif kind == "reship":
            tokens += [("route", warehouse), ("respond",), ("update", UPDATES["reshipped"])]
        elif kind == "compensation":
            tokens += [("update", UPDATES["compensated"])]
        elif kind == "install_repair":
            tokens += [("route", installer), ("respond",), ("wait", "third_party"), ("resume",), ("update", UPDATES["visited"])]
        elif kind == "complaint":
            if team and rng.random() < 0.5:
                tokens += [("route", team), ("respond",)]
            tokens += [("update", UPDATES["apology"])]
        elif kind == "dispute":
            tokens += [("update", UPDATES["evidence"]), ("wait", "platform"), ("resume",), ("update", UPDATES["ruled"])]
        elif kind == "inquiry":
            if category == "logistics":
                tokens += [("route", self.team_names["logistics"]), ("wait", "third_party"), ("respond",), ("resume",),
                           ("update", UPDATES["courier"])]
            elif team and rng.random() < 0.4:
                tokens += [("route", team), ("respond",)]
        tokens.append(("resolve",))
        return tokens

    def offsets(self, tokens: list[tuple]) -> list[timedelta]:
        """Each step's time after the case came in, from believable gaps between steps."""
        rng, total, offsets, previous = self.rng, timedelta(), [], None
        for token in tokens:
            name = token[0]
            if name == "start":
                gap = _mixture(rng, ((80, 1, 45), (20, 45, 200)))
            elif name == "reply":
                gap = _mixture(rng, ((85, 1, 40), (10, 40, 140), (5, 140, 420)))
            elif name == "update":
                gap = _uniform_minutes(rng, 2, 30) if token[1] == UPDATES["photo"] else _uniform_minutes(rng, 40, 400)
            elif name == "wait":
                gap = _uniform_minutes(rng, *{"buyer": (2, 20), "warehouse": (5, 60), "platform": (60, 1200)}.get(token[1], (10, 120)))
            elif name == "resume":
                waited = previous[1] if previous and previous[0] == "wait" else ""
                gap = _uniform_minutes(rng, *{"buyer": (30, 1440), "platform": (600, 4320), "third_party": (600, 4320)}.get(waited, (5, 90)))
            elif name == "route":
                gap = _uniform_minutes(rng, 10, 120)
            elif name == "respond":
                after_wait = previous and previous[0] == "wait"
                gap = _uniform_minutes(rng, 120, 3000) if after_wait else _mixture(rng, ((75, 20, 110), (25, 120, 600)))
            elif name == "return":
                gap = _uniform_minutes(rng, 1440, 5760)
            elif name == "refund":
                gap = _mixture(rng, ((85, 20, 1800), (15, 2880, 4320)))
            elif name == "resolve":
                gap = _uniform_minutes(rng, 10, 480)
            elif name == "reopen":
                gap = _uniform_minutes(rng, 120, 2880)
            elif name == "close":
                gap = _uniform_minutes(rng, 60, 2880)
            else:
                gap = _uniform_minutes(rng, 1, 60)
            total += gap
            offsets.append(total)
            previous = token
        return offsets

    def closure(self, category: str, kind: str, plan: CasePlan) -> dict:
        rng = self.rng
        cause, responsibility, person = rng.choice(CAUSES[category])
        if person == "courier":
            person = rng.choice(CARRIERS)
        elif person == "agent":
            assignee = next((u for u in self.users.values() if u.id == plan.values["assignee_id"]), None)
            person = assignee.display_name if assignee else ""
        closure = {"responsibility": responsibility, "person": person, "cause": cause,
                   "result": rng.choice(RESULTS[kind]), "buyer_feedback": rng.choice(FEEDBACK)}
        # The outcome the score reads; drawn from the order number so the main draws stay as they were.
        outcomes = [key for key, kinds in OUTCOME_KINDS.items() if kind in kinds]
        if outcomes:
            own = random.Random(plan.values["order_no"])
            if kind in OUTCOME_KINDS["retained"]:
                closure["outcome"] = "retained" if own.random() < 0.12 else ""
            else:
                closure["outcome"] = "upheld" if own.random() < 0.3 else "not_upheld"
        return closure

    def steps(self, tokens: list[tuple], times: list[datetime]) -> list[tuple]:
        ops = []
        for token, at in zip(tokens, times, strict=True):
            name = token[0]
            if name in ("start", "resume"):
                ops.append((at, "state", ("in_progress", None, None, "")))
            elif name == "reopen":
                ops.append((at, "state", ("in_progress", None, None, token[1])))
            elif name == "wait":
                ops.append((at, "state", ("waiting", token[1], None, "")))
            elif name == "resolve":
                ops.append((at, "state", ("resolved", None, None, "")))
            elif name == "close":
                ops.append((at, "state", ("closed", None, token[1], "")))
            else:
                milestone, detail = _MILESTONE_OF[name], token[1] if len(token) > 1 else ""
                ops.append((at, "milestone", (milestone, detail)))
        return ops

    def decorate(self, plan: CasePlan) -> None:
        """Now and then a flag with its note, or a note, between two steps."""
        rng = self.rng
        for op, chance in (("flag", 0.12), ("note", 0.2)):
            if rng.random() >= chance:
                continue
            index = rng.randrange(len(plan.steps))
            after = plan.steps[index][0]
            before = plan.steps[index + 1][0] if index + 1 < len(plan.steps) else self.now
            at = after + (before - after) * rng.uniform(0.1, 0.9)
            if op == "flag":
                color = rng.choice(list(FLAG_NOTES))
                plan.steps.insert(index + 1, (at, "flag", (color, rng.choice(FLAG_NOTES[color]))))
            else:
                plan.steps.insert(index + 1, (at, "note", rng.choice(NOTES)))


_PLATFORM_CASE_PREFIX = {"tmall": "21", "taobao": "22", "jd_pop": "3", "douyin": "14", "pdd": "5"}
_MILESTONE_OF = {"reply": "replied", "update": "buyer_updated", "route": "routed", "respond": "department_responded",
                 "return": "return_received", "refund": "refunded", "follow": "followed_up"}


def _state_after(tokens: list[tuple]) -> str:
    state = "new"
    for token in tokens:
        name = token[0]
        if name in ("start", "resume", "reopen"):
            state = "in_progress"
        elif name == "wait":
            state = f"waiting:{token[1]}"
        elif name == "resolve":
            state = "resolved"
        elif name == "close":
            state = "closed"
    return state


# --- loading: through caseflow (small) or folded and in bulk (large) ---------------------

def _replay_through_caseflow(plans, planner: Planner, rules: sla.Rules, now: datetime) -> int:
    """Every step through the real case rules, stamped with the time it happened."""
    users, open_cases = planner.users, 0
    for count, plan in enumerate(plans, 1):
        received = plan.values["received_at"]
        case = flow.create_case(dict(plan.values), users.get(plan.creator), rules, received, via="demo data")
        _stamp_new_events(received)
        actor = users.get(plan.actor)
        for at, op, arg in plan.steps:
            if op == "milestone":
                flow.mark_milestone(case, arg[0], actor, rules, at, detail=arg[1])
            elif op == "state":
                target, waiting_for, closure, note = arg
                flow.change_state(case, target, actor, rules, at, waiting_for=waiting_for, closure=closure, note=note)
            elif op == "flag":
                flow.set_flag(case, arg[0], arg[1], actor)
            else:
                flow.add_note(case, arg, actor)
            _stamp_new_events(at)
        case.updated_at = plan.steps[-1][0] if plan.steps else received
        flow.refresh_deadlines(case, rules, now)  # the clocks as they stand now, not at the last step
        open_cases += plan.is_open
        if count % 200 == 0:
            db.session.commit()
    db.session.commit()
    return open_cases


def _stamp_new_events(at: datetime) -> None:
    """Timeline events written by a replayed step carry the step's time, not the loading time."""
    for item in db.session.new:
        if isinstance(item, TimelineEvent) and item.created_at is None:
            item.created_at = at


_CASE_COLUMNS = [column.key for column in Case.__table__.columns if column.key != "id"]


def fold(plan: CasePlan, rules: sla.Rules, now: datetime, users: dict) -> dict:
    """The case row the plan's steps leave behind, as caseflow would write it (the tests compare)."""
    row = dict.fromkeys(_CASE_COLUMNS)
    row.update(state="new", waiting_for=None, summary="", flag=None, flag_note="", responsible_person="", cause="",
               result="", buyer_feedback="", routed_to="", pauses=[], reopen_count=0, duplicate_serial=0, version=1,
               platform_status_text="", platform_goods_status="", platform_intervention="", triaged=[],
               platform_conflicts=[])
    row.update(plan.values)
    row.update(outcome=None, closed_assignee_id=None, reship_cost=None, freight_cost=None,
               platform_intervened=row["kind"] in INTERVENTION_KINDS or row["category"] in INTERVENTION_CATEGORIES)
    creator = users.get(plan.creator)
    row["created_by_id"] = creator.id if creator else None
    for at, op, arg in plan.steps:
        if op == "milestone":
            milestone, detail = arg
            if milestone in ("replied", "buyer_updated"):
                row["first_reply_at"] = row["first_reply_at"] or at
                row["last_buyer_update_at"] = at
            elif milestone == "routed":
                row.update(routed_at=at, routed_to=detail.strip()[:64], department_response_at=None)
            elif milestone == "department_responded":
                row["department_response_at"] = at
            elif milestone == "return_received":
                row.update(return_received_at=at, refunded_at=None)
            elif milestone == "refunded":
                row["refunded_at"] = at
            elif milestone == "followed_up":
                row["followed_up_at"] = at
        elif op == "state":
            target, waiting_for, closure, note = arg
            reopening = row["state"] in ("resolved", "closed") and target == "in_progress"
            if target == "waiting" and waiting_for in rules.pausing_waits:
                row["pauses"] = sla.pause_started(list(row["pauses"]), at)
            else:
                row["pauses"] = sla.pause_ended(list(row["pauses"]), at)
            row["state"], row["waiting_for"] = target, waiting_for if target == "waiting" else None
            row["platform_intervened"] = row["platform_intervened"] or row["waiting_for"] == "platform"
            if target == "resolved":
                row["resolved_at"] = at
            if target == "closed":
                row.update(closed_at=at, responsibility=closure["responsibility"],
                           responsible_person=(closure.get("person") or "").strip()[:64], cause=closure["cause"].strip(),
                           result=(closure.get("result") or "").strip(),
                           buyer_feedback=(closure.get("buyer_feedback") or "").strip(),
                           outcome=closure.get("outcome") or None, closed_assignee_id=row["assignee_id"])
            if reopening:
                row["reopen_count"] += 1
                row["resolved_at"] = row["closed_at"] = row["followed_up_at"] = None
                row["outcome"] = row["closed_assignee_id"] = None
        elif op == "flag":
            row["flag"], row["flag_note"] = arg[0], arg[1].strip()[:200]
            row["triaged"] = sorted({*row["triaged"], "flag", "flag_note"})  # as flow.set_flag marks them
    row["updated_at"] = plan.steps[-1][0] if plan.steps else row["received_at"]
    row["next_due_at"], row["next_risk_at"] = rules.deadlines(SimpleNamespace(**row), now)
    return row


def _insert_in_bulk(plans, planner: Planner, rules: sla.Rules, now: datetime) -> int:
    """Batches of rows and their "created" events, one commit per batch."""
    open_cases = 0
    insert_cases = sa.insert(Case).returning(Case.id, sort_by_parameter_order=True)
    while batch := list(itertools.islice(plans, BATCH_SIZE)):
        rows = [fold(plan, rules, now, planner.users) for plan in batch]
        ids = db.session.scalars(insert_cases, rows).all()
        events = [{"created_at": row["received_at"], "actor_id": row["created_by_id"], "subject_type": "case",
                   "subject_id": case_id, "action": "created",
                   "detail": {"via": "demo data", "order_no": row["order_no"], "kind": row["kind"],
                              "category": row["category"]}}
                  for case_id, row in zip(ids, rows, strict=True)]
        db.session.execute(sa.insert(TimelineEvent), events)
        db.session.commit()
        open_cases += sum(plan.is_open for plan in batch)
    return open_cases

