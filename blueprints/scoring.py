"""The scoring page (考核): a shop's month of scores against the industry values, the lead's judgements,
publishing, an agent's own score with the evidence behind it, appeals, the rule sets with their history,
the month's figures typed or imported; the daily monitor and the after-sales reports."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

import live
import spreadsheets
from blueprints.common import action_answer, commit_or_refuse, first_error, get_or_404, parse_id, permission_required, render_page
from cases.labels import CASE_KINDS
from compensation.report import MONTH
from forms.base import EmptyForm
from forms.scoring import (
    AppealForm,
    DecideForm,
    JudgementForm,
    MonthValuesForm,
    ReasonForm,
    ReportSettingsForm,
    RulesForm,
    SendReportForm,
    ValuesImportForm,
)
from live import HeaderCounter
from models import (
    PLATFORMS,
    Case,
    Review,
    ScoreAppeal,
    ScoreMonth,
    Shop,
    TimelineEvent,
    User,
    check_version,
    db,
    get_setting,
    latest_event_id,
    save_settings,
    utcnow,
)
from reviews.summary import smtp_settings
from reviews.worklist import shop_date
from scoring import figures, months, reports, rules, values_import
from scoring import jobs as scoring_jobs
from scoring import monitor as daily_monitor
from scoring.labels import INDUSTRY_LABELS, SHOP_LABELS

bp = Blueprint("scoring", __name__, url_prefix="/scoring")

EVIDENCE_LIMIT = 500  # rows shown behind one figure; the count says when there are more


def zone():
    return current_app.config["SHOP_TZ"]


def previous_month(now: datetime) -> str:
    local = now.astimezone(zone())
    return f"{local.year - (local.month == 1)}-{(local.month - 2) % 12 + 1:02d}"


def shops() -> list[Shop]:
    return list(db.session.scalars(sa.select(Shop).where(Shop.active.is_(True)).order_by(Shop.platform, Shop.name)))


def chosen_month() -> ScoreMonth:
    """The shop and month of ?shop=&month= (default: the first shop, last month)."""
    available = shops()
    if not available:
        abort(404)
    shop_id = parse_id(request.args.get("shop"))
    shop = next((shop for shop in available if shop.id == shop_id), available[0])
    month = request.args.get("month", "")
    return months.month_for(shop, month if MONTH.match(month) else previous_month(utcnow()))


def get_month(shop_id: int, month: str, create: bool = False) -> ScoreMonth:
    """The month of a URL, or a 404; stored first when a change is about to be made to it."""
    if not MONTH.match(month):
        abort(404)
    return months.month_for(get_or_404(Shop, shop_id), month, create=create)


def back_to(score_month: ScoreMonth) -> str:
    return url_for("scoring.monthly", shop=score_month.shop_id, month=score_month.month)


def may_see(user_id: int) -> bool:
    return current_user.can("lead_scoring") or current_user.id == user_id


def reason_text(sentences) -> str:
    """A part's reason in the reader's language: each fixed English sentence translated, then filled in."""
    return " ".join(_(template) % values for template, values in sentences)


@bp.app_template_filter("score_reason")
def score_reason_filter(sentences) -> str:
    return reason_text(sentences)


# --- the month ---------------------------------------------------------------------------------------------

@bp.route("/")
@permission_required("use_workspace")
def monthly():
    score_month = chosen_month()
    now = utcnow()
    table = months.table_of(score_month, zone(), now)
    lead = current_user.can("lead_scoring")
    rows = table.agents if lead else [row for row in table.agents if row["user_id"] == current_user.id]
    values_form = MonthValuesForm(formdata=None, bonus_pool=score_month.bonus_pool, version=score_month.version,
                                  **{f"industry_{key}": (score_month.industry or {}).get(key, "") for key in INDUSTRY_LABELS},
                                  **{f"shop_{key}": (score_month.shop_figures or {}).get(key, "") for key in SHOP_LABELS})
    appeals = months.appeals_of(score_month) if lead else months.appeals_of(score_month, current_user)
    events = (db.session.scalars(sa.select(TimelineEvent).where(TimelineEvent.subject_type == "score_month",
                                                                TimelineEvent.subject_id == score_month.id)
                                 .order_by(TimelineEvent.id.desc()).limit(50)
                                 .options(sa.orm.selectinload(TimelineEvent.actor))).all()
              if lead and score_month.id else [])
    judgement_parts = [part for part in table.data["rules"]["parts"] if part["kind"] in rules.JUDGEMENT_KINDS]
    return render_template("scoring/monthly.html", score_month=score_month, table=table, rows=rows, lead=lead,
                           shops=shops(), values_form=values_form, appeals=appeals, events=events,
                           counts=months.appeal_counts(score_month), judgement_parts=judgement_parts,
                           deadline=months.appeal_deadline(score_month), now=now, judge_form=JudgementForm(),
                           reason_form=ReasonForm(), empty_form=EmptyForm(), decide_form=DecideForm(),
                           import_form=ValuesImportForm(), month_over=now >= months.month_end(score_month, zone()),
                           endpoints=set(current_app.view_functions))


def _month_action(shop_id: int, month: str, apply, done_message: str, form=None):
    score_month = get_month(shop_id, month, create=True)
    form = form or EmptyForm()
    if not form.validate_on_submit():
        return action_answer(back_to(score_month), error=first_error(form), status_code=400, event="scoreChanged")
    refusal = commit_or_refuse(lambda: apply(score_month, form),
                               lambda: _("Someone changed this month meanwhile. Reload to see their change."))
    if refusal:
        return action_answer(back_to(score_month), error=str(refusal), status_code=409 if refusal.conflict else 400,
                             event="scoreChanged")
    return action_answer(back_to(score_month), done_message, event="scoreChanged")


@bp.route("/<int:shop_id>/<month>/values", methods=["POST"])
@permission_required("lead_scoring")
def save_values(shop_id, month):
    def apply(score_month, form):
        check_version(score_month, form.version.data)
        industry, shop_figures = form.values()
        months.save_values(score_month, industry, shop_figures, form.bonus_pool.data, current_user)

    return _month_action(shop_id, month, apply, _("The month's figures are saved."), MonthValuesForm())


@bp.route("/<int:shop_id>/<month>/values/import", methods=["POST"])
@permission_required("lead_scoring")
def import_values(shop_id, month):
    score_month = get_month(shop_id, month)
    form = ValuesImportForm()
    if not form.validate_on_submit():
        return action_answer(back_to(score_month), error=first_error(form), status_code=400)
    upload = form.file.data
    try:
        imported = values_import.read(upload.read(), upload.filename or "")
    except values_import.ValuesRefused as refused:
        return render_template("scoring/import_errors.html", score_month=score_month, errors=refused.errors), 400
    refusal = commit_or_refuse(lambda: values_import.store(imported, current_user),
                               lambda: _("Someone changed these months meanwhile. Import the file again."))
    if refusal:
        return action_answer(back_to(score_month), error=str(refusal), status_code=409 if refusal.conflict else 400)
    return action_answer(back_to(score_month), _("Imported the figures of %(count)s shop months.", count=len(imported)))


@bp.route("/<int:shop_id>/<month>/judgement", methods=["POST"])
@permission_required("lead_scoring")
def judge(shop_id, month):
    def apply(score_month, form):
        user = db.session.get(User, parse_id(form.user_id.data) or 0)
        if user is None:
            raise months.ScoringRefused(_("Unknown agent."))
        _row, rule_set = months.in_force(score_month.shop, months.month_end(score_month, zone()))
        months.save_judgement(score_month, rule_set, user, form.part.data, form.value.data, form.justification.data,
                              current_user, utcnow())

    return _month_action(shop_id, month, apply, _("Judgement saved."), JudgementForm())


@bp.route("/<int:shop_id>/<month>/publish", methods=["POST"])
@permission_required("lead_scoring")
def publish(shop_id, month):
    return _month_action(shop_id, month, lambda month, form: months.publish(month, current_user, utcnow(), zone()),
                         _("The month is published: its scores are frozen and the agents can see them."))


@bp.route("/<int:shop_id>/<month>/reopen", methods=["POST"])
@permission_required("lead_scoring")
def reopen(shop_id, month):
    return _month_action(shop_id, month, lambda month, form: months.reopen(month, form.reason.data, current_user),
                         _("The month is open again."), ReasonForm())


# --- one agent's score and what is behind it ---------------------------------------------------------------

@bp.route("/<int:shop_id>/<month>/agent/<int:user_id>")
@permission_required("use_workspace")
def agent(shop_id, month, user_id):
    score_month = get_month(shop_id, month)
    if not may_see(user_id):
        abort(403)
    table = months.table_of(score_month, zone(), utcnow())
    row = table.agent(user_id)
    if row is None:
        abort(404)
    return render_template("scoring/agent.html", score_month=score_month, table=table, row=row,
                           appeals=months.appeals_of(score_month, get_or_404(User, user_id)), now=utcnow(),
                           deadline=months.appeal_deadline(score_month), own=current_user.id == user_id,
                           acknowledged=months.acknowledged(score_month, current_user), appeal_form=AppealForm(),
                           empty_form=EmptyForm(), parts_with_evidence=figures.CASE_PARTS + figures.REVIEW_PARTS)


@bp.route("/<int:shop_id>/<month>/agent/<int:user_id>/<part>")
@permission_required("use_workspace")
def evidence(shop_id, month, user_id, part):
    score_month = get_month(shop_id, month)
    if not may_see(user_id):
        abort(403)
    if part not in figures.CASE_PARTS + figures.REVIEW_PARTS:
        abort(404)
    table = months.table_of(score_month, zone(), utcnow())
    row = table.agent(user_id)
    if row is None or part not in row["parts"]:
        abort(404)
    if score_month.state == "published":
        ids = (table.data.get("evidence", {}).get(str(user_id), {}) or {}).get(part, [])
    else:
        ids = figures.evidence(score_month, zone(), {user_id}).get(user_id, {}).get(part, [])
    model = Review if part in figures.REVIEW_PARTS else Case
    shown = ids[:EVIDENCE_LIMIT]
    items = {item.id: item for item in db.session.scalars(sa.select(model).where(model.id.in_(shown)))}
    appealed = {item.case_id for item in months.appeals_of(score_month, get_or_404(User, user_id)) if item.case_id}
    part_rule = next((p for p in table.data["rules"]["parts"] if p["key"] == part), {"name": part})
    return render_template("scoring/evidence.html", score_month=score_month, row=row, part=part, part_rule=part_rule,
                           items=[items[item_id] for item_id in shown if item_id in items], total=len(ids),
                           is_review=model is Review, own=current_user.id == user_id, appealed=appealed,
                           window_open=score_month.state == "published" and utcnow() <= months.appeal_deadline(score_month),
                           appeal_form=AppealForm(), kind_labels=CASE_KINDS)


def _agent_back(score_month: ScoreMonth) -> str:
    return url_for("scoring.agent", shop_id=score_month.shop_id, month=score_month.month, user_id=current_user.id)


@bp.route("/<int:shop_id>/<month>/acknowledge", methods=["POST"])
@permission_required("use_workspace")
def acknowledge(shop_id, month):
    score_month = get_month(shop_id, month)
    form = EmptyForm()
    if not form.validate_on_submit():
        return action_answer(_agent_back(score_month), error=first_error(form), status_code=400, event="scoreChanged")
    refusal = commit_or_refuse(lambda: months.acknowledge(score_month, current_user, utcnow()), lambda: _("Try again."))
    if refusal:
        return action_answer(_agent_back(score_month), error=str(refusal), status_code=400, event="scoreChanged")
    return action_answer(_agent_back(score_month), _("You acknowledged your score."), event="scoreChanged")


@bp.route("/<int:shop_id>/<month>/appeal", methods=["POST"])
@permission_required("use_workspace")
def appeal(shop_id, month):
    score_month = get_month(shop_id, month)
    form = AppealForm()
    if not form.validate_on_submit():
        return action_answer(_agent_back(score_month), error=first_error(form), status_code=400, event="scoreChanged")
    case_id = parse_id(form.case_id.data) if form.case_id.data else None
    if form.case_id.data and case_id is None:
        return action_answer(_agent_back(score_month), error=_("Unknown case."), status_code=400, event="scoreChanged")
    refusal = commit_or_refuse(lambda: months.appeal(score_month, current_user, form.part.data, case_id, form.comment.data,
                                                     utcnow()), lambda: _("Try again."))
    if refusal:
        return action_answer(_agent_back(score_month), error=str(refusal), status_code=400, event="scoreChanged")
    return action_answer(_agent_back(score_month), _("Your appeal is sent to the lead."), event="scoreChanged")


@bp.route("/appeal/<int:appeal_id>/decide", methods=["POST"])
@permission_required("lead_scoring")
def decide(appeal_id):
    item = get_or_404(ScoreAppeal, appeal_id)
    score_month = get_or_404(ScoreMonth, item.score_month_id)
    form = DecideForm()
    if not form.validate_on_submit():
        return action_answer(back_to(score_month), error=first_error(form), status_code=400, event="scoreChanged")

    def apply():
        check_version(item, form.version.data)
        now = utcnow()
        if form.decision.data == "accept":
            move_to = db.session.get(User, form.move_to.data) if form.move_to.data else None
            months.accept(item, score_month, form.answer.data, current_user, now, zone(), move_to=move_to,
                          new_value=(form.new_value.data or "").strip() or None)
        elif form.decision.data == "reject":
            months.reject(item, score_month, form.answer.data, current_user, now)
        else:
            months.escalate(item, score_month, form.answer.data, current_user, now)

    refusal = commit_or_refuse(apply, lambda: _("Someone answered this appeal meanwhile."))
    if refusal:
        return action_answer(back_to(score_month), error=str(refusal), status_code=409 if refusal.conflict else 400,
                             event="scoreChanged")
    return action_answer(back_to(score_month), _("The appeal is answered."), event="scoreChanged")


# --- rule sets -----------------------------------------------------------------------------------------------

def scopes() -> list[tuple[str, str]]:
    """Every platform a shop is on, and every shop: the scopes a rule set can have."""
    available = shops()
    platforms = sorted({shop.platform for shop in available})
    return ([(platform, str(PLATFORMS.get(platform, platform))) for platform in platforms]
            + [(months.scope_of_shop(shop), shop.name) for shop in available])


@bp.route("/rules", methods=["GET", "POST"])
@permission_required("lead_scoring")
def rule_sets():
    known = dict(scopes())
    scope = request.values.get("scope") or next(iter(known), "tmall")
    if scope not in known:
        abort(404)
    current = months.latest(scope)
    rule_set = current.rules if current else months.default_rules(scope, scope.split(":")[0])
    form = RulesForm(based_on=current.number if current else 0)
    errors: list[str] = []
    submitted = None
    if request.method == "POST":
        if form.validate_on_submit():
            edited, errors = rules.with_edits(rule_set, request.form)
            submitted = request.form
            if not errors:
                based_on = parse_id(form.based_on.data) or 0
                refusal = commit_or_refuse(lambda: months.save_rule_set(scope, edited, form.note.data, current_user,
                                                                        utcnow(), based_on),
                                           lambda: _("Someone saved these rules meanwhile."))
                if refusal is None:
                    return action_answer(url_for("scoring.rule_sets", scope=scope), _("The rules are saved as a new version."))
                errors = [str(refusal)]
        else:
            errors = [first_error(form)]
    return render_template("scoring/rules.html", scope=scope, scopes=scopes(), rule_set=rule_set, current=current,
                           fields=rules.editable_fields(rule_set), submitted=submitted, form=form, errors=errors,
                           warnings=rules.weight_warnings(rule_set), history=months.history(scope)), (400 if errors else 200)


# --- the daily monitor ------------------------------------------------------------------------------------

def monitor_context() -> dict:
    """?shop= an active shop's id or "all" (default: the first active shop), ?trend= days or months."""
    available = shops()
    chosen = request.args.get("shop", "")
    shop_id = parse_id(chosen)
    shop = None if chosen == "all" else next((one for one in available if one.id == shop_id), available[0] if available else None)
    trend = request.args.get("trend") if request.args.get("trend") in ("days", "months") else "days"
    now, event_id = utcnow(), latest_event_id()
    today = shop_date(now, zone())
    view = daily_monitor.monitor(shop, available, today)
    month = today.strftime("%Y-%m")
    return {"view": view, "shops": available, "trend": trend, "now": now, "poll_seconds": live.poll_seconds(),
            "token": live.make_token(event_id, daily_monitor.next_day_starts(today, zone())),
            "figure_labels": daily_monitor.FIGURE_LABELS, "dsr_labels": daily_monitor.DSR_LABELS,
            "paid_orders_url": url_for("scoring.monthly", shop=shop.id, month=month) if shop else url_for("scoring.monthly", month=month)}


