"""The cross-team handoff sheet (交接表): each team's inbox, one item's page and its steps, routing a case,
the end-of-shift handoff, the lead's rules and uncovered cases, the export, and outside parties' secret links."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

import live
import spreadsheets
from blueprints.common import action_answer, commit_or_refuse, first_error, get_or_404, parse_id, permission_required, render_page
from cases import evidence, sla
from cases.flow import mask_phone
from extensions import limiter
from forms.base import EmptyForm
from forms.handoffs import (
    AcknowledgeForm,
    DoneForm,
    FollowUpForm,
    HandoffFileForm,
    HandoffForm,
    LinkForm,
    RouteForm,
    SendBackForm,
    ShiftForm,
    rules_form,
)
from handoffs import export as handoff_export
from handoffs import flow
from handoffs.labels import DEFAULT_DUE_HOURS, HANDOFF_KINDS, KIND_FOR_FUNCTION
from live import HeaderCounter
from models import (
    Case,
    Handoff,
    HandoffFile,
    ShiftCase,
    Team,
    TimelineEvent,
    User,
    UserError,
    check_version,
    db,
    get_setting,
    latest_event_id,
    record,
    save_settings,
    utcnow,
)

bp = Blueprint("handoffs", __name__, url_prefix="/handoffs")
# Outside parties' pages: no account, one item, found by an unguessable token. Guessing is rate-limited.
link_bp = Blueprint("handoff_links", __name__, url_prefix="/h")


def link_rate() -> str:
    return current_app.config["LINK_RATE_LIMIT"]



def item_or_404(handoff_id: int) -> Handoff:
    return get_or_404(Handoff, handoff_id)


def shop_time(value: datetime | None) -> datetime | None:
    """A naive datetime-local value typed in shop time, as aware UTC."""
    return value.replace(tzinfo=current_app.config["SHOP_TZ"]) if value else None


def answer(item: Handoff, message: str | None = None, error: str | None = None):
    return action_answer(url_for("handoffs.detail", handoff_id=item.id), message, error, event="handoffChanged")


def my_team_id() -> int | None:
    """Whose inbox: a lead may look at any team's (?team=), everyone else at their own."""
    chosen = parse_id(request.args.get("team"))
    if current_user.can("lead_handoffs") and chosen and db.session.get(Team, chosen) is not None:
        return chosen
    return current_user.team_id


# --- the team inbox -----------------------------------------------------------------------------------

@bp.route("/")
@permission_required("use_workspace")
@live.region
def sheet():
    """What my team owes (overdue first) and what it raised and waits for; live like the board."""
    now, event_id, ack = utcnow(), latest_event_id(), flow.ack_window()
    team_id = my_team_id()
    owed = db.session.scalars(flow.owed_by(team_id, current_user)).all()
    raised = db.session.scalars(flow.raised_by(team_id, current_user)).all()
    rank = {"overdue": 0, "flagged": 1, "on_time": 2, "waiting": 3}
    owed.sort(key=lambda item: (rank.get(flow.status(item, now, ack), 4), item.due_at))
    token = live.make_token(event_id, live.earliest(flow.next_change(item, now, ack) for item in [*owed, *raised]))
    teams = db.session.scalars(sa.select(Team).where(Team.active).order_by(Team.name)).all()
    return render_page("handoffs/sheet.html", "handoffs/_inbox.html", owed=owed, raised=raised, now=now, ack=ack,
                       status=flow.status, token=token, poll_seconds=live.poll_seconds(), team_id=team_id, teams=teams)


