"""Demo handoff sheet: every kind of item in every state, raised and worked through the real rules.

Each story is played step by step with the moment it happened (``now`` minus some hours), so at
loading time the sheet shows items on time, not acknowledged in time, overdue, waiting for the
raiser and closed. Most items name an order number only, as teams often do; the others hang on the
demo cases that were routed to a department, raised at the moment the case's timeline shows the
routing and acknowledged when it shows the department's answer, so a handoff and its case's
department clock tell the same story. A bulk-loaded shop's cases carry only their "created" event,
with no routing to hang a handoff on: there the items name order numbers only.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from cases import sla
from demo.cases import PHONE_PREFIXES, Planner, _stamp_new_events
from handoffs import flow
from handoffs.labels import KIND_FOR_FUNCTION
from models import Case, Handoff, Team, TimelineEvent, User, db

INSTALLER_PARTY = "万师傅 张师傅"  # an outside installer: no account, works through the link

ADDRESSES = (
    "浙江省杭州市余杭区良渚街道玉鸟苑6幢2单元803室",
    "江苏省苏州市吴中区越溪街道清荷园12幢304室",
    "广东省佛山市顺德区大良街道锦绣华庭3座1502",
    "上海市闵行区七宝镇春申花园21号602室",
    "四川省成都市武侯区簇锦街道桂溪苑5栋1单元1104",
)

# One item each: kind, who raises it, the order's platform, hours ago it was raised, what is asked, what the kind
# carries, and the steps after it, each (op, hours ago, who, text or expected hours). Who is a username, or an outside
# party working through a link. An appointment is (days from now, local hour); "appointment" on an acknowledgement:
# the result is expected two hours after it.
HANDOFF_STORIES = [
    # presales → aftersales: invoice details, a gift to send, a problem order
    {"kind": "presales", "raiser": "presales", "platform": "tmall", "ago": 3.5,
     "request": "买家咨询时答应随单送一套餐椅防滑脚垫，下单时漏了备注，请售后安排补寄并告知买家",
     "items_to_send": "餐椅防滑脚垫一套（8个）", "steps": []},
    {"kind": "presales", "raiser": "presales", "platform": "jd_pop", "ago": 20,
     "request": "买家要开增值税普通发票，售前已核对抬头和税号，请售后开票后发到买家邮箱",
     "invoice_details": "普通发票；抬头：杭州青禾家居设计有限公司；税号：91330106MA2CK7X35R；邮箱见订单留言",
     "steps": [("ack", 19, "agent2", 4),
               ("done", 16, "agent2", "电子发票已开具，已发到买家留言里的邮箱"),
               ("back", 2, "presales", "买家说抬头少了“设计”两个字，请作废后重开")]},
    {"kind": "presales", "raiser": "presales", "platform": "douyin", "ago": 50,
     "request": "买家一次买了两张书桌，售前承诺送桌面收纳盒，另外要开公司抬头的发票",
     "invoice_details": "普通发票；抬头：成都小禾教育咨询有限公司；税号：91510107MA6BQ2L48W",
     "items_to_send": "桌面收纳盒（灰色）一个",
     "steps": [("ack", 49, "agent1", 20),
               ("done", 30, "agent1", "收纳盒已随补发单寄出，发票已开具并上传到订单"),
               ("close", 28, "presales", "")]},
    {"kind": "presales", "raiser": "presales", "platform": "pdd", "ago": 7,
     "request": "买家下单后发现楼号写错了，售前已在聊天里确认新地址，请售后联系仓库改地址后回复",
     "steps": [("ack", 6.5, "agent1", 2),
               ("done", 5, "agent1", "仓库确认还没出库，地址已改好，已告知买家")]},
    # warehouse: confirm a return received, urge a pickup, a wrong item coming back
    {"kind": "warehouse", "raiser": "agent1", "platform": "tmall", "ago": 30, "return_carrier": "SF",
     "request": "买家已寄回实木餐桌，快递显示昨天签收，请仓库确认入库并验货，验完我这边退款",
     "steps": [("ack", 28, "warehouse", 6),
               ("follow", 4, "agent1", "买家在催退款了，麻烦今天内确认一下"),
               ("follow", 2, "warehouse", "包裹找到了，外箱有破损，正在拍照验货")]},
    {"kind": "warehouse", "raiser": "agent2", "platform": "jd_pop", "ago": 70, "return_carrier": "JDVB",
     "request": "买家申请退货三天了，快递一直没上门取件，请仓库联系合作快递催取件",
     "steps": [("ack", 69, "warehouse", 10),
               ("done", 60, "warehouse", "已联系京东物流，今天下午上门取件，取件单号已同步"),
               ("close", 58, "agent2", "")]},
    {"kind": "warehouse", "raiser": "agent1", "platform": "douyin", "ago": 0.7, "return_carrier": "YT",
     "request": "发错了颜色（应发灰色），买家已寄回，请仓库收到后核对是否原包装，尽快换发灰色",
     "steps": []},
    # logistics
    {"kind": "logistics", "raiser": "agent2", "platform": "pdd", "ago": 52,
     "request": "包裹在中通中转站三天没更新，买家急用，请物流联系中通查件并给明确答复",
     "steps": [("follow", 10, "agent2", "买家又来问了，今天再没消息就只能先补发")]},
    {"kind": "logistics", "raiser": "agent1", "platform": "tmall", "ago": 26,
     "request": "快递显示已签收，买家说没收到，请物流找快递核实签收人和签收照片",
     "steps": [("ack", 25, "lead", 8),
               ("done", 3, "lead", "快递员回复放在小区快递柜，取件码已发给买家")]},
    # operations: a page description error
    {"kind": "operations", "raiser": "agent1", "platform": "tmall", "ago": 5,
     "request": "儿童书桌详情页写桌面宽100cm，实物是90cm，这周已有三单因此退货，请运营尽快改页面",
     "steps": [("ack", 4, "lead", 8),
               ("follow", 1, "lead", "设计在改图，主图和详情页今天下班前一起更新")]},
    {"kind": "operations", "raiser": "agent2", "platform": "douyin", "ago": 75,
     "request": "人体工学椅页面写“可后仰160度”，实际只能到135度，买家投诉描述不符，请改页面",
     "steps": [("ack", 73, "lead", 24),
               ("done", 50, "lead", "详情页和主图已改为135度，直播话术也已同步"),
               ("close", 48, "agent2", "")]},
    # quality control
    {"kind": "qc", "raiser": "agent1", "platform": "jd_pop", "ago": 6,
     "request": "同一批落地扇这周有四单反馈摇头时有异响，请品控抽检同批次库存",
     "steps": []},
    {"kind": "qc", "raiser": "agent2", "platform": "tmall", "ago": 30,
     "request": "布艺沙发到货扶手开线，买家发了照片，请品控判断是生产问题还是运输问题，便于定责",
     "steps": [("ack", 28, "lead", 30)]},
    # tech support
    {"kind": "tech_support", "raiser": "agent1", "platform": "tmall", "ago": 30,
     "request": "扫地机器人连不上App，买家按说明书重置了两次还是不行，请技术给远程指导",
     "steps": [("ack", 29, "lead", 4),
               ("done", 22, "lead", "已把重置配网的视频发给客服，请转给买家"),
               ("back", 18, "agent1", "买家照视频操作还是连不上，需要技术直接电话指导")]},
    {"kind": "tech_support", "raiser": "agent2", "platform": "jd_pop", "ago": 48,
     "request": "电热水器显示E3故障码，买家问能不能自己处理，还是要约师傅",
     "steps": [("ack", 47, "lead", 3),
               ("done", 45, "lead", "E3是进水压力低，请买家打开进水阀门后断电重启，说明已发客服"),
               ("close", 44, "agent2", "")]},
    # finance
    {"kind": "finance", "raiser": "agent2", "platform": "pdd", "ago": 10,
     "request": "买家说退款同意三天了还没到账，请财务核对退款流水并给出到账凭证",
     "steps": [("ack", 9, "lead", 14)]},
    {"kind": "finance", "raiser": "agent1", "platform": "tmall", "ago": 60,
     "request": "组长已批准补偿30元，买家要求打到支付宝，请财务安排打款",
     "steps": [("ack", 58, "lead", 24),
               ("done", 40, "lead", "已通过支付宝转账30元，转账记录已截图存档"),
               ("close", 39, "agent1", "")]},
    # the 400 call centre
    {"kind": "call_centre", "raiser": "agent2", "platform": "douyin", "ago": 0.5,
     "request": "买家年纪大不会用聊天，要求电话沟通，请400回电说明退货流程和运费怎么算",
     "steps": []},
    {"kind": "call_centre", "raiser": "agent1", "platform": "tmall", "ago": 8,
     "request": "买家留言说联系不上客服，情绪很大，请400先外呼安抚并登记诉求",
     "steps": [("ack", 7.5, "lead", 1),
               ("done", 6, "lead", "已外呼，买家要求今天给退款方案，已登记到工单")]},
    # third-party installers: address, appointment, the buyer's phone shared with the installer
    {"kind": "installer", "raiser": "agent1", "platform": "jd_pop", "ago": 26, "appointment": (1, 14), "share_phone": True,
     "request": "吸油烟机到货，请安排师傅上门安装，需要拆旧机，买家要求下午上门",
     "steps": [("link", 25.5, "agent1", INSTALLER_PARTY),
               ("ack", 24, INSTALLER_PARTY, "appointment"),
               ("follow", 23, INSTALLER_PARTY, "已电话联系买家，约好下午两点上门，请买家提前清空灶台"),
               ("follow", 22, "agent1", "好的，已告知买家")]},
    {"kind": "installer", "raiser": "agent2", "platform": "tmall", "ago": 80, "appointment": (-2, 10), "share_phone": True,
     "request": "推拉门衣柜到货三天了，请服务商安排师傅上门安装，买家要求周末上门",
     "steps": [("ack", 78, "installer", 12),
               ("follow", 30, "agent2", "约的时间已经过了，买家说师傅没来也没打电话，请核实"),
               ("follow", 28, "installer", "师傅临时有事，已改派李师傅，正在和买家重新约时间")]},
]

CARRIER_DIGITS = {"SF": 13, "YT": 13, "JDVB": 11}

# Routed cases: what is asked of the department and what it answers, by team function (warehouse by case kind).
ROUTED_ASKS = {
    "warehouse": {"return_refund": "买家已按退货地址寄回，请仓库收到后确认入库并验货，验完回复我退款",
                  "exchange": "买家寄回换货，请仓库收到后验货，没问题就换发新品并回传单号",
                  "reship": "请仓库核对ERP出库记录，按订单补发缺少的部分，发出后回传单号",
                  "": "请仓库核对这单的出库记录和包裹数，回复实际发出情况"},
    "finance": "买家说退款还没到账，请财务核对退款流水，给一个到账时间",
    "installer": "请服务商安排师傅上门，时间和地址已和买家确认",
    "logistics": "请物流联系承运快递查件，今天内回复包裹位置和预计派送时间",
    "qc": "买家发来照片，请品控判断是生产问题还是运输问题，便于定责",
    "tech_support": "买家按说明书操作后仍有问题，请技术给出排查步骤或远程指导",
    "operations": "买家说和详情页描述不符，请运营核对页面参数，有误请尽快修改",
    "call_centre": "请400外呼买家，确认诉求并登记",
}
ROUTED_ANSWERS = {
    "warehouse": {"return_refund": "已入库，验货无误，可以退款", "exchange": "已验货，换发的新品已出库，单号已同步到订单",
                  "reship": "补发已出库，单号已同步到订单", "": "已核对，ERP记录和包裹数一致"},
    "finance": "已核实，退款已原路退回，银行处理中，预计1到3个工作日到账",
    "installer": "师傅已上门处理完毕，买家现场验收",
    "logistics": "快递已回复，包裹已从中转站恢复派送",
    "qc": "已判定：运输途中磕碰，不是生产问题",
    "tech_support": "已电话指导买家重新设置，问题已解决",
    "operations": "页面参数已核对并修改，主图同步更新",
    "call_centre": "已外呼，买家诉求已登记到工单",
}
CHASERS = ("买家在催了，麻烦尽快看一下", "买家说今天要个答复，辛苦先回个话", "这单平台有时限，请优先处理")
# The team member who answers for a function; teams without demo accounts answer through the lead.
RESPONDERS = {"warehouse": "warehouse", "installer": "installer"}

SHIFT_NOTE = "今天没处理完的单子交给你了，插红旗的几单比较急"
SHIFT_CASE_NOTES = ("买家下午三点后方便接电话", "退货已寄回，等仓库确认入库后退款", "已答应买家今天给答复，别忘了",
                    "补发单号还没回传，明早跟仓库要")


def create_handoffs(rng: random.Random, now: datetime) -> int:
    """Items of every kind in every state, some late, some on routed cases, and a shift handoff not yet accepted."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(Handoff)):
        return 0
    people = {user.username: user for user in db.session.scalars(sa.select(User).where(User.active))}
    if not {"presales", "agent1", "agent2", "lead", "warehouse", "installer"} <= set(people):
        return 0
    sheet = _Sheet(rng, now, people)
    for story in HANDOFF_STORIES:
        sheet.tell(story)
    sheet.routed_cases()
    sheet.shift()
    db.session.commit()
    return sheet.made


