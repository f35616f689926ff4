"""Hostile input on every route, generated from the URL map so a new route is covered without anyone remembering.

- every GET route, with odd ids and hostile strings in the path and hostile query strings, answers without a 500
  and never echoes the ``<script>`` it was sent;
- every state-changing route, posted a form where every field the app renders gets one hostile value per round,
  answers without a 500, full page and htmx alike;
- the login form, posted hostile credentials, answers without a 500.

One test per route: it sends every variant and then fails once, naming each (method, URL, role, htmx, value)
that gave a 500 with the exception behind it, so one run lists everything that is broken.
Exceptions are not propagated (``PROPAGATE_EXCEPTIONS=False``) so the requests take the production path through
the 500 handler; ``got_request_exception`` tells the test which exception that was.
"""

from __future__ import annotations

import re
import traceback
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
import sqlalchemy as sa
from flask import got_request_exception
from werkzeug.datastructures import FileStorage
from werkzeug.routing import IntegerConverter

from app import create_app
from cases import evidence, sla
from cases import flow as caseflow
from compensation import rules as compensation_rules
from models import PERMISSIONS, Shop, SlaPolicy, db, utcnow
from tests.conftest import TEST_PASSWORD, AuthActions, CSRFClient, base_config, user_named

PROJECT = str(Path(__file__).resolve().parent.parent)
NOT_POSTED = {"auth.logout", "auth.login"}  # logout ends the session under test; login has its own test below
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # enough of a PNG for the evidence sniffer
SCRIPT = b"<script>"  # no template writes a bare <script> (they all carry src=), so any in a body was sent by us

# Path values. Werkzeug's int converter refuses "-1", so that one should be a 404; it is still requested.
ODD_IDS = {"0": "0", "-1": "-1", "2**64": str(2**64), "20 nines": "99999999999999999999"}
# Percent-escaped as they go into the path; "%00" is sent as is so the app decodes it to a NUL.
ODD_STRINGS = {"NUL": "%00", "quotes": quote("'\"<x>", safe=""), "300 a": "a" * 300, "script": quote("<script>", safe="")}
ODD_QUERIES = {
    "page=20 nines": {"page": "99999999999999999999"},
    "page=-5": {"page": "-5"},
    "month=2026-13": {"month": "2026-13"},
    "q=10k with NUL": {"q": "a" * 5000 + "\x00" + "a" * 4999},
    "platform=<script>": {"platform": "<script>"},
    "v=abc.def": {"v": "abc.def"},
    "open=1,2,20 nines": {"open": "1,2,99999999999999999999"},
}
ODD_QUERIES["all of them"] = {name: value for query in ODD_QUERIES.values() for name, value in query.items()}

HOSTILE_VALUES = {
    "10k text": "a" * 10_000,
    "NUL": "a\x00b",
    "NaN": "NaN",
    "-Infinity": "-Infinity",
    "1e309": "1e309",
    "20 nines": "99999999999999999999",
    "-1": "-1",
    "bad datetime": "2026-02-30T25:61",
    "script": "<script>alert(1)</script>",
    "format string": "%s%(x)s{0}",
    "empty": "",
}

# Pages whose forms name the fields the POST routes read; every GET route is read as well, see form_fields.
FORM_PAGES = [
    "/cases/new", "/cases/{case_id}", "/cases/{case_id}/edit", "/cases/rules", "/cases/procedures/other",
    "/compensation/", "/compensation/overview", "/compensation/limits", "/admin/users/new", "/admin/teams/new",
    "/admin/settings", "/cases/import/", "/auth/password",
]
FORM_READERS = ["admin", "lead", "manager"]
# Names read from request.form or by forms that a page may not render (hidden, conditional, button values).
EXTRA_FIELDS = {
    "version", "back", "next", "target", "waiting_for", "milestone", "step", "done", "shop_id", "team_id",
    "assignee_id", "order_amount", "refund_amount", "amount", "compensation_limit", "month", "token", "locale", "platform",
}
_FIELD = re.compile(r"<(?:input|select|textarea|button)\b[^>]*?\bname=\"([^\"]+)\"", re.IGNORECASE)
GET_ROLES = ["lead", "admin"]
POST_ROLES = ["lead", "agent"]


