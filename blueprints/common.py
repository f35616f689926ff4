"""Helpers every blueprint uses: the one permission check and the one page/partial renderer."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import abort, make_response, render_template, request
from flask_login import current_user, login_required


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
