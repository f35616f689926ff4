"""Compensation rules: who may approve what, and how a refund is netted against what was paid.

Plain functions over models and Decimals; the views only parse input and call them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from models import CENT, Case, Compensation, User, UserError, db, record

MAX_AMOUNT = Decimal("100000")  # a sane upper bound for one request
ZERO = Decimal("0.00")
OVER_ORDER_REASON_LENGTH = (2, 200)  # the approver's reason for paying back more than the buyer paid


class CompensationRefused(UserError):
    """A request, decision or payment the rules do not allow."""


def covers(user: User, amount: Decimal) -> bool:
    """Does this person's own limit cover the amount? No limit (None) covers everything."""
    return user.compensation_limit is None or amount <= user.compensation_limit


def request(case: Case, requester: User, amount: Decimal, reason: str, payout: str, note: str, now: datetime) -> Compensation:
    """Record a request; within the requester's own limit it is approved at once, unless it would pay back more
    than the buyer paid on the order: then it waits for a lead or manager, who must confirm it with a reason."""
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
        figures = paid_back([item])[item.id]
        if figures.exceeds:
            record(requester, "case", case.id, "compensation_held", compensation=item.id, amount=amount,
                   **figures.detail())
            return item
        item.status, item.auto_approved, item.decided_by_id, item.decided_at = "approved", True, requester.id, now
        item.requester_saw_decision = True
        record(requester, "case", case.id, "compensation_decided", compensation=item.id, amount=amount,
               decision="approved", auto=True)
    return item


def held_over_order(item: Compensation, requester: User) -> bool:
    """Was this request kept from auto-approval only because it would pay back more than the buyer paid?"""
    return item.status == "pending" and covers(requester, item.amount)


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


