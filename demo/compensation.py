"""Demo compensation requests in every state, and a budget per shop for this month."""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from compensation import rules
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


def create_compensations(rng: random.Random, now: datetime) -> int:
    """Requests in every state, through the real rules, on some open and some closed cases."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(Compensation)):
        return 0
    people = {user.username: user for user in db.session.scalars(sa.select(User))}
    cases = db.session.scalars(sa.select(Case).order_by(Case.received_at.desc()).limit(60)).all()
    if not cases or "agent1" not in people:
        return 0
    made = 0
    for story, case in zip(COMPENSATION_STORIES * 2, rng.sample(cases, min(len(cases), 2 * len(COMPENSATION_STORIES))), strict=False):
        amount, reason, payout, note, fate = story
        asker = people[rng.choice(["agent1", "agent2"])]
        item = rules.request(case, asker, Decimal(amount), reason, payout, note, now)
        if fate == "forwarded":
            rules.forward(item, people["lead"], "超出组长权限", now)
        elif fate in ("approved", "paid"):
            approver = people["lead"] if item.amount <= (people["lead"].compensation_limit or item.amount) else people["manager"]
            if item.status == "pending":
                rules.decide(item, approver, True, "同意", now)
            if fate == "paid":
                db.session.flush()
                db.session.refresh(item)
                rules.mark_paid(item, asker, payout, f"DEMO{item.id:06d}", now)
        elif fate == "rejected":
            rules.decide(item, people["lead"], False, "证据不足，先让买家补充照片", now)
        made += 1
    month = now.astimezone(current_app.config["SHOP_TZ"]).strftime("%Y-%m")
    for shop in db.session.scalars(sa.select(Shop)):
        db.session.add(CompensationBudget(shop_id=shop.id, month=month, amount=Decimal("500.00")))
    db.session.commit()
    return made
