"""Route-wide checks generated from the URL map, so a new route is covered without anyone remembering.

- every route but login and static sends an anonymous visitor to the login page;
- an htmx request from an expired session gets HX-Redirect, not a login form in a panel;
- every state-changing route refuses a request without a CSRF token;
- every route guarded by a permission refuses a role that lacks it.
"""

from __future__ import annotations

import pytest

from app import create_app
from models import PERMISSIONS, ROLES, Setting, db

PUBLIC_ENDPOINTS = {"static", "auth.login", "main.ping", "main.health"}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _rules():
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return app, [rule for rule in app.url_map.iter_rules() if rule.endpoint not in PUBLIC_ENDPOINTS and not _outside(rule)]


def _outside(rule) -> bool:
    """An outside party's secret-link page: no login, its token is the key (tests/handoffs/test_links.py)."""
    return rule.endpoint.startswith("handoff_links.")


def _path(rule) -> str:
    """A URL for the rule: 1 fits int converters and is a harmless string for the rest."""
    return rule.build({name: 1 for name in rule.arguments}, append_unknown=False)[1]


_app, RULES = _rules()
GET_RULES = [rule for rule in RULES if "GET" in rule.methods]
POST_RULES = [rule for rule in RULES if rule.methods & STATE_CHANGING]
OUTSIDE_POST_RULES = [rule for rule in _app.url_map.iter_rules() if _outside(rule) and rule.methods & STATE_CHANGING]
GUARDED = [
    (rule, refused[0])
    for rule in RULES
    if (permission := getattr(_app.view_functions[rule.endpoint], "required_permission", None))
    and (refused := [role for role in ROLES if role not in PERMISSIONS[permission]])
]


def test_the_map_has_the_areas():
    endpoints = {rule.endpoint for rule in RULES}
    assert {"cases.board", "reviews.worklist", "handoffs.sheet", "scoring.monthly", "admin.users"} <= endpoints


@pytest.mark.parametrize("rule", GET_RULES, ids=lambda r: r.endpoint)
def test_anonymous_get_goes_to_login(client, rule):
    response = client.get(_path(rule))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


@pytest.mark.parametrize("rule", GET_RULES, ids=lambda r: r.endpoint)
def test_expired_session_htmx_request_redirects_whole_page(client, rule):
    response = client.get(_path(rule), headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/auth/login"
    assert b"<form" not in response.data


@pytest.mark.parametrize("rule", POST_RULES, ids=lambda r: r.endpoint)
def test_anonymous_post_with_token_goes_to_login(client, rule):
    response = client.post_form(_path(rule))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


@pytest.mark.parametrize("rule", POST_RULES + OUTSIDE_POST_RULES, ids=lambda r: r.endpoint)
@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_post_without_csrf_token_is_refused(login_as, rule, htmx):
    client = login_as("admin")
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.post(_path(rule), data={"anything": "1"}, headers=headers)
    assert response.status_code == 400
    assert "安全令牌" in response.get_data(as_text=True)


def test_guarded_routes_are_found():
    assert {rule.endpoint for rule, _ in GUARDED} >= {"admin.users", "admin.settings"}


@pytest.mark.parametrize("rule,role", GUARDED, ids=lambda v: getattr(v, "endpoint", v))
def test_roles_without_the_permission_are_refused(login_as, rule, role):
    client = login_as(role)
    method = "GET" if "GET" in rule.methods else "POST"
    if method == "GET":
        response = client.get(_path(rule))
    else:
        response = client.post_form(_path(rule))
    assert response.status_code == 403


@pytest.mark.parametrize("rule", GET_RULES, ids=lambda r: r.endpoint)
def test_every_page_sends_a_policy_without_inline_scripts(login_as, make_case, rule):
    make_case()
    response = login_as("lead").get(_path(rule))
    policy = response.headers.get("Content-Security-Policy", "")
    directives = dict((part.strip().split(" ", 1) + [""])[:2] for part in policy.split(";") if part.strip())
    assert directives.get("script-src") == "'self'" and directives.get("object-src") == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy


def test_a_view_that_writes_during_a_get_fails_loudly(make_app):
    """The guard every test runs under (FORBID_GET_WRITES): a GET that writes is a failure, not a habit."""
    app = make_app()

    @app.route("/_writes_on_get")
    def writes_on_get():
        db.session.add(Setting(key="poll_seconds", value="5"))
        db.session.commit()
        return "written"

    with pytest.raises(RuntimeError, match="during a GET"):
        app.test_client().get("/_writes_on_get")


def test_a_nul_character_is_refused_before_any_query(login_as):
    """PostgreSQL cannot hold a NUL; no typed text has one. A 400, on both databases, never a 500."""
    client = login_as("lead")
    assert client.get("/cases/list?q=a%00b").status_code == 400
    assert client.post_form("/cases/export.csv", {"phones": "full", "q": "a\x00b"}).status_code == 400
    assert client.get("/cases/list?q=ab").status_code == 200