def _rules():
    app = create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    return app, [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]


_app, RULES = _rules()
GET_RULES = [rule for rule in RULES if "GET" in rule.methods]
POST_RULES = [rule for rule in RULES if "POST" in rule.methods and rule.endpoint not in NOT_POSTED]


def _int_arguments(rule) -> list[str]:
    return [name for name in sorted(rule.arguments) if isinstance(rule._converters[name], IntegerConverter)]


def _path(rule, real: dict[str, str], odd: dict[str, str] | None = None) -> str:
    """The rule's URL with each argument's text put in as is: ``odd`` where given, else ``real``.

    Built with placeholders and then substituted, because building refuses what we want to send (-1, %00).
    """
    placeholders = {}
    values = {}
    for index, name in enumerate(sorted(rule.arguments)):
        placeholder = 7_000_000_000 + index if name in _int_arguments(rule) else f"ARGUMENTPLACEHOLDER{index}"
        placeholders[name] = str(placeholder)
        values[name] = placeholder
    path = rule.build(values, append_unknown=False)[1]
    for name, placeholder in placeholders.items():
        path = path.replace(placeholder, (odd or {}).get(name, real[name]), 1)
    return path


def _real_arguments(rule, real_ids: dict[str, int]) -> dict[str, str]:
    """Arguments that exist: the rows _seed made, 1 for an id it does not know, 'other' for a category."""
    return {name: str(real_ids.get(name, 1)) if name in _int_arguments(rule) else "other" for name in rule.arguments}


def _get_urls(rule, real_ids: dict[str, int]) -> list[tuple[str, str, dict]]:
    """(what is odd, path, query) for every variant of a GET rule."""
    real = _real_arguments(rule, real_ids)
    int_names = _int_arguments(rule)
    string_names = [name for name in rule.arguments if name not in int_names]
    urls = []
    for label, text in ODD_IDS.items():
        if int_names:
            urls.append((f"every id {label}", _path(rule, real, dict.fromkeys(int_names, text)), {}))
        if len(int_names) > 1:
            urls += [(f"{name}={label}", _path(rule, real, {name: text}), {}) for name in int_names]
    for label, text in ODD_STRINGS.items():
        urls += [(f"{name}={label}", _path(rule, real, {name: text}), {}) for name in string_names]
    urls += [(label, _path(rule, real), query) for label, query in ODD_QUERIES.items()]
    return urls


def _post_paths(rule, real_ids: dict[str, int]) -> list[tuple[str, str]]:
    real = _real_arguments(rule, real_ids)
    paths = [("real ids", _path(rule, real))]
    if _int_arguments(rule):
        paths.append(("ids 2**64", _path(rule, real, dict.fromkeys(_int_arguments(rule), str(2**64)))))
    return paths


def _post_roles(rule) -> list[str]:
    """lead and agent; for a route neither may use, also a role that may, so its form is reached at all."""
    permission = getattr(_app.view_functions[rule.endpoint], "required_permission", None)
    if permission is None or {"lead", "agent"} & PERMISSIONS[permission]:
        return POST_ROLES
    return [*POST_ROLES, sorted(PERMISSIONS[permission])[0]]


def _seed(app) -> dict[str, int]:
    """A row behind each id argument, so the views get past their 404: {argument name: id}.

    Made through the real rules, as conftest's make_case does (that fixture is per test, this also serves
    the module's form reading). The user and team are ones no test client logs in as or belongs to, so a
    hostile edit that goes through cannot lock the clients out.
    """
    with app.test_request_context():
        now = utcnow()
        agent = user_named("agent")
        values = {
            "shop": db.session.scalar(sa.select(Shop).where(Shop.name == "测试天猫店")),
            "order_no": "H00000001", "buyer_nick": "买家甲", "buyer_phone": "13812345678",
            "kind": "return_refund", "category": "damaged_on_arrival", "priority": 2,
            "order_amount": Decimal("199.00"), "received_at": now,
        }
        case = caseflow.create_case(values, agent, sla.load_rules(), now)
        # Over the agent's own limit, so it waits for a decision.
        item = compensation_rules.request(case, agent, Decimal("5000.00"), "goodwill", "alipay", "", now)
        photo = evidence.store(case, FileStorage(BytesIO(PNG), filename="photo.png"), agent)
        policy = SlaPolicy(clock="reply", minutes=60, promo_minutes=30)
        db.session.add(policy)
        db.session.commit()
        other = user_named("warehouse")
        return {"case_id": case.id, "item_id": item.id, "evidence_id": photo.id, "policy_id": policy.id,
                "user_id": user_named("agent2").id, "team_id": other.team_id}


