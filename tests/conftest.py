"""Fixtures as in flaskr: ``app`` (a fresh database per test), ``client``, ``runner``, ``auth``.

The database is built once per run by the real migrations into a template, with a
user for each role, and every test gets its own copy: a file copy on SQLite, a
``CREATE DATABASE … TEMPLATE`` on PostgreSQL (when DATABASE_URL names one).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from flask_migrate import upgrade
from werkzeug.serving import make_server

from app import create_app
from cases import flow as caseflow
from cases import sla
from models import Shop, Team, User, db, default_compensation_limit, utcnow

TEST_PASSWORD = "test-pass-123"
MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")

# username -> (role, team function); the username of each role is the role itself.
TEST_USERS = {
    "agent": ("agent", "aftersales"),
    "agent2": ("agent", "aftersales"),
    "reviewer": ("reviewer", "aftersales"),
    "lead": ("lead", "aftersales"),
    "manager": ("manager", "aftersales"),
    "admin": ("admin", None),
    "warehouse": ("agent", "warehouse"),
    "presales": ("agent", "presales"),
}
TEST_SHOPS = [("tmall", "测试天猫店"), ("jd_pop", "测试京东店"), ("douyin", "测试抖音店")]

_CSRF_PATTERNS = (re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"'), re.compile(r'"X-CSRFToken": "([^"]+)"'))


def base_config(database_url: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "LOGIN_RATE_LIMIT": "30 per minute",
        "LINK_RATE_LIMIT": "10000 per minute",  # tests/handoffs/test_links.py sets a low one to see it work
        "FORBID_GET_WRITES": True,  # any view that writes during a GET fails the test that opens it
    }


def fill_template(app) -> None:
    """The migrated schema plus what almost every test needs: users and shops."""
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        teams = {team.function: team for team in db.session.scalars(sa.select(Team))}
        for username, (role, function) in TEST_USERS.items():
            user = User(username=username, display_name=f"{username} name", role=role, team=teams.get(function),
                        compensation_limit=default_compensation_limit(role), password_hash="")
            user.set_password(TEST_PASSWORD)
            db.session.add(user)
        for platform, name in TEST_SHOPS:
            db.session.add(Shop(platform=platform, name=name))
        db.session.commit()
        db.engine.dispose()


class PostgresDatabases:
    def __init__(self, url: str):
        self.url = sa.engine.make_url(url)
        self.admin = sa.create_engine(self.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        self.template = f"{self.url.database}_template"

    def _run(self, statement: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(sa.text(statement))

    def build_template(self) -> None:
        self._run(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
        self._run(f'CREATE DATABASE "{self.template}"')
        fill_template(create_app(base_config(self.url.set(database=self.template).render_as_string(hide_password=False))))

    def create(self) -> str:
        name = f"{self.url.database}_{uuid.uuid4().hex[:10]}"
        self._run(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        self._run(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)')


class SqliteDatabases:
    def __init__(self, folder: Path):
        self.folder = folder
        self.template = folder / "template.db"

    def build_template(self) -> None:
        fill_template(create_app(base_config(f"sqlite:///{self.template}")))

    def create(self) -> str:
        target = self.folder / f"{uuid.uuid4().hex[:10]}.db"
        shutil.copyfile(self.template, target)
        return f"sqlite:///{target}"

    def drop(self, url: str) -> None:
        path = Path(sa.engine.make_url(url).database)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def using_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith("postgres")


@pytest.fixture(scope="session")
def databases(tmp_path_factory):
    if using_postgres():
        factory = PostgresDatabases(os.environ["DATABASE_URL"])
    else:
        factory = SqliteDatabases(tmp_path_factory.mktemp("db"))
    factory.build_template()
    return factory


class CSRFClient(FlaskClient):
    """A test client that can send a form with the CSRF token a browser would have."""

    def csrf_token(self, page: str = "/auth/login") -> str:
        html = self.get(page, follow_redirects=True).get_data(as_text=True)
        for pattern in _CSRF_PATTERNS:
            found = pattern.search(html)
            if found:
                return found.group(1)
        raise AssertionError(f"no CSRF token on {page}")

    def post_form(self, url: str, data: dict | None = None, headers: dict | None = None, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.csrf_token("/auth/password" if self._logged_in() else "/auth/login"))
        return self.post(url, data=data, headers=headers, **kwargs)

    def _logged_in(self) -> bool:
        with self.session_transaction() as session:
            return "_user_id" in session


@pytest.fixture
def make_app(databases, tmp_path):
    """Build an app on a fresh database; extra config on top of the test defaults."""
    made = []

    def factory(**overrides):
        url = databases.create()
        files = {"EVIDENCE_DIR": str(tmp_path / f"evidence-{len(made)}"), "IMPORT_DIR": str(tmp_path / f"imports-{len(made)}")}
        app = create_app({**base_config(url), **files, **overrides})
        app.test_client_class = CSRFClient
        made.append((app, url))
        return app

    yield factory
    for app, url in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        databases.drop(url)


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    def __init__(self, client: CSRFClient):
        self._client = client

    def login(self, username: str = "agent", password: str = TEST_PASSWORD, **extra):
        return self._client.post_form("/auth/login", {"username": username, "password": password, **extra})

    def logout(self):
        return self._client.post_form("/auth/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def login_as(client, auth):
    """Log the test client in as one of TEST_USERS and return the client."""

    def do(username: str) -> CSRFClient:
        response = auth.login(username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return do


def in_english(client: CSRFClient) -> CSRFClient:
    """Switch a logged-in client's interface to English."""
    client.post_form("/language", {"locale": "en", "next": "/"})
    return client


def user_named(username: str) -> User:
    return db.session.scalar(User.by_username(username))


class LiveServer:
    """The app served on 127.0.0.1 on a free port, in a thread, for the browser tests."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=5)


@pytest.fixture
def live_server(app):
    with LiveServer(app) as server:
        yield server


@pytest.fixture
def make_case(app):
    """Create a case through the real rules; returns its id. ``minutes_ago`` sets when it was received."""
    from datetime import timedelta
    from decimal import Decimal


    counter = iter(range(1, 10_000))

    def create(minutes_ago: int = 0, shop: str = "测试天猫店", actor: str = "agent", assignee: str | None = None, **values) -> int:
        with app.test_request_context():
            now = utcnow()
            data = {
                "shop": db.session.scalar(sa.select(Shop).where(Shop.name == shop)),
                "order_no": f"T{next(counter):08d}", "buyer_nick": "买家甲", "buyer_phone": "13812345678",
                "kind": "return_refund", "category": "damaged_on_arrival", "priority": 2,
                "order_amount": Decimal("199.00"), "received_at": now - timedelta(minutes=minutes_ago),
            }
            data.update(values)
            if assignee:
                data["assignee"] = user_named(assignee)
            case = caseflow.create_case(data, user_named(actor), sla.load_rules(), now)
            db.session.commit()
            return case.id

    return create
