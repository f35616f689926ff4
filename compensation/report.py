"""The money overview: per shop and month, requested, approved, paid and budget; paid by reason and by party."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import gettext as _

from cases.labels import RESPONSIBILITIES
from compensation.labels import COMPENSATION_REASONS
from models import Case, Compensation, CompensationBudget, Shop, db

MONTH = re.compile(r"^20\d\d-(0[1-9]|1[0-2])$")


def month_bounds(month: str, zone: tzinfo) -> tuple[datetime, datetime]:
    """The month's first and next month's first moment, in the shop's zone, as aware datetimes."""
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=zone)
    return start, end


def month_of(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m")


def overview_rows(month: str, zone: tzinfo) -> dict:
    """Per shop: requested, approved, paid, budget; and paid by reason and by responsibility."""
    start, end = month_bounds(month, zone)
    in_month = (Compensation.created_at >= start, Compensation.created_at < end)
    zero = Decimal("0.00")
    requested = sa.func.coalesce(sa.func.sum(Compensation.amount), zero)
    approved = sa.func.coalesce(sa.func.sum(sa.case((Compensation.status.in_(("approved", "paid")), Compensation.amount), else_=zero)), zero)
    paid = sa.func.coalesce(sa.func.sum(sa.case((Compensation.status == "paid", Compensation.amount), else_=zero)), zero)
    per_shop = {row.shop_id: row for row in db.session.execute(
        sa.select(Compensation.shop_id, requested.label("requested"), approved.label("approved"), paid.label("paid"),
                  sa.func.count().label("count"))
        .where(*in_month).group_by(Compensation.shop_id))}
    budgets = dict(db.session.execute(sa.select(CompensationBudget.shop_id, CompensationBudget.amount).where(CompensationBudget.month == month)).all())
    shops = db.session.scalars(sa.select(Shop).order_by(Shop.platform, Shop.name)).all()
    rows = []
    for shop in shops:
        row = per_shop.get(shop.id)
        spent = Decimal(row.approved) if row else zero
        budget = budgets.get(shop.id)
        rows.append({"shop": shop, "count": row.count if row else 0, "requested": Decimal(row.requested) if row else zero,
                     "approved": spent, "paid": Decimal(row.paid) if row else zero, "budget": budget,
                     "left": (budget - spent) if budget is not None else None})
    committed = Compensation.status.in_(("approved", "paid"))
    by_reason = db.session.execute(sa.select(Compensation.reason, sa.func.sum(Compensation.amount), sa.func.count())
                                   .where(*in_month, committed).group_by(Compensation.reason)).all()
    by_party = db.session.execute(sa.select(Case.responsibility, sa.func.sum(Compensation.amount), sa.func.count())
                                  .join(Case, Case.id == Compensation.case_id)
                                  .where(*in_month, committed).group_by(Case.responsibility)).all()
    return {"rows": rows, "by_reason": [(COMPENSATION_REASONS.get(r, r), Decimal(a), n) for r, a, n in by_reason],
            "by_party": [(RESPONSIBILITIES.get(p, _("not closed yet")) if p else _("not closed yet"), Decimal(a), n) for p, a, n in by_party],
            "totals": {key: sum((row[key] for row in rows), zero) for key in ("requested", "approved", "paid")}}


def overview_sheet(data: dict) -> list[list]:
    """The overview as the rows of one CSV sheet: shops, then reasons, then responsible parties."""
    rows = [[_("Shop"), _("Requests"), _("Requested"), _("Approved"), _("Paid"), _("Budget"), _("Budget left")]]
    for row in data["rows"]:
        rows.append([row["shop"].name, row["count"], row["requested"], row["approved"], row["paid"], row["budget"], row["left"]])
    rows += [[], [_("Reason"), _("Approved"), _("Requests")]]
    rows += [[str(label), amount, count] for label, amount, count in data["by_reason"]]
    rows += [[], [_("Responsible party"), _("Approved"), _("Requests")]]
    rows += [[str(label), amount, count] for label, amount, count in data["by_party"]]
    return rows
