"""The case board, the case list, the case page and every action on a case."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

import live
from blueprints.common import (
    action_answer,
    commit_or_refuse,
    first_error,
    get_or_404,
    page_number,
    permission_required,
    render_page,
    safe_target,
    trigger,
)
from cases import board as case_board
from cases import bulk as case_bulk
from cases import duty, evidence, flow, sla
from cases import platform as case_platform
from cases import procedures as case_procedures
from cases import search as case_search
from cases.board import CaseFilter, card_view
from cases.labels import CASE_CATEGORIES, CASE_STATES, CLOCK_LABELS, FLAGS, MILESTONES, state_label
from compensation import rules as compensation_rules
from forms.base import VersionForm, worker_choices
from forms.cases import (
    AssignForm,
    BulkForm,
    CaseForm,
    CaseRulesForm,
    DutyForm,
    EvidenceForm,
    FlagForm,
    MilestoneForm,
    NoteForm,
    PlatformConflictForm,
    ProcedureForm,
    SlaPolicyForm,
    StateForm,
    TickForm,
)
from forms.compensation import CompensationForm, PaidForm, RefundForm
from forms.handoffs import RouteForm
from handoffs import flow as handoff_flow
from live import HeaderCounter
from models import (
    SETTING_DEFAULTS,
    Case,
    CaseCheck,
    CaseEvidence,
    Procedure,
    Shop,
    SlaPolicy,
    TimelineEvent,
    User,
    VersionConflict,
    check_version,
    db,
    get_setting,
    latest_event_id,
    latest_per_topic,
    record,
    save_settings,
    utcnow,
)
from reviews import worklist as review_worklist

bp = Blueprint("cases", __name__, url_prefix="/cases")

CARDS_PER_COLUMN = 20  # a laptop shows about four per column; the rest is one click away in the list
LIST_PAGE_SIZE = 50


def case_or_404(case_id: int) -> Case:
    return get_or_404(Case, case_id)


# --- the board and the list -------------------------------------------------------

BOARD_TOPICS = ("cases", "people", "clocks")  # what a board shows: cases, who works them, the deadline rules
CARD_CACHE_SIZE = 5000  # per worker and app: a few boards' worth of cards, shared by every viewer


def card_cache() -> live.FragmentCache:
    """This app's cache of rendered cards (one per app, so that test apps on fresh databases never share one)."""
    cache = current_app.extensions.get("case_card_cache")
    if cache is None:
        cache = current_app.extensions.setdefault("case_card_cache", live.FragmentCache(max_entries=CARD_CACHE_SIZE))
    return cache


@bp.route("/")
@permission_required("use_workspace")
@live.region(topics=BOARD_TOPICS)
def board():
    """The board. An htmx poll whose token still holds was answered 204 before reaching here."""
    now = utcnow()
    latest = latest_per_topic(BOARD_TOPICS)
    event_id = max(latest.values())
    case_filter = CaseFilter.from_args(request.args)
    rules = sla.load_rules()
    view = board_view_constants()
    cache_scope = (view["locale"], view["can_work"], latest["clocks"])
    keys = case_board.board_card_keys(case_filter, current_user, now, CARDS_PER_COLUMN, db.session)
    cache = card_cache()
    html = {row.id: cache.get(card_key(row, cache_scope), now) for rows in keys.values() for row in rows
            if row.id not in view["open_menus"]}
    missing = case_board.card_rows([row.id for rows in keys.values() for row in rows if html.get(row.id) is None], db.session)
    for case_id, row in missing.items():
        html[case_id] = board_card(row, rules, now, view, cache_scope, cache)
    columns, changes = [], []
    for state in case_board.BOARD_COLUMNS:
        rows = [row for row in keys[state] if html.get(row.id) is not None]  # a case deleted between the two reads
        columns.append((state, CASE_STATES[state], [html[row.id] for row in rows]))
        # The stored deadlines count the platform's too (sla.summary): its colour changes are among these.
        changes.extend(sla.next_status_change(row.next_due_at, row.next_risk_at, now) for row in rows)
    counts = case_board.column_counts(case_filter, current_user, now, db.session)
    token = live.make_token(event_id, live.earliest(changes))
    return render_page(
        "cases/board.html", "cases/_board.html",
        columns=columns, counts=counts, case_filter=case_filter, token=token, now=now,
        poll_seconds=live.poll_seconds(), per_column=CARDS_PER_COLUMN, current_tab=board_tab(),
    )


def board_tab() -> str:
    """The column a phone shows (app.js sends it with each poll): the new cases unless another was chosen."""
    tab = request.args.get("tab", "")
    return tab if tab in case_board.BOARD_COLUMNS else case_board.BOARD_COLUMNS[0]


