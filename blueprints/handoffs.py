"""The cross-team handoff sheet (交接表). A placeholder until its issue is built."""

from __future__ import annotations

from flask import Blueprint, url_for
from flask_babel import lazy_gettext as _l

import live
from blueprints.common import permission_required, render_page
from live import HeaderCounter

bp = Blueprint("handoffs", __name__, url_prefix="/handoffs")


@bp.route("/")
@permission_required("use_workspace")
def sheet():
    return render_page("handoffs/sheet.html")


@live.header_counter(order=30)
def header_counter(user, now) -> HeaderCounter:
    return HeaderCounter("handoffs", _l("Handoffs waiting for my team"), None, url_for("handoffs.sheet"))
