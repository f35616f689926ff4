"""Demo scoring (考核): last month published at the Tmall shop, with an appeal answered, and this month a draft.

Last month has the industry values (行业值) and the shop's own figures as the marketplace's back office shows
them, paid orders in proportion to the shop's demo cases, a ¥6,000 bonus pool, and the lead's judgement of
every scored agent with a short reason (the manager judges the lead, who works cases too). It is published,
then one agent appeals the attribution of one case behind a figure and the lead accepts it, moving the case
to nobody. This month is a draft with the industry values entered so far and no judgements yet.

Everything goes through scoring.months, so the month's history says who did what and when: the steps
happen in the first two days after the month's end (sooner when the demo's now is sooner).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from flask import current_app

from compensation.report import month_bounds
from demo.accounts import SHOPS
from models import Case, ScoreAttribution, ScoreMonth, Shop, TimelineEvent, User, db, latest_event_id
from scoring import figures, months, rules

BONUS_POOL = Decimal("6000.00")
STEPS_WITHIN = timedelta(days=2)  # last month is entered, judged, published and appealed within this
MAX_TRIED = 40                    # cases tried for the appeal, each with the month computed once
ORDERS_PER_CASE = (22, 30)        # paid orders per after-sales case closed: about 4 % of orders need after-sales

# A part's judgement and the lead's reason, by the part's kind and the value given.
POINTS_REASONS = {
    10: "交办事项全部按时完成，还主动整理了退款话术",
    9: "交办事项按时完成，大促期间加班跟进工单",
    8: "大部分按时完成，个别工单跟进偏慢",
    7: "交办事项完成，但有两单超时后才回复买家",
    6: "需要多次提醒才完成交办，工单备注不全",
}
LEVEL_REASONS = {
    "active": "主动帮同事接手积压工单，交接清楚",
    "passive": "安排的协作能完成，但很少主动补位",
    "uncooperative": "排班调整不配合，影响了晚班交接",
}
DONE_REASONS = {"yes": "全勤，日报和交接按时提交", "no": "本月迟到两次，有一天交接记录缺失"}

# The appeal: a case of the first part with such a case behind an agent's figure (the slowest refund first), and
# the lead agrees.
APPEALABLE = (
    ("dispute_rate", lambda case: case.kind == figures.DISPUTE_KIND and case.outcome == "upheld",
     "这单纠纷是快递签收后丢件，平台判了店铺责任，我当天就转给物流组跟进了，不应计入我的纠纷率",
     "核实属实：物流丢件导致的纠纷，已找快递公司追偿，这单不计入任何人的考核"),
    ("complaints", lambda case: case.kind == figures.COMPLAINT_KIND and case.outcome == "upheld",
     "这单投诉是安装师傅爽约引起的，我接手前买家已经投诉了，不应算我的",
     "核实属实：投诉在你接手前已发起，这单不计入任何人的考核"),
    ("self_completion_rate", lambda case: case.platform_intervened,
     "这单是买家直接申请平台介入的，我还没来得及处理，不应算在我的自主完结率里",
     "核实属实：买家在首次联系前就申请了小二介入，这单不计入任何人的考核"),
    ("completion_time", lambda case: case.kind == figures.RETURN_KIND and case.refunded_at is not None,
     "这单买家拖了好几天才寄回退货，退款时长是等快递拉长的，不是我处理慢",
     "核实属实：买家延迟寄回，时长不由客服决定，这单不计入任何人的考核"),
    ("retained_returns", lambda case: case.category == "seven_day_return" and case.outcome != "retained",
     "这单退货是七天无理由，买家已经寄回，没有挽回的余地，不应计入我的退货挽回",
     "核实属实：七天无理由且已寄回，这单不计入任何人的考核"),
)


def create_scoring(rng: random.Random, now: datetime) -> int:
    """Last month published and this month a draft at each Tmall shop (or the first demo shop); returns how many
    months were made. A shop that has scoring months already is left as it is."""
    zone = current_app.config["SHOP_TZ"]
    lead, manager = (db.session.scalar(User.by_username(name)) for name in ("lead", "manager"))
    if lead is None or manager is None:
        return 0
    by_name = {shop.name: shop for shop in db.session.scalars(sa.select(Shop).where(Shop.active.is_(True)))}
    demo_shops = [by_name[name] for _, name in SHOPS if name in by_name]
    chosen = [shop for shop in demo_shops if shop.platform == "tmall"] or demo_shops[:1]
    made = 0
    this_month = now.astimezone(zone).strftime("%Y-%m")
    last_month = (now.astimezone(zone).replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    for shop in chosen:
        if db.session.scalar(sa.select(ScoreMonth.id).where(ScoreMonth.shop_id == shop.id).limit(1)) is not None:
            continue
        published = months.month_for(shop, last_month, create=True)
        month_end = months.month_end(published, zone)
        span = min(max(now - month_end, timedelta()), STEPS_WITHIN)
        at = lambda share, end=month_end, span=span: end + span * share  # noqa: E731 - the steps' times, in order
        _publish_last_month(rng, published, lead, manager, at, zone)
        draft = months.month_for(shop, this_month, create=True)
        _step(at(0.95), lambda draft=draft: months.save_values(draft, _industry(rng), {}, None, lead))
        draft.updated_at = at(0.95)
        made += 2
    db.session.commit()
    return made


def _step(when: datetime, action):
    """Run a scoring step and date its timeline events ``when``: the months functions flush on their own, so
    the events are dated after the step rather than before the flush (demo.cases._stamp_new_events)."""
    before = latest_event_id()
    result = action()
    db.session.flush()
    db.session.execute(sa.update(TimelineEvent).where(TimelineEvent.id > before).values(created_at=when))
    return result


def _decimal(rng: random.Random, low: str, high: str, places: str) -> str:
    step = Decimal(places)
    lowest, highest = int(Decimal(low) / step), int(Decimal(high) / step)
    return str(Decimal(rng.randint(lowest, highest)) * step)


def _industry(rng: random.Random) -> dict:
    """A furniture-and-appliances category's industry values as Tmall shows them."""
    return {"dispute_rate": _decimal(rng, "0.30", "0.60", "0.01"),
            "self_completion_rate": _decimal(rng, "85", "92", "0.1"),
            "refund_only_days": _decimal(rng, "1.5", "2.5", "0.1"),
            "return_refund_days": _decimal(rng, "4", "6", "0.1"),
            **{f"dsr_{item}": _decimal(rng, "4.70", "4.80", "0.01") for item in figures.DSR_ITEMS}}