@bp.route("/workload")
@permission_required("lead_cases")
@live.region(topics=BOARD_TOPICS)
def workload():
    """The lead's panel above the board: each person's open, at-risk and overdue cases, who is on duty."""
    now = utcnow()
    event_id = live.latest(BOARD_TOPICS)
    case_filter = CaseFilter.from_args(request.args)
    rows, changes_at = case_board.workload(case_filter, current_user, now, db.session)
    return render_page("cases/workload.html", "cases/_workload.html", rows=rows, case_filter=case_filter,
                       poll_seconds=live.poll_seconds(), token=live.make_token(event_id, changes_at),
                       round_robin=get_setting("round_robin_new_cases") if "round_robin_new_cases" in SETTING_DEFAULTS else None)


def board_view_constants() -> dict:
    """What every card of one render shares: urls, words, permissions, open menus."""
    return {"can_work": current_user.can("work_cases"), "me": current_user.id, "urls": case_url_patterns(),
            "t": card_texts(), "l": card_labels(), "open_menus": open_menus(), "locale": str(get_locale()),
            "macro": card_macro()}


def card_labels() -> dict:
    """The label tables a card reads, as plain dicts in the request's language (a lookup in the registry's
    tables checks the language every time: a few microseconds, a hundred cards, several lookups each)."""
    tables = current_app.jinja_env.globals
    names = {"kind": "kind_labels", "platform": "platform_labels", "category": "category_labels", "waiting": "waiting_labels",
             "flag": "flag_labels", "clock": "clock_labels", "clock_status": "clock_status_labels", "phrases": "clock_phrases",
             "platform_status": "platform_status_labels"}
    return {short: dict(tables[name].items()) for short, name in names.items()}


def card_key(row, cache_scope: tuple) -> tuple:
    """What a card's HTML depends on besides the clock: the case's version and last change, its assignee's
    name, and (``cache_scope``) the locale, the viewer's permission to work cases and the deadline rules."""
    return (row.id, row.version, row.updated_at, row.assignee_name, *cache_scope)


def board_card(row, rules: sla.Rules, now: datetime, view: dict, cache_scope: tuple, cache: live.FragmentCache) -> Markup:
    """Draw one card (``row``: cases.board.CARD_COLUMNS) and keep its HTML until ``card_key`` or the minute its
    countdown shows changes; an open menu (it carries the viewer's form token) is drawn afresh every time."""
    menu_open = row.id in view["open_menus"]
    clock = sla.nearest(rules.clocks(row, now))
    platform = rules.platform_clock(row, now)
    card = {"case": row, "clock": clock, "status": sla.status_at(row.next_due_at, row.next_risk_at, now) or "none",
            "targets": flow.allowed_targets(row), "platform": platform}
    if menu_open:
        view = {**view, "csrf": generate_csrf(), "agents": view.get("agents") or assignable_people()}
    html = view["macro"](card, view)
    if not menu_open:
        valid_until = live.earliest((sla.next_status_change(row.next_due_at, row.next_risk_at, now),
                                     clock.changes_at if clock else None, case_board.countdown_valid_until(clock, now),
                                     platform.changes_at if platform else None))
        cache.put(card_key(row, cache_scope), html, valid_until)
    return html


def card_macro():
    """The card macro of templates/cases/_card.html, called from Python (its template module is cached by Jinja)."""
    return current_app.jinja_env.get_template("cases/_card.html").module.case_card


def open_menus() -> set[int]:
    """Cases whose action menu is open in the browser that polls (sent by the board's hx-vals)."""
    return {int(part) for part in request.args.get("open", "").split(",")[:CARDS_PER_COLUMN * 5] if part.isdigit()}


def card_texts() -> dict:
    """The words every card repeats, translated once per render."""
    return {"actions": _("Actions"), "take": _("Take it"), "wait": _("Wait"), "waiting_for": _("Waiting for"),
            "note": _("Note"), "add_note": _("Add note"), "unassigned": _("Unassigned"), "refund": _("refund"),
            "platform_deadline": _("Platform deadline"), "assign_to": _("Assign to"), "assign": _("Assign"),
            "nobody": _("(nobody)"), "platform_says": _("Platform: %(status)s", status="{s}"),
            "conflict": _("Differs from the platform")}


@bp.route("/<int:case_id>/actions")
@permission_required("work_cases")
def card_actions(case_id):
    """A card's action menu, fetched when it is first opened on the board."""
    case = case_or_404(case_id)
    return render_template("cases/_card_actions.html", case=case, card={"targets": flow.allowed_targets(case)},
                           urls=case_url_patterns(), t=card_texts(), me=current_user.id, csrf=generate_csrf(),
                           agents=assignable_people())


