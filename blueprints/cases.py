"""The case board. The foundation gives it its place in the shell; the case-board issue fills it."""

from __future__ import annotations

from flask import Blueprint, url_for
from flask_babel import lazy_gettext as _l

from blueprints.common import permission_required, render_page
from live import HeaderCounter

bp = Blueprint("cases", __name__, url_prefix="/cases")


@bp.route("/")
@permission_required("use_workspace")
def board():
    return render_page("cases/board.html")


def header_counter(user, now) -> HeaderCounter:
    return HeaderCounter("overdue", _l("My overdue cases"), None, url_for("cases.board"))


def approvals_counter(user, now) -> HeaderCounter | None:
    return HeaderCounter("approvals", _l("Approvals waiting for me"), None, url_for("cases.board"))
