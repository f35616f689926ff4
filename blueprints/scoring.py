"""The monthly KPI scoring page (考核). A placeholder until its issue is built."""

from __future__ import annotations

from flask import Blueprint

from blueprints.common import permission_required, render_page

bp = Blueprint("scoring", __name__, url_prefix="/scoring")


@bp.route("/")
@permission_required("use_workspace")
def monthly():
    return render_page("scoring/monthly.html")