def assignable_people() -> list[tuple[int, str]]:
    """Who a case can be assigned to (active people who work cases), once per request."""
    return [(choice.value, str(choice.label)) for choice in worker_choices(include_none=False)]


def case_url_patterns() -> dict:
    """URL patterns of the card actions, built once per render (url_for per card is costly at 100 cards)."""
    sentinel = 987654321
    patterns = {name: url_for(f"cases.{name}", case_id=sentinel).replace(str(sentinel), "{}")
                for name in ("detail", "take", "assign", "change_state", "note", "card_actions")}
    patterns["actions"] = patterns.pop("card_actions")
    return patterns


@bp.route("/list")
@permission_required("use_workspace")
def list_view():
    return render_page("cases/list.html", "cases/_list.html", **list_context(CaseFilter.from_args(request.args), page_number(), utcnow()))


def list_context(case_filter: CaseFilter, page_no: int, now: datetime, *, checked=frozenset(), confirm: dict | None = None,
                 bulk_form: BulkForm | None = None) -> dict:
    """What the list shows: one page of the filter's cases and, for those who work cases, the bulk form
    (``checked``: case ids ticked again after a refusal; ``confirm``: the "every case of the filter" question)."""
    page = db.paginate(case_board.list_statement(case_filter, current_user, now), page=page_no, per_page=LIST_PAGE_SIZE,
                       max_per_page=LIST_PAGE_SIZE, error_out=False)
    rules = sla.load_rules()
    if bulk_form is None and current_user.can("work_cases"):
        bulk_form = BulkForm(formdata=None)
    return {"page": page, "case_filter": case_filter, "cards": [card_view(case, rules, now) for case in page.items], "now": now,
            "bulk_form": bulk_form, "checked": checked, "confirm": confirm, "bulk_max": case_bulk.MAX_CASES}


# --- one case ---------------------------------------------------------------------

@bp.route("/<int:case_id>")
@permission_required("use_workspace")
@live.region
def detail(case_id):
    now = utcnow()
    event_id = latest_event_id()
    case = case_or_404(case_id)
    context = detail_context(case, now)
    context["token"] = live.make_token(event_id, sla.next_status_change(case.next_due_at, case.next_risk_at, now))
    return render_page("cases/detail.html", "cases/_detail_live.html", **context)


def detail_context(case: Case, now: datetime) -> dict:
    rules = sla.load_rules()
    steps, quick_replies, _version = case_procedures.procedure_for(case.category)
    done = {check.step: check for check in db.session.scalars(sa.select(CaseCheck).where(CaseCheck.case_id == case.id))}
    history = db.session.scalars(TimelineEvent.for_subject("case", case.id).limit(200)).all()
    files = db.session.scalars(sa.select(CaseEvidence).where(CaseEvidence.case_id == case.id).order_by(CaseEvidence.id)).all()
    assign_form = AssignForm(formdata=None, assignee_id=case.assignee_id or 0, version=case.version)
    return {
        "case": case, "clocks": rules.clocks(case, now), "clock_labels": CLOCK_LABELS, "now": now,
        "status": sla.status_at(case.next_due_at, case.next_risk_at, now) or "none",
        "steps": steps, "done": done, "quick_replies": quick_replies, "history": history, "files": files,
        "targets": flow.allowed_targets(case), "milestones": MILESTONES,
        "state_form": StateForm(formdata=None, version=case.version), "assign_form": assign_form,
        "flag_form": FlagForm(formdata=None, flag=case.flag or "", flag_note=case.flag_note, version=case.version),
        "evidence_form": EvidenceForm(formdata=None), "poll_seconds": live.poll_seconds(),
        "masked_phone": flow.mask_phone(case.buyer_phone),
        "conflicts": case_platform.conflict_rows(case), "conflict_form": PlatformConflictForm(formdata=None, version=case.version),
        "handoffs": handoff_flow.of_case(case.id), "reviews": review_worklist.of_case(case.id), "route_form": RouteForm(formdata=None, version=case.version),
        **compensation_section(case),
    }


def compensation_section(case: Case) -> dict:
    """The compensation part of the case page: the order's requests, the refund proposal, and their forms."""
    section = compensation_rules.case_section(case)
    section.update(unseen_decisions=bool(compensation_rules.unseen_decisions(section["compensations"], current_user)),
                   compensation_form=CompensationForm(formdata=None), refund_form=RefundForm(formdata=None, version=case.version),
                   paid_form=PaidForm(formdata=None))
    return section