@bp.route("/new", methods=["GET", "POST"])
@permission_required("work_handoffs")
def create():
    form = HandoffForm()
    case_id = parse_id(request.values.get("case_id"))
    case = db.session.get(Case, case_id) if case_id else None
    if request.method == "GET":
        kind = request.args.get("kind", "")
        form.kind.data = kind if kind in HANDOFF_KINDS and kind != "shift" else "presales"
        team = flow.team_for_kind(form.kind.data)
        if case is not None and case.buyer_phone:
            form.contact_phone.data = case.buyer_phone
        form.owed_team_id.data = team.id if team else None
        form.order_no.data = case.order_no if case else request.args.get("order_no", "")[:64]
        form.request.data = request.args.get("request", "")[:2000]
        form.case_id.data = case.id if case else ""
    if form.validate_on_submit():
        try:
            item = flow.raise_handoff(
                kind=form.kind.data, raiser=current_user, owed_team=db.session.get(Team, form.owed_team_id.data),
                owed_user=db.session.get(User, form.owed_user_id.data) if form.owed_user_id.data else None,
                request=form.request.data, now=utcnow(), order_no=form.order_no.data or "", case=case,
                due_at=shop_time(form.due_at.data), invoice_details=form.invoice_details.data,
                items_to_send=form.items_to_send.data, return_tracking_no=form.return_tracking_no.data,
                address=form.address.data, appointment_at=shop_time(form.appointment_at.data),
                contact_phone=form.contact_phone.data, share_phone=form.share_phone.data)
            db.session.commit()
        except UserError as refused:
            db.session.rollback()
            form.request.errors.append(str(refused.message))
        else:
            flash(_("Handoff %(ref)s raised for %(team)s.", ref=item.reference, team=item.owed_team.name), "success")
            return redirect(url_for("handoffs.detail", handoff_id=item.id))
    teams = {kind: flow.team_for_kind(kind) for kind in HANDOFF_KINDS}
    return render_template("handoffs/form.html", form=form, case=case,
                           default_hours={kind: flow.due_hours(kind) for kind in HANDOFF_KINDS},
                           kind_teams={kind: team.id for kind, team in teams.items() if team is not None})


# --- one item -------------------------------------------------------------------------------------------

@bp.route("/<int:handoff_id>")
@permission_required("use_workspace")
@live.region
def detail(handoff_id):
    now, event_id, ack = utcnow(), latest_event_id(), flow.ack_window()
    item = item_or_404(handoff_id)
    context = item_context(item, now, ack)
    context["token"] = live.make_token(event_id, flow.next_change(item, now, ack))
    return render_page("handoffs/detail.html", "handoffs/_detail_live.html", **context)


def item_context(item: Handoff, now: datetime, ack: timedelta, **extra) -> dict:
    return {
        "item": item, "now": now, "status": flow.status(item, now, ack), "poll_seconds": live.poll_seconds(),
        "history": db.session.scalars(TimelineEvent.for_subject("handoff", item.id).limit(200)).all(),
        "files": flow.files_of(item), "links": flow.links_of(item),
        "shift_cases": db.session.scalars(sa.select(ShiftCase).where(ShiftCase.handoff_id == item.id)).all()
        if item.kind == "shift" else [],
        "owes": flow.owes(current_user, item), "raised": flow.raised(current_user, item),
        "masked_phone": mask_phone(item.contact_phone), **extra,
    }


def run_step(handoff_id: int, form, apply, message: str):
    """Validate, check the version the person saw, apply one rule, commit; refuse with a clear message."""
    item = item_or_404(handoff_id)
    if not form.validate_on_submit():
        return answer(item, error=first_error(form))
    def checked_apply():
        if hasattr(form, "version") and form.version.data:
            check_version(item, form.version.data)
        apply(item)

    refusal = commit_or_refuse(checked_apply, lambda: _("Someone else changed this handoff just before you; look at it again."))
    return answer(item, error=refusal) if refusal is not None else answer(item, message=message)


# The steps on an item: endpoint -> (path, form, the rule applied with that form, the answer).
# One view runs them all (run_step), so every step validates, checks the version and answers alike.
STEPS = {
    "acknowledge": ("acknowledge", AcknowledgeForm, _l("Acknowledged."), lambda item, form: flow.acknowledge(
        item, current_user, shop_time(form.expected_at.data), utcnow(), rules=sla.load_rules())),
    "follow_up": ("follow-up", FollowUpForm, _l("Follow-up added."),
                  lambda item, form: flow.follow_up(item, current_user, form.text.data, utcnow())),
    "done": ("done", DoneForm, _l("Marked done; the other side confirms it."),
             lambda item, form: flow.mark_done(item, current_user, form.note.data, utcnow(), rules=sla.load_rules())),
    "close": ("close", EmptyForm, _l("Confirmed and closed."), lambda item, form: flow.close(item, current_user, utcnow())),
    "send_back": ("send-back", SendBackForm, _l("Sent back."),
                  lambda item, form: flow.send_back(item, current_user, form.reason.data, utcnow())),
    "add_file": ("files", HandoffFileForm, _l("Photo added."),
                 lambda item, form: flow.add_file(item, form.file.data, current_user, utcnow())),
    "accept": ("accept", EmptyForm, _l("Accepted: the cases are yours now."),
               lambda item, form: flow.accept_shift(item, current_user, sla.load_rules(), utcnow())),
}


