"""Helpers every blueprint uses: the one permission check and the one page/partial renderer."""

from __future__ import annotations

import json
from functools import wraps
from urllib.parse import urlsplit

from flask import abort, flash, make_response, redirect, render_template, request
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy.orm.exc import StaleDataError

from models import MAX_ID, UserError, VersionConflict, db


def permission_required(permission: str):
    """Log-in required, then the user's role must grant ``permission`` (else 403).

    The permission is kept on the view so route-wide tests can find who must be refused.
    """

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not current_user.can(permission):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_permission = permission
        return wrapped

    return decorator


def render_page(full_template: str, partial_template: str | None = None, status_code: int = 200, **context):
    """Render the full page, or only its partial for an htmx request.

    The full page includes the same partial, so the two can never drift apart.
    """
    template = partial_template if (partial_template and request.htmx) else full_template
    response = make_response(render_template(template, **context), status_code)
    response.vary.add("HX-Request")
    return response


def is_safe_next(target: str | None) -> bool:
    """Only same-site paths: no scheme, no host, no protocol-relative '//'."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


def safe_target(target: str | None, default: str) -> str:
    """The one check on a redirect target that came with a request: ours, or ``default``."""
    return target if is_safe_next(target) else default


MAX_PAGE = 100_000


def page_number() -> int:
    """?page= as a page a list can have: 1 for anything missing, odd or absurdly large."""
    raw = request.args.get("page", "")
    return min(int(raw), MAX_PAGE) if raw.isdigit() and int(raw) > 0 else 1


def parse_id(text: str | None) -> int | None:
    """An id from a query or form value, or None when it is not one a database row can have."""
    return int(text) if text and text.isdigit() and int(text) <= MAX_ID else None


def get_or_404(model, object_id):
    """The row with this id, or a 404 page."""
    obj = db.session.get(model, object_id)
    if obj is None:
        abort(404)
    return obj


def first_error(form) -> str:
    """The first validation message of a form, with its field's label, for a one-line answer."""
    for name, errors in form.errors.items():
        field = getattr(form, name, None)
        return _("%(field)s: %(error)s", field=field.label.text if field is not None else name, error=errors[0])
    return _("The request could not be understood.")


def trigger(response, *events: str):
    """Announce events to the page (HX-Trigger), merged as JSON with any the response already carries."""
    current = response.headers.get("HX-Trigger")
    merged = {}
    if current:
        try:
            merged = json.loads(current)
        except ValueError:
            merged = {name.strip(): None for name in current.split(",") if name.strip()}
    merged.update(dict.fromkeys(events))
    response.headers["HX-Trigger"] = json.dumps(merged)
    return response


class Refusal(str):
    """The message of a refused change; ``conflict`` when someone else changed the record first."""

    conflict = False


def commit_or_refuse(apply, conflict_message) -> Refusal | None:
    """The one way a view applies a rule: apply, commit; on a version conflict or a rule's refusal roll back
    and return the message for the person (``conflict_message()`` is called only after the rollback)."""
    try:
        apply()
        db.session.commit()
    except (VersionConflict, StaleDataError):
        db.session.rollback()
        refusal = Refusal(conflict_message())
        refusal.conflict = True
        return refusal
    except UserError as refused:
        db.session.rollback()
        return Refusal(str(refused.message))
    return None


def action_answer(back_url: str, message: str | None = None, error: str | None = None, status_code: int = 200,
                  event: str = "caseChanged"):
    """The one answer to an action button.

    htmx: the message in the flash area and, on success, ``event`` so the live regions that listen refresh
    (each area names its own: caseChanged, compensationChanged …). Otherwise: the message flashed and the
    browser sent back to ``back_url``, which must be one of ours (see ``safe_target``).
    """
    if request.htmx:
        response = make_response(render_template("cases/_action_result.html", message=message, error=error), status_code)
        response.vary.add("HX-Request")
        response.headers["HX-Retarget"] = "#flash"
        response.headers["HX-Reswap"] = "innerHTML"
        if error is None:
            trigger(response, event)
        return response
    flash(error or message, "error" if error else "success")
    return redirect(back_url)
