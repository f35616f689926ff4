"""Compensation: requests on a case, the approvers' live queue, payment, refund netting, money overview, limits."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

import compensation as rules
import live
from blueprints.common import action_answer, first_error, get_or_404, permission_required, render_page
from forms import BudgetForm, CompensationForm, DecisionForm, LimitForm, PaidForm, RefundForm
from live import HeaderCounter
from models import (
    COMPENSATION_REASONS,
    RESPONSIBILITIES,
    Case,
    Compensation,
    CompensationBudget,
    Shop,
    TimelineEvent,
    User,
    VersionConflict,
    check_version,
    db,
    latest_event_id,
    record,
    utcnow,
)

bp = Blueprint("compensation", __name__, url_prefix="/compensation")


def item_or_404(item_id: int) -> Compensation:
    return get_or_404(Compensation, item_id)


def answer(case_id: int, message: str | None = None, error: str | None = None, back: str | None = None):
    """Answer a compensation action; without htmx, back where the person was (the case page by default)."""
    return action_answer(back or url_for("cases.detail", case_id=case_id), message, error)


# --- on a case ------------------------------------------------------------------------------

def case_section(case: Case) -> dict:
    """What the case page shows about money: every compensation on this order and the refund proposal."""
    items = db.session.scalars(rules.order_compensations(case.platform, case.order_no)).all()
    mine_decided = [i for i in items if i.requester_id == current_user.id and i.status != "pending" and not i.requester_saw_decision]
    if mine_decided:  # the requester has now seen the decisions: the header stops counting them
        for item in mine_decided:
            item.requester_saw_decision = True
        db.session.commit()
    return {
        "compensations": items,
        "netting": rules.netting(case, items) if case.kind == "return_refund" else None,
        "compensation_form": CompensationForm(formdata=None),
        "refund_form": RefundForm(formdata=None, version=case.version),
        "paid_form": PaidForm(formdata=None),
    }


@bp.route("/case/<int:case_id>", methods=["POST"])
@permission_required("request_compensation")
def ask(case_id):
    case = get_or_404(Case, case_id)
    form = CompensationForm()
    if not form.validate_on_submit():
        return answer(case_id, error=first_error(form))
    try:
        item = rules.request(case, current_user, form.amount.data, form.reason.data, form.payout.data, form.note.data or "", utcnow())
    except rules.CompensationRefused as refused:
        db.session.rollback()
        return answer(case_id, error=str(refused.message))
    db.session.commit()
    if item.status == "approved":
        return answer(case_id, _("¥%(amount)s is within your limit: approved and recorded.", amount=item.amount))
    return answer(case_id, _("¥%(amount)s is over your limit: it waits for approval.", amount=item.amount))


@bp.route("/case/<int:case_id>/refund", methods=["POST"])
@permission_required("work_cases")
def refund(case_id):
    case = get_or_404(Case, case_id)
    form = RefundForm()
    if not form.validate_on_submit():
        return answer(case_id, error=first_error(form))
    try:
        check_version(case, form.version.data)
        rules.set_refund(case, form.amount.data, form.reason.data or "", current_user, rules.netting(case))
        db.session.commit()
    except VersionConflict:
        return answer(case_id, error=_("Someone else changed this case meanwhile; look at the refund again."))
    except rules.CompensationRefused as refused:
        db.session.rollback()
        return answer(case_id, error=str(refused.message))
    return answer(case_id, _("Refund set to ¥%(amount)s.", amount=case.refund_amount))


# --- the approvers' queue ----------------------------------------------------------------------

@bp.route("/")
@permission_required("use_workspace")
@live.region
def queue():
    """Approvers: the pending requests, oldest first, with what they need to decide. Everyone: their own requests."""
    now = utcnow()
    event_id = latest_event_id()
    statement = rules.queue_for(current_user)
    pending = db.session.scalars(statement).all() if statement is not None else []
    mine = db.session.scalars(
        sa.select(Compensation).where(Compensation.requester_id == current_user.id)
        .order_by(Compensation.created_at.desc()).limit(50)
    ).all()
    from blueprints.cases import poll_seconds

    return render_page("compensation/queue.html", "compensation/_queue.html", pending=pending, mine=mine,
                       context=decision_context(pending), token=live.make_token(event_id, None),
                       poll_seconds=poll_seconds(), now=now, decision_form=DecisionForm(formdata=None))


def decision_context(items: list[Compensation]) -> dict:
    """For each request: everything already on its order, and the buyer's earlier cases (two queries in all)."""
    if not items:
        return {}
    orders = {(i.platform, i.order_no) for i in items}
    on_orders = db.session.scalars(
        sa.select(Compensation).where(sa.tuple_(Compensation.platform, Compensation.order_no).in_(orders))
        .order_by(Compensation.created_at)
    ).all()
    by_order = defaultdict(list)
    for other in on_orders:
        by_order[(other.platform, other.order_no)].append(other)
    buyers = {(i.case.platform, i.case.buyer_nick) for i in items}
    earlier = db.session.scalars(
        sa.select(Case).where(sa.tuple_(Case.platform, Case.buyer_nick).in_(buyers)).order_by(Case.received_at.desc())
    ).all()
    by_buyer = defaultdict(list)
    for case in earlier:
        by_buyer[(case.platform, case.buyer_nick)].append(case)
    return {
        item.id: {
            "on_order": [o for o in by_order[(item.platform, item.order_no)] if o.id != item.id],
            "buyer_cases": [c for c in by_buyer[(item.case.platform, item.case.buyer_nick)] if c.id != item.case_id][:5],
            "refusal": rules.refusal_to_decide(item, current_user),
        }
        for item in items
    }