@bp.route("/monitor")
@permission_required("use_workspace")
@live.region
def monitor():
    """Dispute rate, self-completion, completion times, returns, reviews, complaints and DSR: today, this week,
    this month against the industry, and their trends; live like the board."""
    return render_page("scoring/monitor.html", "scoring/_monitor.html", **monitor_context())


@bp.route("/monitor/live")
@permission_required("use_workspace")
@live.region
def monitor_live():
    """The monitor's live region (what its poll asks for): 204 while nothing changed and the day is the same."""
    return render_page("scoring/monitor.html", "scoring/_monitor.html", **monitor_context())


# --- the after-sales report, weekly and monthly ------------------------------------------------------------------

def chosen_period() -> reports.Period:
    """The week or month of ?period=week|month&start=YYYY-MM-DD (default: this month, shop time)."""
    today = utcnow().astimezone(zone()).date()
    return reports.parse_period(request.args.get("period"), request.args.get("start"), today)


def report_page(period: reports.Period, settings_form: ReportSettingsForm | None = None):
    figures = reports.report(period.start, period.end, zone())
    if settings_form is None:
        settings_form = ReportSettingsForm(emails="\n".join(get_setting("scoring_report_emails") or []),
                                           report_time=get_setting("scoring_report_time"))
    return render_template("scoring/report.html", report=figures, report_charts=reports.report_charts(figures),
                           period=period, title=reports.title(figures), rules=reports.RULES, for_mail=False,
                           send_form=SendReportForm(period=period.kind, start=period.start.isoformat()),
                           settings_form=settings_form, runs=scoring_jobs.recent_runs(),
                           robot_count=len(get_setting("review_summary_robots") or []))


