"""The shell: home, the live header counters, the language switch."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, request, session, url_for
from flask_login import current_user

import live
from blueprints import cases, compensation, handoffs, reviews
from blueprints.common import is_safe_next, permission_required, render_page
from forms import LanguageForm
from models import db, latest_event_id, utcnow

bp = Blueprint("main", __name__)

# Each area adds its own number to the header; the order is the header's.
COUNTER_SOURCES = (cases.header_counter, compensation.header_counter, handoffs.header_counter, reviews.header_counter)


def header_counters(user, now):
    return [counter for source in COUNTER_SOURCES if (counter := source(user, now)) is not None]


@bp.route("/ping")
def ping():
    """Health check for a load balancer, and the bare route benchmarks compare against: no login, no database."""
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.route("/")
@permission_required("use_workspace")
def index():
    return redirect(url_for("cases.board"))


@bp.route("/counters")
@permission_required("use_workspace")
@live.region
def counters():
    """The header's live region. A poll whose token holds was answered 204 before reaching here."""
    now = utcnow()
    event_id = latest_event_id()
    items = header_counters(current_user, now)
    token = live.make_token(event_id, live.earliest(item.changes_at for item in items))
    return render_page(
        "main/_counters.html", "main/_counters.html",
        counters=items, token=token, poll_seconds=cases.poll_seconds(),
    )


@bp.route("/language", methods=["POST"])
@permission_required("use_workspace")
def language():
    form = LanguageForm()
    if not form.validate_on_submit() or form.locale.data not in current_app.config["LANGUAGES"]:
        abort(400)
    session["locale"] = form.locale.data
    current_user.locale = form.locale.data
    db.session.commit()
    back = request.form.get("next")
    return redirect(back if is_safe_next(back) else url_for("main.index"))
