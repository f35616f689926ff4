"""The negative-review worklist (差评日清). A placeholder until its issue is built."""

from __future__ import annotations

from flask import Blueprint, url_for
from flask_babel import lazy_gettext as _l

import live
from blueprints.common import permission_required, render_page
from live import HeaderCounter

bp = Blueprint("reviews", __name__, url_prefix="/reviews")


@bp.route("/")
@permission_required("use_workspace")
def worklist():
    return render_page("reviews/worklist.html")


@live.header_counter(order=40)
def header_counter(user, now) -> HeaderCounter:
    return HeaderCounter("reviews", _l("Reviews left today"), None, url_for("reviews.worklist"))