def _log_in(app, username: str) -> CSRFClient:
    client = app.test_client()
    response = AuthActions(client).login(username)
    assert response.status_code == 302, f"could not log in as {username}: {response.status_code}"
    return client


def _lost_session(response) -> bool:
    return response.status_code == 401 or (response.status_code == 302 and response.headers.get("Location", "").startswith("/auth/login"))


class Failures:
    """Collects 500s with the exception behind each, and echoes of <script>, for one message at the end."""

    def __init__(self, app):
        self.app = app
        self.found: list[str] = []
        self._exception: BaseException | None = None

    def __enter__(self):
        got_request_exception.connect(self._record, self.app)
        return self

    def __exit__(self, *exc):
        got_request_exception.disconnect(self._record, self.app)

    def _record(self, sender, exception, **extra):
        self._exception = exception

    def send(self, description: str, check_script: bool, call, *args, **kwargs):
        self._exception = None
        response = call(*args, **kwargs)
        if response.status_code == 500:
            self.found.append(f"500 {description}: {self._explain()}")
        elif check_script and SCRIPT in response.data:
            self.found.append(f"<script> echoed unescaped ({response.status_code}) {description}")
        response.close()  # a streamed export left open is closed later, inside some other request's context
        return response

    def _explain(self) -> str:
        exception = self._exception
        if exception is None:
            return "no exception signalled"
        frames = [frame for frame in traceback.extract_tb(exception.__traceback__)
                  if frame.filename.startswith(PROJECT) and "/.venv/" not in frame.filename]
        where = f" at {Path(frames[-1].filename).relative_to(PROJECT)}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
        return f"{type(exception).__module__}.{type(exception).__qualname__}: {str(exception)[:160]}{where}"

    def check(self, what: str):
        if self.found:
            pytest.fail(f"{len(self.found)} hostile request(s) to {what} failed:\n" + "\n".join(self.found), pytrace=False)


def _show(query: dict) -> str:
    text = urlencode(query)
    return text if len(text) <= 80 else f"{text[:60]}…({len(text)} chars)"


@pytest.fixture
def hostile_app(make_app):
    """An app whose errors take the production path: a 500 page, not an exception raised into the test."""
    return make_app(PROPAGATE_EXCEPTIONS=False)


@pytest.fixture(scope="module")
def form_fields(databases, tmp_path_factory) -> list[str]:
    """Every field name the app renders on its forms (read once per module), plus the names in EXTRA_FIELDS."""
    folder = tmp_path_factory.mktemp("hostile-forms")
    url = databases.create()
    app = create_app({**base_config(url), "EVIDENCE_DIR": str(folder / "evidence"), "IMPORT_DIR": str(folder / "imports")})
    app.test_client_class = CSRFClient
    try:
        real_ids = _seed(app)
        pages = [page.format(**real_ids) for page in FORM_PAGES]
        pages += [_path(rule, _real_arguments(rule, real_ids)) for rule in GET_RULES if rule.endpoint != "auth.login"]
        names = set(EXTRA_FIELDS)
        for username in FORM_READERS:
            client = _log_in(app, username)
            for page in dict.fromkeys(pages):
                response = client.get(page, follow_redirects=True)
                if response.mimetype == "text/html":
                    names.update(_FIELD.findall(response.get_data(as_text=True)))
        names.discard("csrf_token")  # a hostile token is only a CSRF refusal; test_routes covers those
        return sorted(names)
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        databases.drop(url)