def step_view(form_class, message, apply):
    def view(handoff_id):
        form = form_class()
        return run_step(handoff_id, form, lambda item: apply(item, form), str(message))

    return view


for _endpoint, (_path, _form_class, _message, _apply) in STEPS.items():
    # accept: the receiver of a shift handoff works cases; the other steps belong to the teams of the sheet
    _permission = "work_cases" if _endpoint == "accept" else "work_handoffs"
    bp.add_url_rule(f"/<int:handoff_id>/{_path}", _endpoint,
                    permission_required(_permission)(step_view(_form_class, _message, _apply)), methods=["POST"])


@bp.route("/<int:handoff_id>/files/<int:file_id>")
@permission_required("use_workspace")
def file(handoff_id, file_id):
    return send_kept_file(handoff_id, file_id)


def send_kept_file(handoff_id: int, file_id: int):
    kept = db.session.get(HandoffFile, file_id)
    if kept is None or kept.handoff_id != handoff_id or not evidence.path_of(kept).exists():
        abort(404)
    return send_file(evidence.path_of(kept), mimetype=kept.content_type, download_name=evidence.clean_name(kept.original_name),
                     max_age=0)


@bp.route("/<int:handoff_id>/links", methods=["POST"])
@permission_required("work_handoffs")
def create_link(handoff_id):
    """A secret link for an outside party; its address is shown once, on the page that answers."""
    item = item_or_404(handoff_id)
    form = LinkForm()
    if not form.validate_on_submit():
        return answer(item, error=first_error(form))
    try:
        token = flow.create_link(item, form.party.data, current_user, utcnow(), form.hours.data)
        db.session.commit()
    except UserError as refused:
        db.session.rollback()
        return answer(item, error=str(refused.message))
    now = utcnow()
    return render_page("handoffs/detail.html", "handoffs/_detail_live.html",
                       **item_context(item, now, flow.ack_window(), token=live.make_token(latest_event_id(), None),
                                      new_link=url_for("handoff_links.view", token=token, _external=True)))


@bp.route("/<int:handoff_id>/links/<int:link_id>/revoke", methods=["POST"])
@permission_required("work_handoffs")
def revoke_link(handoff_id, link_id):
    item = item_or_404(handoff_id)
    link = next((each for each in flow.links_of(item) if each.id == link_id), None)
    if link is None:
        abort(404)
    form = EmptyForm()
    return run_step(handoff_id, form, lambda _item: flow.revoke_link(link, current_user, utcnow()), _("Link revoked."))


# --- routing a case ------------------------------------------------------------------------------------

@bp.route("/route/<int:case_id>", methods=["POST"])
@permission_required("work_cases")
def route(case_id):
    """Routing a case to a team makes a handoff that team sees at once; the case's response clock follows it."""
    case = get_or_404(Case, case_id)
    form = RouteForm()
    back = url_for("cases.detail", case_id=case.id)
    if not form.validate_on_submit():
        return action_answer(back, error=first_error(form))
    team = db.session.get(Team, form.team_id.data)
    if team is not None and KIND_FOR_FUNCTION.get(team.function) == "installer":
        # An installer needs the address and the appointment: the full form, filled in as far as we can.
        target = url_for("handoffs.create", case_id=case.id, kind="installer", request=form.request.data[:2000])
        return ("", 204, {"HX-Redirect": target}) if request.htmx else redirect(target)
    routed = []

    def route_it():
        check_version(case, form.version.data)
        routed.append(flow.route_case(case, team, form.request.data, current_user, sla.load_rules(), utcnow()))

    refusal = commit_or_refuse(route_it, lambda: _("Someone else changed this case just before you; look at it again."))
    if refusal is not None:
        return action_answer(back, error=refusal)
    item = routed[0]
    return action_answer(back, _("Routed to %(team)s as %(ref)s.", team=item.owed_team.name, ref=item.reference),
                         event="caseChanged")


# --- the end-of-shift handoff ----------------------------------------------------------------------------