def refuse_duplicate(form: CaseForm, values: dict, case: Case | None = None) -> bool:
    """Put the error on the form when another case has this platform after-sales number; True when refused."""
    platform = db.session.get(Shop, values["shop_id"]).platform
    existing = flow.same_number_case(platform, values.get("platform_case_id"), case.id if case is not None else None)
    if existing is None:
        return False
    form.platform_case_id.errors.append(_("Case %(ref)s already has this after-sales number.", ref=existing.reference))
    return True


@bp.route("/new", methods=["GET", "POST"])
@permission_required("work_cases")
def create():
    form = CaseForm()
    if request.method == "GET":
        form.assignee_id.data = current_user.id
        form.order_amount.data = None
    if form.validate_on_submit():
        values = form.case_values(current_app.config["SHOP_TZ"])
        if not refuse_duplicate(form, values):
            try:
                case = flow.create_case(values, current_user, sla.load_rules(), utcnow())
                db.session.commit()
            except IntegrityError:  # the same number, or the same order's next serial, saved a moment ago
                db.session.rollback()
                if not refuse_duplicate(form, values):
                    form.order_no.errors.append(_("Someone saved a case for this order at the same moment; save again."))
            else:
                flash(_("Case %(ref)s created.", ref=case.reference), "success")
                return redirect(url_for("cases.detail", case_id=case.id))
    return render_template("cases/form.html", form=form, case=None)


@bp.route("/<int:case_id>/edit", methods=["GET", "POST"])
@permission_required("work_cases")
def edit(case_id):
    case = case_or_404(case_id)
    masked = flow.mask_phone(case.buyer_phone)
    form = CaseForm(obj=case, masked_phone=masked)
    if request.method == "GET":
        form.buyer_phone.data = masked  # the full number only through the logged reveal
        form.assignee_id.data = case.assignee_id or 0
        form.flag.data = case.flag or ""
        if case.platform_deadline_at:
            form.platform_deadline_at.data = case.platform_deadline_at.astimezone(current_app.config["SHOP_TZ"]).replace(tzinfo=None)
    conflict = None
    if form.validate_on_submit():
        values = form.case_values(current_app.config["SHOP_TZ"], case)
        try:
            check_version(case, form.version.data)
        except VersionConflict:
            conflict = case
        if refuse_duplicate(form, values, case):
            pass
        elif conflict is None:
            try:
                flow.update_fields(case, values, current_user, sla.load_rules(), utcnow())
                db.session.commit()
            except StaleDataError:
                db.session.rollback()
                conflict = case_or_404(case_id)
            except IntegrityError:
                db.session.rollback()
                case = case_or_404(case_id)
                if not refuse_duplicate(form, values, case):
                    form.order_no.errors.append(_("Someone saved a case for this order at the same moment; save again."))
            else:
                flash(_("Case %(ref)s saved.", ref=case.reference), "success")
                return redirect(url_for("cases.detail", case_id=case.id))
    form.version.data = case.version
    return render_template("cases/form.html", form=form, case=case, conflict=conflict)


# --- actions on a case ------------------------------------------------------------------

def conflict_message(case: Case) -> str:
    db.session.refresh(case)
    return _("Someone else changed case %(ref)s just before you: it is now “%(state)s”, assigned to %(who)s. "
             "Your change was not saved; look at it again and retry.",
             ref=case.reference, state=state_label(case), who=case.assignee.display_name if case.assignee else _("nobody"))


def action_response(case: Case, message: str | None = None, error: str | None = None, status: int = 200):
    """Answer a case action; without htmx, back to the board or the case page, whichever it came from."""
    back = url_for("cases.board") if request.form.get("back") == "board" else url_for("cases.detail", case_id=case.id)
    return action_answer(back, message, error, status)


def run_action(case_id: int, form, apply, message: str):
    """Validate, check the version the person saw, apply one rule, commit; refuse with a clear message."""
    case = case_or_404(case_id)
    if not form.validate_on_submit():
        return action_response(case, error=first_error(form))
    def checked_apply():
        if hasattr(form, "version"):
            check_version(case, form.version.data)
        apply(case)

    refusal = commit_or_refuse(checked_apply, lambda: conflict_message(case))
    if refusal is not None:
        return action_response(case, error=refusal, status=409 if refusal.conflict and not request.htmx else 200)
    return action_response(case, message=message)


@bp.route("/<int:case_id>/take", methods=["POST"])
@permission_required("work_cases")
def take(case_id):
    def apply(case):
        flow.assign(case, current_user._get_current_object(), current_user, sla.load_rules(), utcnow())

    return run_action(case_id, VersionForm(), apply, _("You took the case."))


