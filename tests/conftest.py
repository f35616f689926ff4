"""Fixtures as in flaskr: ``app`` (a fresh database per test), ``client``, ``runner``, ``auth``.

The database is built once per run by the real migrations into a template, with a
user for each role, and every test gets its own copy: a file copy on SQLite, a
``CREATE DATABASE … TEMPLATE`` on PostgreSQL (when DATABASE_URL names one).
"""

from __future__ import annotations

import base64
import email
import hashlib
import hmac
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
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
        "CREDENTIALS_KEY": "test-credentials-key",
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


# --- fake mail server and group robots (test_notify, the review summary, the scheduler) ---------------------
# Ours, in threads, on 127.0.0.1 with a port the OS picks. The fake robots answer like WeCom and DingTalk;
# the DingTalk one checks the 加签 signature with its own code, not notify's.

LOCALHOST = "127.0.0.1"
SMTP_USER = "robot"
SMTP_PASSWORD = "s3cret-pass"
DINGTALK_SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"

@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib honours *_proxy variables; a proxy on the test machine must not see requests meant for 127.0.0.1."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)

class Mailbox:
    """aiosmtpd handler that keeps what arrives; ``refuse`` and ``data_reply`` make it answer like a fussy relay."""

    def __init__(self) -> None:
        self.messages: list[tuple[email.message.EmailMessage, list[str], bool]] = []
        self.refuse: set[str] = set()
        self.data_reply = "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply.startswith("250"):
            message = email.message_from_bytes(envelope.content, policy=policy.default)
            self.messages.append((message, list(envelope.rcpt_tos), bool(session.authenticated)))
        return self.data_reply


def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    accepted = isinstance(auth_data, LoginPassword) and auth_data == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=accepted, handled=False)  # not handled: the server itself answers 535 on failure


class LocalController(Controller):
    """Controller on port 0: start() checks the server by connecting to ``self.port``, so set it to the bound port first."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1: (what arrived, its port)."""
    handler = Mailbox()
    # AUTH without TLS only because the server is on 127.0.0.1; AUTH is offered, never required.
    controller = LocalController(handler, hostname=LOCALHOST, port=0, authenticator=authenticate, auth_require_tls=False)
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()

@dataclass
class RobotRequest:
    path: str
    query: dict[str, list[str]]
    body: dict


@dataclass
class FakeRobots:
    """What the fake WeCom/DingTalk robot saw, and how it answers the next requests."""

    base_url: str = ""
    dingtalk_secret: str = DINGTALK_SECRET
    requests: list[RobotRequest] = field(default_factory=list)
    replies: list[tuple[int, int]] = field(default_factory=list)  # (HTTP status, errcode) per request, then (200, 0)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def contents(self) -> list[str]:
        return [r.body["markdown"].get("content", r.body["markdown"].get("text")) for r in self.requests]


def signature_is_valid(query: dict[str, list[str]], secret: str) -> bool:
    """DingTalk's documented check, written independently: sign == base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}"))."""
    try:
        [timestamp], [sign] = query["timestamp"], query["sign"]
    except (KeyError, ValueError):
        return False
    string_to_sign = (timestamp + "\n" + secret).encode("utf-8")
    expected = base64.b64encode(hmac.new(secret.encode("utf-8"), string_to_sign, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, sign)


def robot_handler(robots: FakeRobots) -> type[BaseHTTPRequestHandler]:
    class RobotHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8"))
            with robots.lock:
                robots.requests.append(RobotRequest(parts.path, query, body))
                status, errcode = robots.replies.pop(0) if robots.replies else (200, 0)
            if parts.path == "/robot/send" and errcode == 0 and not signature_is_valid(query, robots.dingtalk_secret):
                errcode = 310000  # DingTalk: sign not match (also keyword/IP mismatch)
            answer = json.dumps({"errcode": errcode, "errmsg": "ok" if errcode == 0 else "refused"}).encode()
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", robots.base_url + "/elsewhere")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format, *args) -> None:  # keep the test output quiet
            pass

    return RobotHandler


@pytest.fixture
def robots(no_proxy) -> Iterator[FakeRobots]:
    fake = FakeRobots()
    server = ThreadingHTTPServer((LOCALHOST, 0), robot_handler(fake))
    fake.base_url = f"http://{LOCALHOST}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def wecom_url(robots: FakeRobots) -> str:
    return f"{robots.base_url}/cgi-bin/webhook/send?key=test-key"


def dingtalk_url(robots: FakeRobots) -> str:
    return f"{robots.base_url}/robot/send?access_token=test-token"