@bp.route("/shift", methods=["GET", "POST"])
@permission_required("work_cases")
def shift():
    """Hand all my unfinished cases to a colleague in one step, a note on each; they move when accepted."""
    form = ShiftForm()
    cases = flow.unfinished_cases(current_user)
    if form.validate_on_submit():
        notes = {case.id: request.form.get(f"note_{case.id}", "")[:500] for case in cases}
        try:
            receiver = db.session.get(User, form.receiver_id.data) if form.receiver_id.data else None
            if receiver is None:
                raise flow.HandoffRefused(_l("Choose the colleague who takes over."))
            item = flow.hand_over_shift(current_user, receiver, notes, form.note.data or "", utcnow())
            db.session.commit()
        except UserError as refused:
            db.session.rollback()
            form.receiver_id.errors.append(str(refused.message))
        else:
            flash(_("%(count)s cases offered to %(name)s; they move when %(name)s accepts.", count=len(cases),
                    name=item.owed_user.display_name), "success")
            return redirect(url_for("handoffs.detail", handoff_id=item.id))
    return render_template("handoffs/shift.html", form=form, cases=cases)


# --- the lead's tools ---------------------------------------------------------------------------------------

@bp.route("/uncovered")
@permission_required("lead_handoffs")
def uncovered():
    """Every open case without an owner at work today (the list should be empty), and shift handoffs not yet accepted."""
    now = utcnow()
    pending = db.session.scalars(sa.select(Handoff).where(Handoff.kind == "shift", Handoff.state == "open")
                                 .order_by(Handoff.created_at)).all()
    return render_template("handoffs/uncovered.html", cases=flow.uncovered_cases(now, current_app.config["SHOP_TZ"]),
                           pending=pending, now=now)


@bp.route("/rules", methods=["GET", "POST"])
@permission_required("lead_handoffs")
def rules():
    due = {**DEFAULT_DUE_HOURS, **(get_setting("handoff_due_hours") or {})}
    form = rules_form(ack_minutes=get_setting("handoff_ack_minutes"), link_hours=get_setting("handoff_link_hours"),
                      **{f"due_{kind}": hours for kind, hours in due.items()})
    if form.validate_on_submit():
        save_settings({"handoff_ack_minutes": form.ack_minutes.data, "handoff_link_hours": form.link_hours.data,
                       "handoff_due_hours": {kind: form[f"due_{kind}"].data for kind in HANDOFF_KINDS}}, current_user)
        db.session.commit()
        flash(_("Handoff rules saved."), "success")
        return redirect(url_for("handoffs.rules"))
    return render_template("handoffs/rules.html", form=form, kinds=HANDOFF_KINDS)


@bp.route("/export.csv")
@permission_required("use_workspace")
def export_csv():
    return export("csv")


@bp.route("/export.xlsx")
@permission_required("use_workspace")
def export_xlsx():
    return export("xlsx")


def export(file_format: str):
    """The sheet as teams kept it, for one team (or all) and a date range (shop days, inclusive)."""
    zone = current_app.config["SHOP_TZ"]
    today = utcnow().astimezone(zone).date()
    start, end = handoff_export.date_range(request.args.get("start", ""), request.args.get("end", ""), today)
    team_id = parse_id(request.args.get("team"))
    if team_id and db.session.get(Team, team_id) is None:
        team_id = None
    statement = flow.export_statement(team_id, datetime.combine(start, datetime.min.time(), zone),
                                      datetime.combine(end + timedelta(days=1), datetime.min.time(), zone))
    header = handoff_export.column_titles()
    rows = handoff_export.rows(db.session.scalars(statement), zone)
    name = f"handoffs-{start:%Y%m%d}-{end:%Y%m%d}.{file_format}"
    if file_format == "csv":
        return spreadsheets.csv_response([header, *rows], name)
    return spreadsheets.xlsx_response(header, rows, name, title=_("Handoffs"), widths=handoff_export.WIDTHS)


# --- the header's number --------------------------------------------------------------------------------------

@live.header_counter(order=30)
def header_counter(user, now) -> HeaderCounter:
    # A lead's header must also refresh when a major complaint's item turns late with no data change.
    turns_late = flow.next_major_flag(now, flow.ack_window()) if user.can("lead_handoffs") else None
    # The very list the sheet shows under the same words ("Waiting for my team"); before, the header counted
    # only the items not done yet, so it and the sheet gave two numbers for one list.
    owed = flow.owed_by(user.team_id, user)
    newest = db.session.scalars(owed.order_by(None).where(Handoff.state == "open")
                                .order_by(Handoff.id.desc()).limit(1)).first()
    news = live.News()
    if newest is not None:
        news = live.News(newest.id, _("Handoff %(reference)s for your team", reference=newest.reference),
                         url_for("handoffs.detail", handoff_id=newest.id))
    return HeaderCounter("handoffs", _l("Handoffs waiting for my team"), live.count_rows(owed), url_for("handoffs.sheet"),
                         changes_at=turns_late, waiting=True, news=news)