@bp.route("/report")
@permission_required("lead_scoring")
def report():
    """The after-sales report of a week or a month: cases, cost per responsible party, top causes (printable)."""
    return report_page(chosen_period())


@bp.route("/report.xlsx")
@permission_required("lead_scoring")
def report_xlsx():
    period = chosen_period()
    figures = reports.report(period.start, period.end, zone())
    return spreadsheets.workbook_response(lambda handle: reports.write_xlsx(figures, handle),
                                          f"after-sales-{period.kind}-{period.start:%Y%m%d}.xlsx")


@bp.route("/report/send", methods=["POST"])
@permission_required("lead_scoring")
def send_report():
    """Send the report of the period shown, now, to the manager's addresses and the review summary's robots."""
    form = SendReportForm()
    if not form.validate_on_submit():
        abort(400)
    today = utcnow().astimezone(zone()).date()
    period = reports.parse_period(form.period.data, form.start.data, today)
    figures = reports.report(period.start, period.end, zone())
    outcome = reports.send(figures, utcnow(), smtp_settings(current_app.config))
    if outcome["failed"]:
        flash(_("Not sent: %(error)s", error="; ".join(f"{target}: {error}" for target, error in outcome["failed"])), "error")
    elif outcome["sent"]:
        flash(_("Report sent to %(count)s recipients.", count=len(outcome["sent"])), "success")
    else:
        flash(_("No recipients are set, so nothing was sent."), "info")
    return redirect(url_for("scoring.report", period=period.kind, start=period.start.isoformat()))


@bp.route("/report/settings", methods=["POST"])
@permission_required("lead_scoring")
def report_settings():
    form = ReportSettingsForm()
    if not form.validate_on_submit():
        return report_page(chosen_period(), settings_form=form)
    save_settings({"scoring_report_emails": form.email_list(), "scoring_report_time": form.report_time.data}, current_user)
    db.session.commit()
    flash(_("Report settings saved."), "success")
    return redirect(url_for("scoring.report"))


@live.header_counter(order=50)
def header_counter(user, now) -> HeaderCounter | None:
    """Appeals waiting for this person's answer: a lead's open ones, a manager's escalated ones too."""
    if not user.can("lead_scoring"):
        return None
    states = ("open", "escalated") if user.can("decide_escalated_appeals") else ("open",)
    waiting = db.session.scalar(sa.select(sa.func.count()).select_from(ScoreAppeal)
                                .where(ScoreAppeal.state.in_(states), ScoreAppeal.user_id != user.id)) or 0
    return HeaderCounter("appeals", _l("Score appeals waiting"), waiting, url_for("scoring.monthly"), waiting=True)