def decide(item_id: int, approve: bool):
    item = item_or_404(item_id)
    form = DecisionForm()
    back = request.form.get("back") or url_for("compensation.queue")
    if not form.validate_on_submit():
        return answer(item.case_id, error=first_error(form), back=back)
    try:
        if form.version.data:
            check_version(item, form.version.data)
        rules.decide(item, current_user, approve, form.note.data or "", utcnow())
        db.session.commit()
    except VersionConflict:
        return answer(item.case_id, error=_("This request changed meanwhile (now: %(status)s).", status=item.status_label), back=back)
    except rules.CompensationRefused as refused:
        db.session.rollback()
        return answer(item.case_id, error=str(refused.message), back=back)
    done = _("Approved ¥%(amount)s.", amount=item.amount) if approve else _("Rejected ¥%(amount)s.", amount=item.amount)
    return answer(item.case_id, done, back=back)


@bp.route("/<int:item_id>/approve", methods=["POST"])
@permission_required("approve_compensation")
def approve(item_id):
    return decide(item_id, True)


@bp.route("/<int:item_id>/reject", methods=["POST"])
@permission_required("approve_compensation")
def reject(item_id):
    return decide(item_id, False)


@bp.route("/<int:item_id>/forward", methods=["POST"])
@permission_required("approve_compensation")
def forward(item_id):
    item = item_or_404(item_id)
    form = DecisionForm()
    back = url_for("compensation.queue")
    if not form.validate_on_submit():
        return answer(item.case_id, error=first_error(form), back=back)
    try:
        rules.forward(item, current_user, form.note.data or "", utcnow())
        db.session.commit()
    except rules.CompensationRefused as refused:
        db.session.rollback()
        return answer(item.case_id, error=str(refused.message), back=back)
    return answer(item.case_id, _("Forwarded to the managers."), back=back)


@bp.route("/<int:item_id>/paid", methods=["POST"])
@permission_required("use_workspace")
def paid(item_id):
    item = item_or_404(item_id)
    form = PaidForm()
    if not form.validate_on_submit():
        return answer(item.case_id, error=first_error(form))
    try:
        rules.mark_paid(item, current_user, form.channel.data, form.reference.data, utcnow())
        db.session.commit()
    except rules.CompensationRefused as refused:
        db.session.rollback()
        return answer(item.case_id, error=str(refused.message))
    return answer(item.case_id, _("Marked paid."))


# --- money overview ---------------------------------------------------------------------------

def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The month's first and next month's first moment, in the shop's zone, as UTC-aware datetimes."""
    zone = current_app.config["SHOP_TZ"]
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=zone)
    return start, end


def current_month() -> str:
    return utcnow().astimezone(current_app.config["SHOP_TZ"]).strftime("%Y-%m")


def overview_rows(month: str) -> dict:
    """Per shop: requested, approved, paid, budget; and paid by reason and by responsibility."""
    start, end = month_bounds(month)
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


MONTH = re.compile(r"^20\d\d-(0[1-9]|1[0-2])$")


def chosen_month() -> str:
    month = request.args.get("month", "")
    return month if MONTH.match(month) else current_month()