@bp.route("/<int:case_id>/assign", methods=["POST"])
@permission_required("work_cases")
def assign(case_id):
    form = AssignForm()

    def apply(case):
        assignee = db.session.get(User, form.assignee_id.data) if form.assignee_id.data else None
        flow.assign(case, assignee, current_user, sla.load_rules(), utcnow())

    return run_action(case_id, form, apply, _("Assignee changed."))


@bp.route("/<int:case_id>/state", methods=["POST"])
@permission_required("work_cases")
def change_state(case_id):
    form = StateForm()

    def apply(case):
        closure = {"responsibility": form.responsibility.data, "person": form.person.data, "cause": form.cause.data,
                   "result": form.result.data, "buyer_feedback": form.buyer_feedback.data, "outcome": form.outcome.data}
        if form.target.data == "closed":
            handoff_flow.check_case_closing(case, form.handoffs_reason.data or "", current_user)
        flow.change_state(case, form.target.data, current_user, sla.load_rules(), utcnow(),
                              waiting_for=form.waiting_for.data or None, closure=closure, note=form.note.data or "")

    return run_action(case_id, form, apply, _("State changed."))


@bp.route("/<int:case_id>/milestone", methods=["POST"])
@permission_required("work_cases")
def milestone(case_id):
    form = MilestoneForm()

    def apply(case):
        if form.milestone.data == "routed":  # routing makes a handoff: handoffs.route
            raise flow.CaseRuleError(_l("Route the case to a team with the routing form."))
        flow.mark_milestone(case, form.milestone.data, current_user, sla.load_rules(), utcnow(), form.detail.data or "")

    return run_action(case_id, form, apply, _("Recorded."))


@bp.route("/<int:case_id>/flag", methods=["POST"])
@permission_required("work_cases")
def flag(case_id):
    form = FlagForm()
    return run_action(case_id, form, lambda case: flow.set_flag(case, form.flag.data or None, form.flag_note.data or "", current_user),
                      _("Flag saved."))


@bp.route("/<int:case_id>/platform-conflict", methods=["POST"])
@permission_required("work_cases")
def settle_platform_conflict(case_id):
    """Take the platform's value of a field, or keep the case's, where the two differ (an import or sync found it)."""
    form = PlatformConflictForm()

    def apply(case):
        case_platform.settle_conflict(case, form.field.data, form.decision.data == "platform", current_user,
                                      sla.load_rules(), utcnow())

    return run_action(case_id, form, apply, _("Difference settled."))


@bp.route("/<int:case_id>/note", methods=["POST"])
@permission_required("work_cases")
def note(case_id):
    """Notes never conflict: they only add to the timeline."""
    form = NoteForm()
    return run_action(case_id, form, lambda case: flow.add_note(case, form.text.data, current_user), _("Note added."))


@bp.route("/<int:case_id>/tick", methods=["POST"])
@permission_required("work_cases")
def tick(case_id):
    form = TickForm()

    def apply(case):
        steps, _replies, _version = case_procedures.procedure_for(case.category)
        flow.tick_step(case, form.step.data, form.done.data == "1", current_user, steps)

    return run_action(case_id, form, apply, _("Checklist updated."))


@bp.route("/<int:case_id>/phone", methods=["POST"])
@permission_required("reveal_phone")
def reveal_phone(case_id):
    """The full number, shown in place, and the look is logged."""
    case = case_or_404(case_id)
    if not VersionForm().validate_on_submit():
        abort(400)
    phone = flow.reveal_phone(case, current_user)
    db.session.commit()
    if request.htmx:
        return render_template("cases/_phone.html", phone=phone, case=case)
    flash(_("Buyer phone: %(phone)s", phone=phone), "info")
    return redirect(url_for("cases.detail", case_id=case.id))


@bp.route("/<int:case_id>/evidence", methods=["POST"])
@permission_required("work_cases")
def add_evidence(case_id):
    case = case_or_404(case_id)
    form = EvidenceForm()
    if not form.validate_on_submit():
        return action_response(case, error=first_error(form))
    try:
        item = evidence.store(case, form.file.data, current_user)
    except evidence.EvidenceRefused as refused:
        return action_response(case, error=str(refused.message))
    record(current_user, "case", case.id, "evidence_added", name=item.original_name, size=item.size_bytes)
    db.session.commit()
    return action_response(case, message=_("Evidence added."))


@bp.route("/<int:case_id>/evidence/<int:evidence_id>")
@permission_required("use_workspace")
def evidence_file(case_id, evidence_id):
    item = db.session.get(CaseEvidence, evidence_id)
    if item is None or item.case_id != case_id:
        abort(404)
    path = evidence.path_of(item)
    if not path.exists():
        abort(404)
    # clean_name again: names stored before names were cleaned may hold a line break (werkzeug writes RFC 6266).
    return send_file(path, mimetype=item.content_type, download_name=evidence.clean_name(item.original_name), max_age=0)


