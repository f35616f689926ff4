"""Log in, log out, change one's own password, switch one's own notifications."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

import timeline
from blueprints.common import commit_or_refuse, safe_target
from extensions import limiter
from forms.auth import BROWSER_LABEL, SOUND_LABEL, ChangePasswordForm, LoginForm, NotificationsForm
from forms.base import EmptyForm
from models import User, apply_changes, check_version, db, record

bp = Blueprint("auth", __name__, url_prefix="/auth")
# The timeline line of a change of one's switches names them as the form does.
bp.record_once(lambda state: timeline.register({}, field_labels={"notify_sound": SOUND_LABEL, "notify_browser": BROWSER_LABEL}))

# Checked when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a real password")


def authenticate(username: str, password: str) -> User | None:
    """The active user with this name and password, or None, in the same time either way."""
    user = db.session.scalar(User.by_username(username))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not user.check_password(password) or not user.active:
        return None
    return user


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login():
    next_page = request.args.get("next")
    if request.args.get("lang") in current_app.config["LANGUAGES"]:
        session["locale"] = request.args["lang"]
    if current_user.is_authenticated:
        return redirect(safe_target(next_page, url_for("main.index")))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.username.data, form.password.data)
        if user is None:
            # Same words for an unknown name, a wrong password and a deactivated account.
            form.password.errors.append(_("Wrong username or password."))
        else:
            chosen_locale = session.get("locale")
            if chosen_locale and user.locale != chosen_locale:
                user.locale = chosen_locale
            # Who is at work today (a lead's uncovered-cases list) and an audit of access.
            record(user, "user", user.id, "logged_in")
            db.session.commit()
            login_user(user, remember=form.remember.data)
            return redirect(safe_target(next_page, url_for("main.index")))
    return render_template("auth/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    form = EmptyForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        # A new generation ends this session and every other one of this user, remember cookies included:
        # a cookie copied before the logout opens nothing after it.
        user.end_sessions()
        record(user, "user", user.id, "logged_out")
        db.session.commit()
        logout_user()
        flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current_password.data):
            form.current_password.errors.append(_("The current password is not right."))
        else:
            user = current_user._get_current_object()
            user.set_password(form.new_password.data)
            record(user, "user", user.id, "password_changed")
            db.session.commit()
            # The new session generation ends other sessions; keep this one.
            login_user(user)
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("main.index"))
    return render_template("auth/password.html", form=form)


@bp.route("/notifications", methods=["GET", "POST"])
@login_required
def notifications():
    """One's own switches: a short sound and a browser notification when a new urgent item arrives.

    The browser's permission is asked by static/notify.js when the person ticks the box (a click), never before.
    """
    user = current_user._get_current_object()
    form = NotificationsForm(formdata=None, sound=user.notify_sound, browser=user.notify_browser, version=user.version)
    if request.method == "POST":
        form = NotificationsForm()
        if form.validate_on_submit():
            def apply():
                check_version(user, form.version.data)
                changes = apply_changes(user, {"notify_sound": form.sound.data, "notify_browser": form.browser.data})
                if changes:
                    record(user, "user", user.id, "updated", changes=changes)

            refusal = commit_or_refuse(apply, lambda: _("You changed these in another tab meanwhile; look at them again."))
            if refusal is None:
                flash(_("Notification settings saved."), "success")
                return redirect(url_for("auth.notifications"))
            flash(refusal, "error")
            user = db.session.get(User, user.id)
            form = NotificationsForm(formdata=None, sound=user.notify_sound, browser=user.notify_browser, version=user.version)
    return render_template("auth/notifications.html", form=form)
