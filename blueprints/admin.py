"""Accounts, teams and settings, for administrators (settings also for managers)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal

import click
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

import timeline
from blueprints.common import get_or_404, page_number, permission_required
from cases.labels import CASE_KINDS, CASE_STATES, FLAGS, PRIORITIES
from forms.admin import SettingsForm, TeamForm, UserForm
from models import (
    CENT,
    PLATFORMS,
    ROLES,
    SETTING_DEFAULTS,
    Case,
    Team,
    TimelineEvent,
    User,
    VersionConflict,
    apply_changes,
    check_version,
    db,
    default_compensation_limit,
    get_setting,
    record,
    save_settings,
)

# cli_group=None: its commands are top-level, e.g. ``flask create-user``.
bp = Blueprint("admin", __name__, url_prefix="/admin", cli_group=None)


# --- names instead of ids in the change log -------------------------------------------------------

class TeamNames:
    """Team id -> name for the "changed Team: 3 → 5" sentences: every team read once per request (a few rows)."""

    def get(self, key, default=None):
        if "team_names" not in g:
            g.team_names = dict(db.session.execute(sa.select(Team.id, Team.name)).all())
        return g.team_names.get(key, default)


bp.record_once(lambda state: timeline.register({}, value_labels={"team_id": TeamNames()}))


def subject_names(events: Iterable[TimelineEvent]) -> dict[tuple[str, int], str]:
    """(subject type, id) -> the account's or team's name, for the events' accounts and teams: two queries at most."""
    wanted: dict[str, set[int]] = {"user": set(), "team": set()}
    for event in events:
        if event.subject_type in wanted and event.subject_id:
            wanted[event.subject_type].add(event.subject_id)
    names = {}
    if wanted["user"]:
        names.update({("user", user_id): name for user_id, name in db.session.execute(
            sa.select(User.id, User.display_name).where(User.id.in_(wanted["user"])))})
    if wanted["team"]:
        names.update({("team", team_id): name for team_id, name in db.session.execute(
            sa.select(Team.id, Team.name).where(Team.id.in_(wanted["team"])))})
    return names


@bp.context_processor
def change_log_helpers():
    return {"subject_names": subject_names}


def active_admin_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).where(User.role == "admin", User.active)) or 0


def lockout_error(user: User, role: str, active: bool) -> str | None:
    """Refuse changes that would leave nobody able to administer the shop."""
    if user.id == current_user.id and not active:
        return _("You cannot deactivate your own account.")
    losing_admin = user.role == "admin" and user.active and (role != "admin" or not active)
    if losing_admin and active_admin_count() <= 1:
        return _("This is the last active administrator: make someone else administrator first.")
    return None


def user_values(form: UserForm) -> dict:
    role = form.role.data
    if form.unlimited.data:
        limit = None
    elif form.compensation_limit.data is not None:
        limit = form.compensation_limit.data.quantize(CENT)
    else:
        limit = default_compensation_limit(role)
    return {
        "username": form.username.data.strip(),
        "display_name": form.display_name.data.strip(),
        "role": role,
        "team_id": form.team_id.data or None,
        "compensation_limit": limit,
        "active": form.active.data,
    }


@bp.route("/users")
@permission_required("manage_users")
def users():
    return render_template("admin/users.html", users=db.session.scalars(User.ordered()).all())


@bp.route("/users/new", methods=["GET", "POST"])
@permission_required("manage_users")
def create_user():
    form = UserForm()
    if form.validate_on_submit():
        user = User(password_hash="")
        apply_changes(user, user_values(form))
        user.set_password(form.password.data)
        db.session.add(user)
        db.session.flush()
        record(current_user, "user", user.id, "created", username=user.username, role=user.role,
               compensation_limit=user.compensation_limit)
        db.session.commit()
        flash(_("Account %(name)s created.", name=user.username), "success")
        return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@permission_required("manage_users")