@live.header_counter(order=31)
def lead_alert(user, now) -> HeaderCounter | None:
    """Leads: major-complaint handoffs nobody acknowledged in time, anywhere (shown only when there are some)."""
    if not user.can("lead_handoffs"):
        return None
    ack = flow.ack_window()
    late = flow.late_for_lead(now, ack)
    return HeaderCounter("handoff_alerts", _l("Major complaints not acknowledged"), late, url_for("handoffs.sheet"),
                         changes_at=flow.next_major_flag(now, ack), urgent=True, waiting=True) if late else None


# --- outside parties ---------------------------------------------------------------------------------------------

def open_link_or_refuse(token: str):
    try:
        return flow.open_link(token, utcnow()), None
    except flow.LinkRefused as refused:
        status = 404 if refused.reason == "unknown" else 410
        return None, (render_template("handoffs/link_refused.html", reason=refused.reason), status)


@link_bp.route("/<token>")
@limiter.limit(link_rate)
def view(token):
    """The one item the link opens; nothing else of the app is reachable with it."""
    link, refusal = open_link_or_refuse(token)
    if refusal:
        return refusal
    item = link.handoff
    return render_template("handoffs/public.html", item=item, link=link, token=token,
                       files=flow.files_of(item), now=utcnow(), ack_form=AcknowledgeForm(formdata=None),
                       history=db.session.scalars(TimelineEvent.for_subject("handoff", item.id).limit(100)).all())


def link_step(token: str, form, apply, message: str):
    link, refusal = open_link_or_refuse(token)
    if refusal:
        return refusal
    back = url_for("handoff_links.view", token=token)
    if not form.validate_on_submit():
        flash(first_error(form), "error")
        return redirect(back)
    try:
        apply(link)
        link.last_used_at = utcnow()
        db.session.commit()
    except UserError as refused:
        db.session.rollback()
        flash(str(refused.message), "error")
        return redirect(back)
    flash(message, "success")
    return redirect(back)


@link_bp.route("/<token>/opened", methods=["POST"])
@limiter.limit(link_rate)
def opened(token):
    """The page posts this when it loads (a GET writes nothing): the timeline shows when the party looked."""
    link, refusal = open_link_or_refuse(token)
    if refusal:
        return refusal
    now = utcnow()
    if EmptyForm().validate_on_submit() and (link.last_used_at is None or now - link.last_used_at > timedelta(minutes=30)):
        link.last_used_at = now
        record(None, "handoff", link.handoff_id, "link_opened", party=link.party, link=link.id)
        db.session.commit()
    return "", 204


@link_bp.route("/<token>/acknowledge", methods=["POST"])
@limiter.limit(link_rate)
def link_acknowledge(token):
    form = AcknowledgeForm()
    return link_step(token, form, lambda link: flow.acknowledge(link.handoff, None, shop_time(form.expected_at.data), utcnow(),
                                                                party=link.party, rules=sla.load_rules()), _("Acknowledged."))


@link_bp.route("/<token>/follow-up", methods=["POST"])
@limiter.limit(link_rate)
def link_follow_up(token):
    form = FollowUpForm()
    return link_step(token, form, lambda link: flow.follow_up(link.handoff, None, form.text.data, utcnow(), party=link.party),
                     _("Follow-up added."))


@link_bp.route("/<token>/files", methods=["POST"])
@limiter.limit(link_rate)
def link_file(token):
    form = HandoffFileForm()
    return link_step(token, form, lambda link: flow.add_file(link.handoff, form.file.data, None, utcnow(), party=link.party),
                     _("Photo added."))


@link_bp.route("/<token>/files/<int:file_id>")
@limiter.limit(link_rate)
def link_file_view(token, file_id):
    link, refusal = open_link_or_refuse(token)
    if refusal:
        return refusal
    return send_kept_file(link.handoff_id, file_id)


@link_bp.route("/<token>/done", methods=["POST"])
@limiter.limit(link_rate)
def link_done(token):
    form = DoneForm()
    return link_step(token, form, lambda link: flow.mark_done(link.handoff, None, form.note.data, utcnow(), party=link.party,
                                                              rules=sla.load_rules()), _("Marked done. Thank you."))