@bp.route("/overview")
@permission_required("see_money")
def overview():
    month = chosen_month()
    form = BudgetForm(formdata=None, month=month)
    return render_template("compensation/overview.html", month=month, budget_form=form, **overview_rows(month))


@bp.route("/overview.csv")
@permission_required("see_money")
def overview_csv():
    month = chosen_month()
    data = overview_rows(month)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("Shop"), _("Requests"), _("Requested"), _("Approved"), _("Paid"), _("Budget"), _("Budget left")])
    for row in data["rows"]:
        writer.writerow([row["shop"].name, row["count"], row["requested"], row["approved"], row["paid"],
                         row["budget"] if row["budget"] is not None else "", row["left"] if row["left"] is not None else ""])
    writer.writerow([])
    writer.writerow([_("Reason"), _("Approved"), _("Requests")])
    writer.writerows([[str(label), amount, count] for label, amount, count in data["by_reason"]])
    writer.writerow([])
    writer.writerow([_("Responsible party"), _("Approved"), _("Requests")])
    writer.writerows([[str(label), amount, count] for label, amount, count in data["by_party"]])
    body = "\ufeff" + out.getvalue()  # the BOM makes Excel read the Chinese right
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="compensation-{month}.csv"'})


@bp.route("/budget", methods=["POST"])
@permission_required("manage_limits")
def budget():
    form = BudgetForm()
    if not form.validate_on_submit():
        flash(first_error(form), "error")
        return redirect(url_for("compensation.overview"))
    row = db.session.scalar(sa.select(CompensationBudget).where(CompensationBudget.shop_id == form.shop_id.data,
                                                                CompensationBudget.month == form.month.data))
    before = row.amount if row else None
    if row is None:
        row = CompensationBudget(shop_id=form.shop_id.data, month=form.month.data, amount=form.amount.data)
        db.session.add(row)
    row.amount = form.amount.data.quantize(rules.CENT)
    record(current_user, "settings", 0, "budget_set", shop=form.shop_id.data, month=form.month.data, **{"from": before, "to": row.amount})
    db.session.commit()
    flash(_("Budget saved."), "success")
    return redirect(url_for("compensation.overview", month=form.month.data))


# --- limits --------------------------------------------------------------------------------------

@bp.route("/limits")
@permission_required("manage_limits")
def limits():
    people = db.session.scalars(sa.select(User).where(User.active).order_by(User.role, User.display_name)).all()
    history = db.session.scalars(sa.select(TimelineEvent).where(TimelineEvent.action == "limit_changed")
                                 .order_by(TimelineEvent.id.desc()).limit(100)).all()
    return render_template("compensation/limits.html", people=people, history=history)


@bp.route("/limits/<int:user_id>", methods=["POST"])
@permission_required("manage_limits")
def set_limit(user_id):
    person = get_or_404(User, user_id)
    form = LimitForm()
    if not form.validate_on_submit():
        flash(f"{person.display_name}: {first_error(form)}", "error")
        return redirect(url_for("compensation.limits"))
    try:
        check_version(person, form.version.data)
    except VersionConflict:
        flash(_("%(name)s was changed meanwhile; the current limit is shown.", name=person.display_name), "error")
        return redirect(url_for("compensation.limits"))
    new = None if form.unlimited.data else form.compensation_limit.data.quantize(rules.CENT)
    if new != person.compensation_limit:
        record(current_user, "user", person.id, "limit_changed", name=person.display_name, **{"from": person.compensation_limit, "to": new})
        person.compensation_limit = new
        db.session.commit()
        flash(_("Limit of %(name)s saved.", name=person.display_name), "success")
    return redirect(url_for("compensation.limits"))


# --- the header's number ----------------------------------------------------------------------

def header_counter(user, now) -> HeaderCounter:
    """Approvers: requests waiting for them. Everyone else: decisions on their requests they have not seen."""
    statement = rules.queue_for(user)
    if statement is not None:
        count = db.session.scalar(sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())) or 0
        return HeaderCounter("approvals", _l("Approvals waiting for me"), count, url_for("compensation.queue"), urgent=False)
    count = db.session.scalar(sa.select(sa.func.count()).where(
        Compensation.requester_id == user.id, Compensation.status != "pending", Compensation.requester_saw_decision.is_(False))) or 0
    return HeaderCounter("approvals", _l("Decisions on my requests"), count, url_for("compensation.queue"))

