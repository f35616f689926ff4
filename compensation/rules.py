"""Compensation rules: who may approve what, and how a refund is netted against what was paid.

Plain functions over models and Decimals; the views only parse input and call them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from models import CENT, Case, Compensation, User, UserError, db, record

MAX_AMOUNT = Decimal("100000")  # a sane upper bound for one request


class CompensationRefused(UserError):
    """A request, decision or payment the rules do not allow."""


def covers(user: User, amount: Decimal) -> bool:
    """Does this person's own limit cover the amount? No limit (None) covers everything."""
    return user.compensation_limit is None or amount <= user.compensation_limit


def request(case: Case, requester: User, amount: Decimal, reason: str, payout: str, note: str, now: datetime) -> Compensation:
    """Record a request; within the requester's own limit it is approved at once."""
    amount = amount.quantize(CENT)
    if amount <= 0 or amount > MAX_AMOUNT:
        raise CompensationRefused(_l("Enter an amount above 0 and at most 100,000 yuan."))
    item = Compensation(case_id=case.id, shop_id=case.shop_id, platform=case.platform, order_no=case.order_no,
                        amount=amount, reason=reason, payout=payout, note=note.strip(), requester_id=requester.id,
                        created_at=now)
    db.session.add(item)
    db.session.flush()
    record(requester, "case", case.id, "compensation_requested", compensation=item.id, amount=amount, reason=reason)
    if covers(requester, amount):
        item.status, item.auto_approved, item.decided_by_id, item.decided_at = "approved", True, requester.id, now
        item.requester_saw_decision = True
        record(requester, "case", case.id, "compensation_decided", compensation=item.id, amount=amount,
               decision="approved", auto=True)
    return item


def refusal_to_decide(item: Compensation, approver: User, approving: bool = True) -> str | None:
    """Why this person may not decide this request, or None when they may.

    Approving needs a limit that covers the amount; rejecting does not.
    """
    if not approver.can("approve_compensation"):
        return str(_l("Your role does not approve compensation."))
    if item.requester_id == approver.id:
        return str(_l("Nobody approves their own request."))
    if item.status != "pending":
        return str(_l("This request has been decided already."))
    if approving and not covers(approver, item.amount):
        return str(_l("¥%(amount)s is over your limit of ¥%(limit)s: forward it to a manager.",
                      amount=item.amount, limit=approver.compensation_limit))
    return None