# --- bulk actions ----------------------------------------------------------------------

BULK_FILTER_PREFIX = "f_"  # the list's filter travels with the bulk form under this prefix ("flag" is both)


@bp.route("/bulk", methods=["POST"])
@permission_required("work_cases")
def bulk_action():
    """One action on the ticked cases, or on every case of the filter after a confirmation; all or nothing."""
    case_filter = CaseFilter.from_args({name[len(BULK_FILTER_PREFIX):]: value for name, value in request.form.items()
                                        if name.startswith(BULK_FILTER_PREFIX)})
    raw_page = request.form.get("page", "")
    page_no = min(int(raw_page), 100_000) if raw_page.isdigit() and int(raw_page) > 0 else 1
    form = BulkForm()
    answer = BulkAnswer(case_filter, page_no, form)
    if not form.validate_on_submit():
        return answer.refused(first_error(form))
    try:
        rows = case_bulk.parse_rows(form.shown.data if form.page_all.data else []) | case_bulk.parse_rows(form.rows.data or [])
    except ValueError:
        return answer.refused(_("The request could not be understood."))
    change = bulk_change(form)
    if form.everything.data:  # first show how many, with the versions as they are now; the confirmation applies
        now = utcnow()
        count, matching = case_bulk.matching_rows(case_filter.where(current_user, now), case_board.deadline_order(),
                                                 limit=case_bulk.MAX_CASES)
        if count > case_bulk.MAX_CASES:
            return answer.refused(_("This filter matches %(count)s cases; a bulk action takes at most %(max)s. Narrow the filter.",
                                    count=count, max=case_bulk.MAX_CASES))
        if not count:
            return answer.refused(_("No case matches."))
        return answer.confirm({"count": count, "rows": matching, "describe": describe_change(change)})

    refusals, outcome = [], []

    def run():
        try:
            outcome.append(case_bulk.apply(rows, change, current_user._get_current_object(), sla.load_rules(), utcnow()))
        except case_bulk.BulkRefused as refused:
            refusals.extend(refused.refusals)
            raise

    def lost_race():  # someone committed between our read and our write: name the cases, read again
        refusals.extend(case_bulk.stale_rows(rows))
        return case_bulk.refusal_message(refusals)

    refusal = commit_or_refuse(run, lost_race)
    if refusal is not None:
        return answer.refused(str(refusal), problems=refusals, checked=frozenset(rows))
    return answer.done(outcome[0].message(change))


def bulk_change(form: BulkForm) -> case_bulk.Change:
    action = form.action.data
    assignee = db.session.get(User, form.assignee_id.data) if action == "assign" and form.assignee_id.data else None
    return case_bulk.Change(action=action, assignee=assignee, target=form.target.data or "",
                            waiting_for=form.waiting_for.data or None,
                            note=(form.note.data if action == "note" else form.state_note.data) or "",
                            flag=form.flag.data or None, flag_note=(form.flag_note.data or "").strip())


def describe_change(change: case_bulk.Change) -> str:
    """The action as the confirmation names it."""
    if change.action == "assign":
        return _("Assign to %(name)s", name=change.assignee.display_name) if change.assignee else _("Unassign")
    if change.action == "state":
        return _("Move to “%(state)s”", state=CASE_STATES.get(change.target, change.target))
    if change.action == "flag":
        return _("Flag %(flag)s", flag=FLAGS[change.flag]) if change.flag else _("Remove the flag")
    return _("Add the note “%(note)s”", note=change.note.strip())


class BulkAnswer:
    """The answer to a bulk POST. htmx: the list again (the same filter and page) with the message in the
    flash area (out of band), and caseChanged on success so the counters and other regions refresh.
    Otherwise: the message flashed and back to the list (or the confirmation as a full page)."""

    def __init__(self, case_filter: CaseFilter, page_no: int, form: BulkForm):
        self.case_filter, self.page_no, self.form = case_filter, page_no, form

    def _render(self, template: str, form: BulkForm | None, **context):
        context.update(list_context(self.case_filter, self.page_no, utcnow(), checked=context.pop("checked", frozenset()),
                                    confirm=context.pop("confirm", None), bulk_form=form))
        return render_page(template, "cases/_bulk_answer.html", **context)

    def _back(self, message: str, category: str):
        flash(message, category)
        return redirect(url_for("cases.list_view", **({"page": self.page_no} if self.page_no > 1 else {}),
                                **self.case_filter.to_args()))

    def refused(self, error: str, problems=(), checked=frozenset()):
        if not request.htmx:
            return self._back(error, "error")
        return self._render("cases/list.html", self.form, error=error, problems=problems, checked=checked)

    def confirm(self, confirm: dict):
        return self._render("cases/list.html", self.form, confirm=confirm)

    def done(self, message: str):
        if not request.htmx:
            return self._back(message, "success")
        return trigger(self._render("cases/list.html", None, message=message), "caseChanged")