def _shop_figures(rng: random.Random, score_month: ScoreMonth, industry: dict, zone) -> dict:
    """Paid orders in proportion to the cases the shop closed in the month; each DSR rating 20–50 % above the
    industry's, as "高于同行业 x%" (the gap over what the industry leaves to 5.0)."""
    start, end = month_bounds(score_month.month, zone)
    closed = db.session.scalar(sa.select(sa.func.count()).select_from(Case).where(
        Case.shop_id == score_month.shop_id, Case.state == "closed", Case.closed_at >= start, Case.closed_at < end))
    shop = {"paid_orders": str(max(closed, 1) * rng.randint(*ORDERS_PER_CASE) // 10 * 10)}
    for item in figures.DSR_ITEMS:
        versus = Decimal(_decimal(rng, "20", "50", "0.01"))
        reference = Decimal(industry[f"dsr_{item}"])
        rating = reference + (Decimal(5) - reference) * versus / 100
        shop[f"dsr_{item}"] = str(rating.quantize(Decimal("0.01"), ROUND_HALF_UP))
        shop[f"dsr_{item}_vs_industry"] = str(versus)
    return shop


def _judgement(rng: random.Random, part: dict) -> tuple[str, str]:
    if part["kind"] == rules.JUDGEMENT_POINTS:
        points = min(part["max_points"], max(part["min_points"], rng.choice((6, 7, 8, 8, 9, 9, 10))))
        return str(points), POINTS_REASONS.get(points, "按组长评定")
    if part["kind"] == rules.JUDGEMENT_LEVELS:
        keys = [level["key"] for level in part["levels"]]
        key = rng.choices(keys, [6, 3, 1][:len(keys)] + [1] * (len(keys) - 3))[0]
        return key, LEVEL_REASONS.get(key, "按组长评定")
    done = "yes" if rng.random() < 0.8 else "no"
    return done, DONE_REASONS[done]


def _publish_last_month(rng: random.Random, score_month: ScoreMonth, lead: User, manager: User, at, zone) -> None:
    industry = _industry(rng)
    shop_figures = _shop_figures(rng, score_month, industry, zone)
    _step(at(0.05), lambda: months.save_values(score_month, industry, shop_figures, BONUS_POOL, lead))
    rule_set = months.in_force(score_month.shop, months.month_end(score_month, zone))[1]
    table = months.compute(score_month, zone, at(0.1))
    parts = [part for part in rule_set["parts"] if part["kind"] in rules.JUDGEMENT_KINDS]
    users = {user.id: user for user in db.session.scalars(sa.select(User).where(
        User.id.in_([row["user_id"] for row in table.agents])))}
    for index, row in enumerate(table.agents):
        judge = manager if row["user_id"] == lead.id else lead  # nobody judges themselves
        when = at(0.1 + 0.2 * index / max(len(table.agents), 1))
        for part in parts:
            value, reason = _judgement(rng, part)
            _step(when, lambda part=part, value=value, reason=reason, row=row, judge=judge, when=when: months.save_judgement(
                score_month, rule_set, users[row["user_id"]], part["key"], value, reason, judge, when))
    _step(at(0.4), lambda: months.publish(score_month, lead, at(0.4), zone))
    _appeal_and_accept(score_month, lead, at, zone)
    score_month.updated_at = at(0.8)


def _appeal_and_accept(score_month: ScoreMonth, lead: User, at, zone) -> None:
    """One agent's appeal of one case's attribution, accepted by the lead: the case counts for nobody. The case is
    the first (in APPEALABLE's order) whose move raises the agent's total, so the demo shows a score change; else
    one that leaves it as it is."""
    candidates = list(_candidates(score_month, lead))
    if not candidates:
        return
    totals = {row["user_id"]: Decimal(row["total"]) for row in score_month.snapshot["agents"]}

    def effect(found) -> int:  # 0: the total rises, 1: it stays, 2: it falls (the case was helping the agent)
        after = _total_without(score_month, found[0], found[2], zone, at(0.5))
        return 0 if after > totals[found[0]] else 1 if after == totals[found[0]] else 2

    user_id, part, case_id, comment, answer = min(candidates[:MAX_TRIED], key=effect)
    agent = db.session.get(User, user_id)
    item = _step(at(0.55), lambda: months.appeal(score_month, agent, part, case_id, comment, at(0.55)))
    _step(at(0.8), lambda: months.accept(item, score_month, answer, lead, at(0.8), zone))


def _candidates(score_month: ScoreMonth, lead: User):
    """(agent, part, case, comment, answer) for each case an agent could fairly appeal, the likeliest first."""
    evidence = score_month.snapshot.get("evidence", {})
    ids = {case_id for parts in evidence.values() for found in parts.values() for case_id in found}
    cases = {case.id: case for case in db.session.scalars(sa.select(Case).where(Case.id.in_(ids)))}
    for part, fits, comment, answer in APPEALABLE:
        for row in score_month.snapshot["agents"]:
            if row["user_id"] != lead.id:  # the lead's own appeal would go to the manager
                found = [cases[case_id] for case_id in evidence.get(str(row["user_id"]), {}).get(part, []) if case_id in cases]
                for case in sorted(found, key=_refund_time, reverse=True):
                    if fits(case):
                        yield row["user_id"], part, case.id, comment, answer


def _refund_time(case: Case) -> timedelta:
    return case.refunded_at - case.received_at if case.refunded_at else timedelta()


def _total_without(score_month: ScoreMonth, user_id: int, case_id: int, zone, now: datetime) -> Decimal:
    """The agent's total were the case to count for nobody: tried with a moved attribution, then taken back."""
    trial = ScoreAttribution(score_month_id=score_month.id, case_id=case_id, from_user_id=user_id, to_user_id=None)
    db.session.add(trial)
    db.session.flush()
    total = Decimal(months.compute(score_month, zone, now).agent(user_id)["total"])
    db.session.delete(trial)
    db.session.flush()
    return total