def decide(item: Compensation, approver: User, approve: bool, note: str, now: datetime) -> None:
    """Approve or reject once. The conditional update makes a simultaneous second decision fail."""
    problem = refusal_to_decide(item, approver, approving=approve)
    if problem:
        raise CompensationRefused(problem)
    status = "approved" if approve else "rejected"
    result = db.session.execute(
        sa.update(Compensation)
        .where(Compensation.id == item.id, Compensation.status == "pending")
        .values(status=status, decided_by_id=approver.id, decided_at=now, decision_note=note.strip(),
                version=Compensation.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise CompensationRefused(_l("Someone decided this request a moment before you."))
    record(approver, "case", item.case_id, "compensation_decided", compensation=item.id, amount=item.amount,
           decision=status, note=note.strip())
    db.session.expire(item)


def forward(item: Compensation, lead: User, note: str, now: datetime) -> None:
    """A lead sends what is over their own limit on to the managers."""
    if item.status != "pending" or item.forwarded_at is not None:
        raise CompensationRefused(_l("Only a pending request that has not been forwarded can be forwarded."))
    if item.requester_id == lead.id or not lead.can("approve_compensation"):
        raise CompensationRefused(_l("Your role does not approve compensation."))
    item.forwarded_by_id, item.forwarded_at = lead.id, now
    record(lead, "case", item.case_id, "compensation_forwarded", compensation=item.id, amount=item.amount, note=note.strip())


def mark_paid(item: Compensation, user: User, channel: str, reference: str, now: datetime) -> None:
    is_finance = user.team is not None and user.team.function == "finance"
    if user.id != item.requester_id and not is_finance:
        raise CompensationRefused(_l("The requester or finance marks a compensation paid."))
    if item.status != "approved":
        raise CompensationRefused(_l("Only an approved compensation can be paid."))
    item.status, item.paid_by_id, item.paid_at = "paid", user.id, now
    item.paid_channel, item.paid_reference = channel, reference.strip()[:100]
    record(user, "case", item.case_id, "compensation_paid", compensation=item.id, amount=item.amount,
           channel=channel, reference=item.paid_reference)


def queue_for(user: User):
    """Pending requests this person should look at, oldest first.

    A lead sees what waits for a lead (not yet forwarded); a manager sees everything pending.
    Nobody sees their own request in their queue.
    """
    stmt = sa.select(Compensation).where(Compensation.status == "pending", Compensation.requester_id != user.id)
    if user.role == "lead":
        stmt = stmt.where(Compensation.forwarded_at.is_(None))
    elif user.role != "manager":
        return None
    return stmt.order_by(Compensation.created_at, Compensation.id)


@dataclass
class Netting:
    """A proposed refund and how it was reached."""

    order_amount: Decimal
    deductions: list = field(default_factory=list)      # paid compensations and price differences
    not_deducted: list = field(default_factory=list)    # approved, not paid: shown with a warning

    @property
    def deducted(self) -> Decimal:
        return sum((item.amount for item in self.deductions), Decimal("0.00"))

    @property
    def proposed(self) -> Decimal:
        return max(Decimal("0.00"), self.order_amount - self.deducted).quantize(CENT)


def order_compensations(platform: str, order_no: str):
    return (sa.select(Compensation)
            .where(Compensation.platform == platform, Compensation.order_no == order_no)
            .order_by(Compensation.created_at, Compensation.id))


def netting(case: Case, on_order: list[Compensation] | None = None) -> Netting:
    """The refund for a return: the order amount less what was already paid on this order.

    ``on_order``: the order's compensations, when the caller has them already.
    Paid compensations and price differences on any case of the same order are deducted.
    Rejected and pending ones are not. An approved one that is not paid yet is not deducted
    either: the buyer is returning the item, so it should be withdrawn rather than paid; the
    page shows it with that warning.
    """
    result = Netting(order_amount=case.order_amount)
    if on_order is None:
        on_order = db.session.scalars(order_compensations(case.platform, case.order_no)).all()
    for item in on_order:
        if item.status == "paid":
            result.deductions.append(item)
        elif item.status == "approved":
            result.not_deducted.append(item)
    return result


def set_refund(case: Case, amount: Decimal, reason: str, user: User, proposal: Netting) -> None:
    """The agent's refund: the proposal, or another amount with a reason in the timeline."""
    amount = amount.quantize(CENT)
    if amount < 0 or amount > case.order_amount:
        raise CompensationRefused(_l("The refund must be between 0 and the order amount."))
    if amount != proposal.proposed and not reason.strip():
        raise CompensationRefused(_l("Say why the refund differs from the proposed ¥%(amount)s.", amount=proposal.proposed))
    before = case.refund_amount
    case.refund_amount = amount
    record(user, "case", case.id, "refund_set", **{"from": before, "to": amount, "proposed": proposal.proposed,
                                                   "deducted": proposal.deducted, "reason": reason.strip()})


def case_section(case: Case) -> dict:
    """What the case page shows about money: every compensation on this order and, for a return, the refund proposal."""
    items = db.session.scalars(order_compensations(case.platform, case.order_no)).all()
    return {"compensations": items, "netting": netting(case, items) if case.kind == "return_refund" else None}


def unseen_decisions(items: list[Compensation], user: User) -> list[Compensation]:
    return [item for item in items if item.requester_id == user.id and item.status != "pending" and not item.requester_saw_decision]


def mark_decisions_seen(case: Case, user: User) -> int:
    """The requester saw the decisions on this case's order. A plain UPDATE, no version bump: it cannot
    conflict with a decision made at the same moment (that one is seen on the next visit)."""
    result = db.session.execute(
        sa.update(Compensation)
        .where(Compensation.platform == case.platform, Compensation.order_no == case.order_no,
               Compensation.requester_id == user.id, Compensation.status != "pending",
               Compensation.requester_saw_decision.is_(False))
        .values(requester_saw_decision=True)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount:
        record(user, "case", case.id, "compensation_seen", count=result.rowcount)
    return result.rowcount


def header_count(user: User) -> tuple[bool, int]:
    """(is an approver, the number for the header): requests waiting for them, or decisions they have not seen."""
    statement = queue_for(user)
    if statement is not None:
        return True, db.session.scalar(sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())) or 0
    return False, db.session.scalar(sa.select(sa.func.count()).where(
        Compensation.requester_id == user.id, Compensation.status != "pending", Compensation.requester_saw_decision.is_(False))) or 0