@bp.cli.command("search-rebuild")
def search_rebuild():
    """Recompute every case's phone digest with the current key (after PHONE_DIGEST_KEY or SECRET_KEY changed)."""
    changed = case_search.rebuild_phone_digests()
    db.session.commit()
    print(f"{changed} phone digests recomputed")


# --- rules a lead sets -----------------------------------------------------------------

@bp.route("/rules", methods=["GET", "POST"])
@permission_required("manage_case_rules")
def rules():
    form = CaseRulesForm()
    if request.method == "GET":
        hours = get_setting("business_hours")
        form.promo_mode.data = bool(get_setting("promo_mode"))
        form.round_robin_new_cases.data = bool(get_setting("round_robin_new_cases"))
        form.poll_seconds.data = get_setting("poll_seconds")
        form.promo_poll_seconds.data = get_setting("promo_poll_seconds")
        form.at_risk_percent.data = get_setting("at_risk_percent")
        form.pausing_waits.data = get_setting("pausing_waits")
        form.business_hours.data = bool(hours)
        if hours:
            form.opens.data, form.closes.data, form.weekdays.data = hours["opens"], hours["closes"], hours["weekdays"]
        else:
            form.weekdays.data = list(range(7))
    if form.validate_on_submit():
        hours = {"opens": form.opens.data, "closes": form.closes.data, "weekdays": sorted(form.weekdays.data)} if form.business_hours.data else None
        changes = save_settings({"promo_mode": form.promo_mode.data, "poll_seconds": form.poll_seconds.data,
                                 "promo_poll_seconds": form.promo_poll_seconds.data, "at_risk_percent": form.at_risk_percent.data,
                                 "pausing_waits": sorted(form.pausing_waits.data), "business_hours": hours,
                                 "round_robin_new_cases": form.round_robin_new_cases.data}, current_user)
        if set(changes) - {"round_robin_new_cases"}:
            recompute_open_cases()
        db.session.commit()
        flash(_("Rules saved; every open case's clocks were recomputed."), "success")
        return redirect(url_for("cases.rules"))
    return render_rules(form, SlaPolicyForm(clock_labels=CLOCK_LABELS))


def render_rules(form: CaseRulesForm, policy_form: SlaPolicyForm):
    return render_template("cases/rules.html", form=form, overrides=case_board.sla_overrides(), policy_form=policy_form,
                           clock_labels=CLOCK_LABELS, defaults=sla.default_rows(), duration_text=sla.duration_text,
                           roster=duty.roster(current_user))


def recompute_open_cases() -> int:
    return case_board.recompute_open_cases(sla.load_rules(), utcnow())


@bp.route("/rules/clocks", methods=["POST"])
@permission_required("manage_case_rules")
def add_policy():
    form = SlaPolicyForm(clock_labels=CLOCK_LABELS)
    if not form.validate_on_submit():
        return render_rules(CaseRulesForm(formdata=None), form)
    kind = form.kind.data or None
    priority = int(form.priority.data) if form.priority.data else None
    existing = db.session.scalar(sa.select(SlaPolicy).where(
        SlaPolicy.clock == form.clock.data,
        SlaPolicy.kind.is_(None) if kind is None else SlaPolicy.kind == kind,
        SlaPolicy.priority.is_(None) if priority is None else SlaPolicy.priority == priority))
    policy = existing or SlaPolicy(clock=form.clock.data, kind=kind, priority=priority)
    policy.minutes, policy.promo_minutes = form.minutes.data, form.promo_minutes.data
    db.session.add(policy)
    db.session.flush()
    record(current_user, "settings", 0, "updated", changes={f"sla.{policy.clock}.{kind or '*'}.{priority if priority is not None else '*'}":
                                                           [None, f"{policy.minutes}/{policy.promo_minutes}"]})
    recompute_open_cases()
    db.session.commit()
    flash(_("Clock saved; every open case's clocks were recomputed."), "success")
    return redirect(url_for("cases.rules"))