def test_the_hostile_tests_reach_the_areas(form_fields):
    assert {"cases.detail", "cases.board", "compensation.queue", "admin.edit_user"} <= {rule.endpoint for rule in GET_RULES}
    assert {"cases.assign", "compensation.ask", "admin.settings", "imports.preview"} <= {rule.endpoint for rule in POST_RULES}
    assert all(_int_arguments(rule) for rule in RULES if "<int:" in rule.rule), "an int converter was not recognised"
    # Fields the forms render: the form reading works, not just the names listed by hand.
    assert {"order_no", "buyer_nick", "note", "username", "current_password"} <= set(form_fields)


@pytest.mark.parametrize("rule", GET_RULES, ids=lambda r: r.endpoint)
def test_get_with_odd_ids_and_queries_never_fails(hostile_app, rule):
    real_ids = _seed(hostile_app)
    clients = {username: _log_in(hostile_app, username) for username in GET_ROLES}
    with Failures(hostile_app) as failures:
        for label, path, query in _get_urls(rule, real_ids):
            for username, client in clients.items():
                for htmx in (False, True):
                    headers = {"HX-Request": "true"} if htmx else {}
                    description = f"GET {path}{'?' + _show(query) if query else ''} [{label}] as {username}{' (htmx)' if htmx else ''}"
                    failures.send(description, True, client.get, path, query_string=query, headers=headers)
    failures.check(f"{rule.endpoint} ({rule.rule})")


@pytest.mark.parametrize("rule", POST_RULES, ids=lambda r: r.endpoint)
def test_post_with_hostile_form_values_never_fails(hostile_app, form_fields, rule):
    real_ids = _seed(hostile_app)
    roles = _post_roles(rule)
    clients = {username: _log_in(hostile_app, username) for username in roles}
    tokens = {username: client.csrf_token("/auth/password") for username, client in clients.items()}
    notes = []
    with Failures(hostile_app) as failures:
        for ids, path in _post_paths(rule, real_ids):
            for label, value in HOSTILE_VALUES.items():
                for username in roles:
                    for htmx in (False, True):
                        headers = {"HX-Request": "true"} if htmx else {}
                        description = f"POST {path} [{ids}] value {label!r} as {username}{' (htmx)' if htmx else ''}"
                        form = dict.fromkeys(form_fields, value)
                        response = failures.send(description, label == "script", clients[username].post_form, path,
                                                 form | {"csrf_token": tokens[username]}, headers=headers)
                        if _lost_session(response):
                            # Something in the round ended the session; log in again and send the round again,
                            # so the rest of the rounds still reach the view.
                            notes.append(f"session lost after {description}")
                            clients[username] = _log_in(hostile_app, username)
                            tokens[username] = clients[username].csrf_token("/auth/password")
                            failures.send(description + " (after logging in again)", label == "script", clients[username].post_form,
                                          path, form | {"csrf_token": tokens[username]}, headers=headers)
    failures.check(f"{rule.endpoint} (POST {rule.rule})" + (f"; notes: {notes}" if notes else ""))


def test_login_with_hostile_credentials_never_fails(make_app):
    # 66 login attempts here; the test limit of 30 a minute would answer 429 and hide what the form does.
    app = make_app(PROPAGATE_EXCEPTIONS=False, LOGIN_RATE_LIMIT="1000 per minute")
    with Failures(app) as failures:
        for label, value in HOSTILE_VALUES.items():
            attempts = {
                "username": {"username": value, "password": TEST_PASSWORD},
                "password": {"username": "agent", "password": value},
                "every field and next": {"username": value, "password": value, "remember": value, "next": value},
            }
            for fields, form in attempts.items():
                for htmx in (False, True):
                    client = app.test_client()  # a fresh visitor each time: a success must not turn the next into a redirect
                    headers = {"HX-Request": "true"} if htmx else {}
                    query = {"next": value} if "next" in form else {}
                    description = f"POST /auth/login {fields}={label!r}{' (htmx)' if htmx else ''}"
                    failures.send(description, label == "script", client.post_form, "/auth/login?" + urlencode(query), form,
                                  headers=headers)
    failures.check("auth.login (POST /auth/login)")