class _Sheet:
    """Plays the stories; everything random comes from ``rng``, in a fixed order."""

    def __init__(self, rng: random.Random, now: datetime, people: dict[str, User]):
        self.rng, self.now, self.people = rng, now, people
        self.rules = sla.load_rules()
        self.zone = current_app.config["SHOP_TZ"]
        self.orders = Planner(rng, now)  # order numbers as each platform writes them
        self.made = 0

    def ago(self, hours: float) -> datetime:
        return self.now - timedelta(hours=hours)

    def step(self, at: datetime, action):
        """One step at the moment it happened: its timeline events carry that moment (they are new, not updated)."""
        with db.session.no_autoflush:
            result = action()
        _stamp_new_events(at)
        return result

    def local_time(self, day: datetime, hour: int) -> datetime:
        return day.astimezone(self.zone).replace(hour=hour, minute=0, second=0, microsecond=0).astimezone(UTC)

    def phone(self) -> str:
        return self.rng.choice(PHONE_PREFIXES) + f"{self.rng.randrange(10**8):08d}"

    # order-number items --------------------------------------------------------------------------

    def tell(self, story: dict) -> None:
        kind, raiser = story["kind"], self.people[story["raiser"]]
        team = flow.team_for_kind(kind)
        if team is None:
            return
        raised_at = self.ago(story["ago"])
        details = {key: story[key] for key in ("invoice_details", "items_to_send", "share_phone") if key in story}
        if "return_carrier" in story:
            carrier = story["return_carrier"]
            details["return_tracking_no"] = carrier + f"{self.rng.randrange(10 ** CARRIER_DIGITS[carrier]):0{CARRIER_DIGITS[carrier]}d}"
        if "appointment" in story:
            days, hour = story["appointment"]
            details.update(address=self.rng.choice(ADDRESSES), contact_phone=self.phone(),
                           appointment_at=self.local_time(self.now + timedelta(days=days), hour))
        order_no = self.orders.order_no(story["platform"], raised_at - timedelta(days=self.rng.uniform(1, 6)))
        item = self.step(raised_at, lambda: flow.raise_handoff(kind=kind, raiser=raiser, owed_team=team, request=story["request"],
                                                               now=raised_at, order_no=order_no, **details))
        item.updated_at = raised_at
        self.made += 1
        for op, hours, who, arg in story["steps"]:
            self.play(item, op, self.ago(hours), who, arg)

    def play(self, item: Handoff, op: str, at: datetime, who: str, arg) -> None:
        user = self.people.get(who)
        party = "" if user is not None else who
        if op == "link":
            self.step(at, lambda: flow.create_link(item, arg, user, at))
        elif op == "ack":
            expected = item.appointment_at + timedelta(hours=2) if arg == "appointment" else at + timedelta(hours=arg)
            self.step(at, lambda: flow.acknowledge(item, user, expected, at, party=party, rules=self.rules))
        elif op == "follow":
            self.step(at, lambda: flow.follow_up(item, user, arg, at, party=party))
        elif op == "done":
            self.step(at, lambda: flow.mark_done(item, user, arg, at, party=party, rules=self.rules))
        elif op == "back":
            self.step(at, lambda: flow.send_back(item, user, arg, at))
        elif op == "close":
            self.step(at, lambda: flow.close(item, user, at))
        else:
            raise ValueError(op)
        item.updated_at = at

    # items on routed cases ---------------------------------------------------------------------

    def routed_cases(self, open_count: int = 6, closed_count: int = 3) -> None:
        """Handoffs for cases whose timeline shows them routed to a team, raised at that moment.

        The case rows stay as the case demo left them: the routing and the department's answer are already
        on them, so acknowledging at the answer's moment leaves the department clock where it is.
        """
        shown = sa.exists().where(TimelineEvent.subject_type == "case", TimelineEvent.subject_id == Case.id,
                                  TimelineEvent.action == "milestone")
        cases = db.session.scalars(sa.select(Case).where(Case.routed_at.is_not(None), shown).order_by(Case.id)).all()
        teams = {team.name: team for team in db.session.scalars(sa.select(Team).where(Team.active))}
        cases = [case for case in cases if case.routed_to in teams and teams[case.routed_to].function in ROUTED_ASKS]
        still_open = [case for case in cases if case.state != "closed"]
        closed = [case for case in cases if case.state == "closed"]
        chosen = self.rng.sample(still_open, min(open_count, len(still_open))) + self.rng.sample(closed, min(closed_count, len(closed)))
        for case in sorted(chosen, key=lambda case: case.id):
            self.routed(case, teams[case.routed_to])

    def routed(self, case: Case, team: Team) -> None:
        function, kind = team.function, KIND_FOR_FUNCTION[team.function]
        raiser = case.assignee if case.assignee is not None and case.assignee.active else self.people["agent1"]
        responder = self.people[RESPONDERS.get(function, "lead")]
        ask, answer = ROUTED_ASKS[function], ROUTED_ANSWERS[function]
        if isinstance(ask, dict):
            ask, answer = ask.get(case.kind, ask[""]), answer.get(case.kind, answer[""])
        routed_at, answered_at = case.routed_at, case.department_response_at
        details = {}
        if kind == "installer":
            details = {"address": self.rng.choice(ADDRESSES), "share_phone": bool(case.buyer_phone),
                       "appointment_at": self.local_time(routed_at + timedelta(days=1), self.rng.choice((10, 15)))}
        item = self.step(routed_at, lambda: flow.raise_handoff(kind=kind, raiser=raiser, owed_team=team, request=ask,
                                                               now=routed_at, case=case, **details))
        item.updated_at = routed_at
        self.made += 1
        if answered_at is None:  # the department has not answered yet: the item waits, and the raiser chases it
            if self.now - routed_at > flow.ack_window() and self.rng.random() < 0.6:
                chased = routed_at + (self.now - routed_at) * 0.8
                self.play(item, "follow", chased, raiser.username, self.rng.choice(CHASERS))
            return
        self.play(item, "ack", answered_at, responder.username, self.rng.choice((2, 4, 8)))
        if case.state in ("resolved", "closed"):  # the case is finished: so is its handoff, before it
            span = max((case.resolved_at or case.closed_at or answered_at) - answered_at, timedelta())
            self.play(item, "done", answered_at + span * 0.5, responder.username, answer)
            self.play(item, "close", answered_at + span * 0.8, raiser.username, "")
        elif self.rng.random() < 0.5:
            self.play(item, "done", answered_at + (self.now - answered_at) * 0.6, responder.username, answer)

    # the end-of-shift handoff -----------------------------------------------------------------------

    def shift(self) -> None:
        """One agent's unfinished cases offered to the other, not yet accepted: the cases stay with the giver."""
        pairs = [(giver, receiver) for giver, receiver in (("agent2", "agent1"), ("agent1", "agent2"))
                 if flow.unfinished_cases(self.people[giver])]
        if not pairs:
            return
        giver, receiver = (self.people[name] for name in pairs[0])
        notes = {case.id: note for case, note in zip(flow.unfinished_cases(giver), SHIFT_CASE_NOTES, strict=False)}
        at = self.ago(0.75)
        item = self.step(at, lambda: flow.hand_over_shift(giver, receiver, notes, SHIFT_NOTE, at))
        item.updated_at = at
        self.made += 1
