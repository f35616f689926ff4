"""Error pages, as a table: each status with its title and message, for full pages and htmx alike."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError

from models import db

bp = Blueprint("errors", __name__)

# status -> (title, message); a CSRF failure is a 400 with its own words.
ERRORS = {
    400: (_l("Bad request"), _l("The request could not be understood.")),
    403: (_l("Not allowed"), _l("Your role does not allow this.")),
    404: (_l("Not found"), _l("There is nothing at this address.")),
    405: (_l("Not allowed"), _l("This address does not accept that kind of request.")),
    413: (_l("Too large"), _l("The upload is larger than allowed.")),
    429: (_l("Too many attempts"), _l("Too many attempts. Wait a minute and try again.")),
    500: (_l("Something went wrong"), _l("The error has been logged. Nothing was saved; please try again.")),
}


def render_error(status: int, title, message):
    if request.htmx:
        # Show the message in the flash area instead of replacing the panel that asked.
        body = render_template("errors/_message.html", title=title, message=message)
        return body, status, {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
    return render_template("errors/error.html", title=title, message=message, status=status), status


@bp.app_errorhandler(CSRFError)
def csrf_error(error):
    return render_error(400, _("Form expired"), _("The form was missing its security token or it has expired. Reload the page and try again."))


def handler(status: int):
    title, message = ERRORS[status]

    def handle(error):
        if status == 500:
            db.session.rollback()
        return render_error(status, title, message)

    return handle


for _status in ERRORS:
    bp.app_errorhandler(_status)(handler(_status))
