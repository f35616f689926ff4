"""Demo compensation requests in every state, and a budget per shop for this month."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from compensation import rules
from demo.cases import _stamp_new_events
from models import Case, Compensation, CompensationBudget, Shop, User, db

# Amount, reason, payout, note, and what happens next: within the agent's limit, waiting,
# forwarded by the lead, approved, rejected, paid.
COMPENSATION_STORIES = [
    ("10.00", "goodwill", "alipay", "外箱有压痕，买家不退货，小额安抚", "within"),
    ("15.00", "defect", "alipay", "配件有划痕，买家同意补偿不退换", "paid"),
    ("18.00", "freight", "wechat", "买家自付了退货运费，应由店铺承担", "within"),
    ("35.00", "price_difference", "platform_partial_refund", "下单第二天降价，补差价", "waiting"),
    ("50.00", "bad_review_threat", "alipay", "买家说不解决就给差评，先安抚再解决问题", "approved"),
    ("80.00", "defect", "alipay", "柜门开裂，买家接受补偿不换货", "waiting"),
    ("120.00", "size_description", "coupon", "页面尺寸写错，买家勉强接受", "rejected"),
    ("260.00", "defect", "alipay", "桌面大面积划伤，买家要求高额补偿", "forwarded"),
    ("20.00", "goodwill", "coupon", "物流慢了三天，送一张优惠券", "paid"),
    ("45.00", "defect", "alipay", "电机异响，补偿后买家继续使用", "approved"),
]


# Which cases a story may happen on: a decided request may sit on a closed case, one still waiting only on a case
# that is still being worked.
DECIDED_FATES = ("within", "approved", "rejected", "paid")
WORKED_STATES = ("in_progress", "waiting", "resolved")


def create_compensations(rng: random.Random, now: datetime) -> int:
    """Requests in every state, through the real rules, on cases an agent is working or has closed.

    Each request is asked by the case's assignee while the case was open, decided and paid after that, and
    never pays back more than the buyer paid on the order (refunds included).
    """
    if db.session.scalar(sa.select(sa.func.count()).select_from(Compensation)):
        return 0
    people = {user.username: user for user in db.session.scalars(sa.select(User))}
    if not {"agent1", "agent2", "lead", "manager"} <= set(people):
        return 0
    agents = [people["agent1"].id, people["agent2"].id]
    cases = db.session.scalars(
        sa.select(Case).where(Case.assignee_id.in_(agents), Case.state.in_((*WORKED_STATES, "closed")))
        .order_by(Case.received_at.desc()).limit(80)).all()
    # (platform, order no.) -> what the buyer got back on the order: refunds on all its cases, as rules.paid_back counts
    paid_back = defaultdict(Decimal)
    for platform, order_no, refund in db.session.execute(
            sa.select(Case.platform, Case.order_no, Case.refund_amount).where(Case.refund_amount.is_not(None))):
        paid_back[(platform, order_no)] += refund
    made = 0
    for story in COMPENSATION_STORIES * 2:
        amount, reason, payout, note, fate = story
        fits = [case for case in cases
                if (case.state in WORKED_STATES or fate in DECIDED_FATES)
                and paid_back[(case.platform, case.order_no)] + Decimal(amount) <= case.order_amount]
        if not fits:
            continue
        case = rng.choice(fits)
        cases.remove(case)
        paid_back[(case.platform, case.order_no)] += Decimal(amount)
        asked, decided, paid = _moments(rng, case, now)
        asker = case.assignee
        item = _step(asked, rules.request, case, asker, Decimal(amount), reason, payout, note, asked)
        if fate == "forwarded":
            _step(decided, rules.forward, item, people["lead"], "超出组长权限", decided)
        elif fate in ("approved", "paid"):
            approver = people["lead"] if item.amount <= (people["lead"].compensation_limit or item.amount) else people["manager"]
            if item.status == "pending":
                _step(decided, rules.decide, item, approver, True, "同意", decided)
            if fate == "paid":
                db.session.flush()  # an approval within the asker's limit is on the object only, until flushed
                db.session.refresh(item)  # a decision by a lead is in the database only
                _step(paid, rules.mark_paid, item, asker, payout, f"DEMO{item.id:06d}", paid)
        elif fate == "rejected":
            _step(decided, rules.decide, item, people["lead"], False, "证据不足，先让买家补充照片", decided)
        made += 1
    month = now.astimezone(current_app.config["SHOP_TZ"]).strftime("%Y-%m")
    for shop in db.session.scalars(sa.select(Shop)):
        db.session.add(CompensationBudget(shop_id=shop.id, month=month, amount=Decimal("500.00")))
    db.session.commit()
    return made


def _step(at: datetime, action, *args):
    """One step at the moment it happened: its timeline events carry that moment, not the loading time."""
    with db.session.no_autoflush:  # a flush in the middle would stamp the events with the clock
        result = action(*args)
    _stamp_new_events(at)
    return result


def _moments(rng: random.Random, case: Case, now: datetime) -> tuple[datetime, datetime, datetime]:
    """When the request was asked, decided and paid: in that order, after the first reply and before closing."""
    start = case.first_reply_at or case.received_at
    end = case.resolved_at or case.closed_at or now
    if end <= start:
        end = now
    span = end - start
    asked = start + span * rng.uniform(0.1, 0.4)
    decided = asked + (end - asked) * rng.uniform(0.2, 0.5)
    paid = decided + (end - decided) * rng.uniform(0.2, 0.6)
    return asked, decided, paid