def edit_user(user_id):
    user = get_or_404(User, user_id)
    form = UserForm(obj=user, editing=user)
    if request.method == "GET":
        form.team_id.data = user.team_id or 0
        form.unlimited.data = user.compensation_limit is None
    conflict = None
    if form.validate_on_submit():
        values = user_values(form)
        error = lockout_error(user, values["role"], values["active"])
        try:
            check_version(user, form.version.data)
        except VersionConflict:
            conflict = user
        if error:
            flash(error, "error")
        elif conflict is None:
            changes = apply_changes(user, values)
            if "compensation_limit" in changes:  # limits have their own audit list
                old, new = changes["compensation_limit"]
                record(current_user, "user", user.id, "limit_changed", name=user.display_name, **{"from": old, "to": new})
            if form.password.data:
                user.set_password(form.password.data)
                changes["password"] = ["", _("reset")]
            elif changes.get("active") == [True, False]:
                user.end_sessions()  # disabled: every open session and remember cookie stops at once
            if changes:
                record(current_user, "user", user.id, "updated", changes=changes)
            db.session.commit()
            flash(_("Account %(name)s saved.", name=user.username), "success")
            return redirect(url_for("admin.users"))
    form.version.data = user.version
    return render_template("admin/user_form.html", form=form, user=user, conflict=conflict)


@bp.route("/teams", methods=["GET", "POST"])
@permission_required("manage_users")
def teams():
    form = TeamForm()
    if form.validate_on_submit():
        team = Team(name=form.name.data, function=form.function.data, active=True)
        db.session.add(team)
        db.session.flush()
        record(current_user, "team", team.id, "created", name=team.name, function=team.function)
        db.session.commit()
        flash(_("Team %(name)s added.", name=team.name), "success")
        return redirect(url_for("admin.teams"))
    counts = dict(db.session.execute(
        sa.select(User.team_id, sa.func.count()).where(User.active).group_by(User.team_id)
    ).all())
    return render_template("admin/teams.html", form=form, teams=db.session.scalars(Team.ordered()).all(), counts=counts)


@bp.route("/teams/<int:team_id>", methods=["GET", "POST"])
@permission_required("manage_users")
def edit_team(team_id):
    team = get_or_404(Team, team_id)
    form = TeamForm(obj=team, editing=team)
    conflict = None
    if form.validate_on_submit():
        try:
            check_version(team, form.version.data)
        except VersionConflict:
            conflict = team
        else:
            changes = apply_changes(team, {"name": form.name.data, "function": form.function.data, "active": form.active.data})
            if changes:
                record(current_user, "team", team.id, "updated", changes=changes)
            db.session.commit()
            flash(_("Team %(name)s saved.", name=team.name), "success")
            return redirect(url_for("admin.teams"))
    form.version.data = team.version
    return render_template("admin/team_form.html", form=form, team=team, conflict=conflict)


@bp.route("/settings", methods=["GET", "POST"])
@permission_required("manage_settings")
def settings():
    form = SettingsForm()
    if request.method == "GET":
        for key in SETTING_DEFAULTS:
            if hasattr(form, key):
                value = get_setting(key)
                getattr(form, key).data = Decimal(value) if key.startswith("limit_") and value is not None else value
    if form.validate_on_submit():
        values = {}
        for key in SETTING_DEFAULTS:
            field = getattr(form, key, None)
            if field is not None:
                values[key] = str(field.data.quantize(CENT)) if isinstance(field.data, Decimal) else field.data
        save_settings(values, current_user)
        db.session.commit()
        flash(_("Settings saved."), "success")
        return redirect(url_for("admin.settings"))
    history = db.session.scalars(
        sa.select(TimelineEvent)
        .where(TimelineEvent.subject_type.in_(("settings", "user", "team")))
        .order_by(TimelineEvent.id.desc())
        .limit(30)
    ).all()
    return render_template("admin/settings.html", form=form, history=history)


# --- the personal data log -----------------------------------------------------------------------

# The events of the log: (subject type, action) -> kind. A reveal is recorded on its case by cases/flow.py,
# an export of full numbers by blueprints/imports.py.
PERSONAL_DATA_EVENTS = {("case", "phone_revealed"): "reveal", ("export", "phones_exported"): "export"}
PERSONAL_DATA_KINDS = {"reveal": _l("Phone number revealed"), "export": _l("Full numbers exported")}
PERSONAL_DATA_PAGE_SIZE = 50
# The board filter an export was made with (cases.board.CaseFilter.to_args()), in words.
FILTER_FIELDS = {"q": _l("Order number or buyer"), "scope": _l("Whose"), "assignee": _l("Assignee"), "platform": _l("Platform"),
                 "kind": _l("Kind"), "priority": _l("Priority"), "clock": _l("Deadline"), "flag": _l("Flag"), "state": _l("State")}
