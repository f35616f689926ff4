"""Compensation: requests on a case, the approvers' live queue, payment, refund netting, money overview, limits."""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

import live
import spreadsheets
from blueprints.common import action_answer, first_error, get_or_404, permission_required, render_page, safe_target
from compensation import report, rules
from compensation.labels import COMPENSATION_STATUSES
from forms.base import EmptyForm
from forms.compensation import BudgetForm, CompensationForm, DecisionForm, LimitForm, PaidForm, RefundForm
from live import HeaderCounter
from models import (
    CENT,
    Case,
    Compensation,
    CompensationBudget,
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
    return action_answer(safe_target(back, url_for("cases.detail", case_id=case_id)), message, error, event="compensationChanged")


# --- on a case ------------------------------------------------------------------------------

@bp.route("/case/<int:case_id>/seen", methods=["POST"])
@permission_required("request_compensation")
def seen(case_id):
    """The requester has seen the decisions on this case: the header stops counting them (posted by the case page)."""
    case = get_or_404(Case, case_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if rules.mark_decisions_seen(case, current_user):
        db.session.commit()
    return "", 204


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
    if rules.held_over_order(item, current_user):
        return answer(case_id, _("¥%(amount)s would pay back more than the buyer paid on this order: it waits for a lead.",
                                 amount=item.amount))
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
        .options(so.selectinload(Compensation.decided_by))
        .order_by(Compensation.created_at.desc()).limit(50)
    ).all()
    return render_page("compensation/queue.html", "compensation/_queue.html", pending=pending, mine=mine,
                       waiting_on=rules.waiting_on,
                       context=decision_context(pending), token=live.make_token(event_id, None),
                       poll_seconds=live.poll_seconds(), now=now, decision_form=DecisionForm(formdata=None))


def decision_context(items: list[Compensation]) -> dict:
    """For each request: everything already on its order, what the order paid back, and the buyer's earlier cases
    (four queries in all)."""
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
    figures = rules.paid_back(items)
    return {
        item.id: {
            "on_order": [o for o in by_order[(item.platform, item.order_no)] if o.id != item.id],
            "buyer_cases": [c for c in by_buyer[(item.case.platform, item.case.buyer_nick)] if c.id != item.case_id][:5],
            "refusal": rules.refusal_to_decide(item, current_user),
            "paid_back": figures[item.id],
        }
        for item in items
    }


def decide(item_id: int, approve: bool):
    item = item_or_404(item_id)
    form = DecisionForm()
    back = safe_target(request.form.get("back"), url_for("compensation.queue"))
    if not form.validate_on_submit():
        return answer(item.case_id, error=first_error(form), back=back)
    try:
        if form.version.data:
            check_version(item, form.version.data)
        rules.decide(item, current_user, approve, form.note.data or "", utcnow(),
                     confirm_over_order=bool(form.confirm_over_order.data), over_order_reason=form.over_order_reason.data or "")
        db.session.commit()
    except VersionConflict:
        return answer(item.case_id, error=_("This request changed meanwhile (now: %(status)s).",
                                                   status=COMPENSATION_STATUSES.get(item.status, item.status)), back=back)
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

def chosen_month() -> str:
    month = request.args.get("month", "")
    return month if report.MONTH.match(month) else report.month_of(utcnow(), current_app.config["SHOP_TZ"])


@bp.route("/overview")
@permission_required("see_money")
def overview():
    month = chosen_month()
    form = BudgetForm(formdata=None, month=month)
    return render_template("compensation/overview.html", month=month, budget_form=form,
                           **report.overview_rows(month, current_app.config["SHOP_TZ"]))


@bp.route("/overview.csv")
@permission_required("see_money")
def overview_csv():
    month = chosen_month()
    data = report.overview_rows(month, current_app.config["SHOP_TZ"])
    return spreadsheets.csv_response(report.overview_sheet(data), f"compensation-{month}.csv")


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
    row.amount = form.amount.data.quantize(CENT)
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
    new = None if form.unlimited.data else form.compensation_limit.data.quantize(CENT)
    if new != person.compensation_limit:
        record(current_user, "user", person.id, "limit_changed", name=person.display_name, **{"from": person.compensation_limit, "to": new})
        person.compensation_limit = new
        db.session.commit()
        flash(_("Limit of %(name)s saved.", name=person.display_name), "success")
    return redirect(url_for("compensation.limits"))


# --- the header's number ----------------------------------------------------------------------

@live.header_counter(order=20)
def header_counter(user, now) -> HeaderCounter | None:
    """Approvers: the requests waiting for their decision, counted with the very statement their queue lists."""
    statement = rules.queue_for(user)
    if statement is None:
        return None
    newest = db.session.scalars(statement.order_by(None).order_by(Compensation.id.desc()).limit(1)).first()
    news = live.News()
    if newest is not None:
        news = live.News(newest.id, _("Compensation ¥%(amount)s (%(order)s) waits for your decision",
                                      amount=newest.amount, order=newest.order_no),
                         url_for("compensation.queue", _anchor=f"approval-{newest.id}"))
    return HeaderCounter("approvals", _l("Approvals waiting for me"), live.count_rows(statement),
                         url_for("compensation.queue"), waiting=True, news=news)


def decision_sentence(item: Compensation) -> str:
    if item.status == "rejected":
        return _("Your compensation request ¥%(amount)s (%(order)s) was rejected", amount=item.amount, order=item.order_no)
    return _("Your compensation request ¥%(amount)s (%(order)s) was approved", amount=item.amount, order=item.order_no)


@live.header_counter(order=21)
def decisions_counter(user, now) -> HeaderCounter | None:
    """Decisions on my requests I have not seen: one is named and links to its case; several link to my requests,
    the newest named. Seen (and gone from here) when I open the case or my requests (``seen``, ``seen_mine``).
    An approver sees it only when there is something; everyone else always."""
    if not user.can("request_compensation"):
        return None
    unseen = rules.unseen_decisions_of(user)
    count = live.count_rows(unseen)
    if count == 0:
        return None if user.can("approve_compensation") else HeaderCounter(
            "decisions", _l("Decisions on my requests"), 0, url_for("compensation.queue", _anchor="mine-title"))
    newest = db.session.scalars(unseen.limit(1)).first()
    if count == 1:
        return HeaderCounter("decisions", _l("Decisions on my requests"), 1, url_for("cases.detail", case_id=newest.case_id),
                             detail=decision_sentence(newest))
    return HeaderCounter("decisions", _l("Decisions on my requests"), count,
                         url_for("compensation.queue", _anchor="mine-title"),
                         detail=_("Newest: %(sentence)s", sentence=decision_sentence(newest)))


@bp.route("/seen", methods=["POST"])
@permission_required("request_compensation")
def seen_mine():
    """The requester opened their requests: every decision on them is seen (posted by the page, a GET never writes)."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    if rules.mark_all_decisions_seen(current_user):
        db.session.commit()
    return "", 204