@bp.route("/rules/clocks/<int:policy_id>/delete", methods=["POST"])
@permission_required("manage_case_rules")
def delete_policy(policy_id):
    policy = db.session.get(SlaPolicy, policy_id)
    if policy is None:
        abort(404)
    if VersionForm().validate_on_submit():
        record(current_user, "settings", 0, "updated", changes={f"sla.{policy.clock}.{policy.kind or '*'}.{policy.priority if policy.priority is not None else '*'}":
                                                               [f"{policy.minutes}/{policy.promo_minutes}", None]})
        db.session.delete(policy)
        recompute_open_cases()
        db.session.commit()
        flash(_("Clock override removed."), "success")
    return redirect(url_for("cases.rules"))


@bp.route("/duty", methods=["POST"])
@permission_required("work_cases")
def duty_self():
    """Come on or go off duty (the round-robin of new cases gives cases only to those on duty)."""
    return switch_duty(current_user._get_current_object())


@bp.route("/duty/<int:user_id>", methods=["POST"])
@permission_required("manage_case_rules")
def duty_of(user_id):
    """A lead switches a colleague of their team on or off duty (cases.duty.may_switch)."""
    return switch_duty(get_or_404(User, user_id))


@bp.app_template_global("may_switch_duty")
def may_switch_duty(person: User) -> bool:
    """Whether the viewer may switch ``person``'s duty (templates/cases/_duty.html shows a button or text)."""
    return current_user.is_authenticated and duty.may_switch(current_user, person)


def switch_duty(person: User):
    """Apply a DutyForm to ``person``; htmx gets the person's toggle (templates/cases/_duty.html) back."""
    form = DutyForm()
    back = safe_target(request.form.get("next"), url_for("cases.board"))
    if not form.validate_on_submit():
        return action_answer(back, error=first_error(form), event="dutyChanged")
    refusal = commit_or_refuse(lambda: duty.set_on_duty(person, form.on.data == "1", current_user),
                               lambda: _("Someone else changed this just before you; look at it again and retry."))
    if refusal is not None:
        return action_answer(back, error=refusal, event="dutyChanged")
    if not request.htmx:
        flash(_("%(name)s is on duty.", name=person.display_name) if person.on_duty
              else _("%(name)s is off duty.", name=person.display_name), "success")
        return redirect(back)
    response = make_response(render_template("cases/_duty.html", person=person, duty_next=back))
    response.vary.add("HX-Request")
    return trigger(response, "dutyChanged")


@bp.route("/procedures")
@permission_required("use_workspace")
def procedures():
    return render_template("cases/procedures.html",
                           categories=[(key, label, *case_procedures.procedure_for(key)) for key, label in case_procedures.all_categories()])


@bp.route("/procedures/<category>", methods=["GET", "POST"])
@permission_required("manage_case_rules")
def edit_procedure(category):
    if category not in CASE_CATEGORIES:
        abort(404)
    steps, replies, version = case_procedures.procedure_for(category)
    form = ProcedureForm()
    if request.method == "GET":
        form.steps.data = "\n".join(case_procedures.text_of(step) for step in steps)
        form.quick_replies.data = "\n".join(case_procedures.text_of(reply) for reply in replies)
        form.version.data = version or 0
    conflict = False
    if form.validate_on_submit():
        if str(version or 0) != (form.version.data or "0"):
            conflict = True
        else:
            edited = db.session.get(Procedure, category) or Procedure(category=category)
            new_steps = [line.strip()[:300] for line in form.steps.data.splitlines() if line.strip()]
            new_replies = [line.strip()[:1000] for line in (form.quick_replies.data or "").splitlines() if line.strip()]
            record(current_user, "procedure", 0, "updated", changes={category: [len(steps), len(new_steps)]})
            edited.steps, edited.quick_replies = new_steps, new_replies
            db.session.add(edited)
            db.session.commit()
            flash(_("Procedure saved."), "success")
            return redirect(url_for("cases.procedures"))
    return render_template("cases/procedure_form.html", form=form, category=category, label=CASE_CATEGORIES[category], conflict=conflict,
                           current_steps=steps)


# --- the header's numbers ---------------------------------------------------------

@live.header_counter(order=10)
def header_counter(user, now) -> HeaderCounter:
    """My overdue cases (waiting for me: in the tab's title); its news is the newest case someone assigned to me."""
    overdue, next_due = case_board.overdue_for(user, now)
    news = live.News()
    assignment = case_board.newest_assignment_to(user)
    if assignment is not None:
        event_id, case_id, order_no, by_someone_else = assignment
        news = live.News(event_id, _("Case %(order)s assigned to you", order=order_no) if by_someone_else else "",
                         url_for("cases.detail", case_id=case_id))
    return HeaderCounter("overdue", _l("My overdue cases"), overdue,
                         url_for("cases.board", scope="mine", clock="overdue"), changes_at=next_due, urgent=True,
                         waiting=True, news=news)