FILTER_VALUES = {
    "scope": {"mine": _l("Mine"), "team": _l("My team"), "unassigned": _l("Unassigned")},
    "platform": PLATFORMS, "kind": CASE_KINDS, "priority": {str(level): label for level, label in PRIORITIES.items()},
    "clock": {"at_risk": _l("At risk or overdue"), "overdue": _l("Overdue")},
    "flag": {"any": _l("Any flag"), **FLAGS}, "state": CASE_STATES,
}


def filter_words(args: dict, people: dict[int, str]) -> list[tuple[str, str]]:
    """(field, value) in words for an export's filter; ``people``: user id -> name, for the assignee."""
    words = []
    for name, value in (args or {}).items():
        if name == "assignee" and str(value).isdigit():
            text = people.get(int(value), f"#{value}")
        else:
            text = FILTER_VALUES.get(name, {}).get(value, value)
        words.append((str(FILTER_FIELDS.get(name, name)), str(text)))
    return words


@bp.route("/personal-data")
@permission_required("read_personal_data_log")
def personal_data():
    """Who saw buyers' full phone numbers: each reveal on a case and each export of full numbers, newest first.

    At most four queries whatever a page holds: the count, the events with their actors, the cases' order
    numbers, the names of assignees in export filters.
    """
    statement = (
        sa.select(TimelineEvent)
        .options(so.joinedload(TimelineEvent.actor))
        .where(sa.or_(*(sa.and_(TimelineEvent.subject_type == subject, TimelineEvent.action == action)
                        for subject, action in PERSONAL_DATA_EVENTS)))
        .order_by(TimelineEvent.id.desc())
    )
    page = db.paginate(statement, page=page_number(), per_page=PERSONAL_DATA_PAGE_SIZE, error_out=False)
    case_ids = {event.subject_id for event in page.items if event.subject_type == "case"}
    orders = dict(db.session.execute(sa.select(Case.id, Case.order_no).where(Case.id.in_(case_ids))).all()) if case_ids else {}
    assignees = {int(value) for event in page.items if str(value := (event.detail or {}).get("filter", {}).get("assignee", "")).isdigit()}
    people = dict(db.session.execute(sa.select(User.id, User.display_name).where(User.id.in_(assignees))).all()) if assignees else {}
    return render_template("admin/personal_data.html", page=page, orders=orders,
                           kind_of=lambda event: PERSONAL_DATA_EVENTS[(event.subject_type, event.action)],
                           log_kind_labels=PERSONAL_DATA_KINDS,
                           filter_words=lambda event: filter_words((event.detail or {}).get("filter"), people))


# --- command line -------------------------------------------------------------------------

@bp.cli.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(list(ROLES)), default="agent", show_default=True)
@click.option("--name", "display_name", help="Name shown to colleagues (default: the username).")
@click.option("--team", "team_name", help="Name of an existing team.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user_command(username, role, display_name, team_name, password):
    """Create an account (an administrator for a fresh install, for example)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", username):
        raise click.UsageError("the username takes letters, digits, dot, dash or underscore (at most 64)")
    if not 8 <= len(password) <= 128:
        raise click.UsageError("the password needs 8 to 128 characters")
    if db.session.scalar(User.by_username(username)) is not None:
        raise click.UsageError(f"user {username!r} exists already")
    team = None
    if team_name:
        team = db.session.scalar(sa.select(Team).where(Team.name == team_name))
        if team is None:
            names = ", ".join(db.session.scalars(sa.select(Team.name)).all())
            raise click.UsageError(f"no team named {team_name!r}; teams: {names}")
    user = User(username=username, display_name=display_name or username, role=role, team=team,
                compensation_limit=default_compensation_limit(role), password_hash="")
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    record(None, "user", user.id, "created", username=username, role=role, via="command line")
    db.session.commit()
    click.echo(f"created {role} {username}")