def decide(item: Compensation, approver: User, approve: bool, note: str, now: datetime, *,
           confirm_over_order: bool = False, over_order_reason: str = "") -> None:
    """Approve or reject once. The conditional update makes a simultaneous second decision fail.

    A rejection needs a note (the requester reads why). An approval that would pay back more than the buyer
    paid on the order (``paid_back``) needs ``confirm_over_order`` and a reason; both go into the timeline.
    """
    problem = refusal_to_decide(item, approver, approving=approve)
    if problem:
        raise CompensationRefused(problem)
    note = note.strip()
    if not approve and not note:
        raise CompensationRefused(_l("Say why you reject the request: the requester reads it."))
    over_order = {}
    if approve:
        figures = paid_back([item])[item.id]
        if figures.exceeds:
            reason = over_order_reason.strip()
            shortest, longest = OVER_ORDER_REASON_LENGTH
            if not confirm_over_order or not shortest <= len(reason) <= longest:
                raise CompensationRefused(_l(
                    "Approving ¥%(amount)s would pay back ¥%(total)s on this order, ¥%(excess)s more than the buyer "
                    "paid (¥%(paid)s). Tick the confirmation and give a reason (%(shortest)s to %(longest)s "
                    "characters) to approve it anyway.", amount=item.amount, total=figures.total,
                    excess=figures.excess, paid=figures.order_amount, shortest=shortest, longest=longest))
            over_order = {"over_order": {**figures.detail(), "confirmed": True, "reason": reason}}
    status = "approved" if approve else "rejected"
    result = db.session.execute(
        sa.update(Compensation)
        .where(Compensation.id == item.id, Compensation.status == "pending")
        .values(status=status, decided_by_id=approver.id, decided_at=now, decision_note=note,
                version=Compensation.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise CompensationRefused(_l("Someone decided this request a moment before you."))
    record(approver, "case", item.case_id, "compensation_decided", compensation=item.id, amount=item.amount,
           decision=status, note=note, **over_order)
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


@dataclass(frozen=True)
class PaidBack:
    """What an order would have paid back to the buyer if one request were approved, against what they paid.

    The over-refund guard: refunds on every case of the order, plus compensation approved or paid on it, plus
    this request, must not go above the order amount unless a lead or manager confirms it with a reason.
    Exactly the order amount is allowed.
    """

    order_amount: Decimal  # what the buyer paid
    refunded: Decimal      # refunds set on the order's cases
    compensated: Decimal   # other compensation approved or paid on the order
    this_one: Decimal

    @property
    def total(self) -> Decimal:
        return (self.refunded + self.compensated + self.this_one).quantize(CENT)

    @property
    def excess(self) -> Decimal:
        return max(ZERO, self.total - self.order_amount).quantize(CENT)

    @property
    def exceeds(self) -> bool:
        return self.total > self.order_amount

    def detail(self) -> dict:
        """The figures as the timeline keeps them."""
        return {"paid": self.order_amount, "refunded": self.refunded, "compensated": self.compensated,
                "total": self.total, "excess": self.excess}


def paid_back(items: Iterable[Compensation]) -> dict[int, PaidBack]:
    """Each request's ``PaidBack``, in two queries for any number of requests (the queue asks for all at once).

    Money is summed as Decimal here, not by the database (SQLite adds NUMERIC as floats).
    """
    items = list(items)
    if not items:
        return {}
    orders = {(item.platform, item.order_no) for item in items}
    on_order = sa.tuple_(Case.platform, Case.order_no).in_(orders)
    refunded: dict[tuple, Decimal] = defaultdict(lambda: ZERO)
    for platform, order_no, amount in db.session.execute(
            sa.select(Case.platform, Case.order_no, Case.refund_amount).where(on_order, Case.refund_amount.is_not(None))):
        refunded[(platform, order_no)] += amount
    compensated: dict[tuple, list] = defaultdict(list)
    for item_id, platform, order_no, amount in db.session.execute(
            sa.select(Compensation.id, Compensation.platform, Compensation.order_no, Compensation.amount)
            .where(sa.tuple_(Compensation.platform, Compensation.order_no).in_(orders),
                   Compensation.status.in_(("approved", "paid")))):
        compensated[(platform, order_no)].append((item_id, amount))
    figures = {}
    for item in items:
        key = (item.platform, item.order_no)
        others = sum((amount for item_id, amount in compensated[key] if item_id != item.id), ZERO)
        figures[item.id] = PaidBack(order_amount=item.case.order_amount.quantize(CENT), refunded=refunded[key].quantize(CENT),
                                    compensated=others.quantize(CENT), this_one=item.amount.quantize(CENT))
    return figures


def waiting_on(item: Compensation) -> str:
    """Whom a request waits for now (a key of labels.WAITING_ON): an approver's role, payment, or its end."""
    if item.status == "pending":
        return "manager" if item.forwarded_at is not None else "lead"
    if item.status == "approved":
        return "payment"
    return item.status  # paid, rejected


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


def unseen_decisions_of(user: User):
    """The person's own requests decided since they last looked, newest decision first (the header names it)."""
    return (sa.select(Compensation)
            .where(Compensation.requester_id == user.id, Compensation.status != "pending",
                   Compensation.requester_saw_decision.is_(False))
            .order_by(Compensation.decided_at.desc(), Compensation.id.desc()))


def mark_all_decisions_seen(user: User) -> int:
    """The requester opened their list of requests: every decision on them is seen (a timeline line per case).
    A plain UPDATE, as ``mark_decisions_seen``: a decision made at the same moment is seen on the next visit."""
    unseen = unseen_decisions_of(user).order_by(None)
    case_counts = db.session.execute(sa.select(Compensation.case_id, sa.func.count())
                                     .where(Compensation.id.in_(unseen.with_only_columns(Compensation.id)))
                                     .group_by(Compensation.case_id)).all()
    if not case_counts:
        return 0
    result = db.session.execute(
        sa.update(Compensation)
        .where(Compensation.requester_id == user.id, Compensation.status != "pending",
               Compensation.requester_saw_decision.is_(False))
        .values(requester_saw_decision=True)
        .execution_options(synchronize_session=False)
    )
    for case_id, count in case_counts:
        record(user, "case", case_id, "compensation_seen", count=count)
    return result.rowcount
