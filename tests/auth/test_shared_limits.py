"""Rate limits hold across workers and servers (#16): counted once for the whole deployment, in the database
by default and in Redis when REDIS_URL is set, and per real client behind a trusted proxy.

The servers here are real: gunicorn as ``make run`` starts it (two gthread workers), on the test's database,
and a real ``redis-server`` on a free loopback port (Debian's package; ``make test`` installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import requests
import sqlalchemy as sa

import extensions
from app import create_app
from extensions import DatabaseStorage
from models import RateLimit, db, utcnow
from tests.conftest import base_config

ROOT = Path(__file__).resolve().parent.parent.parent
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
LIMIT = 10  # config.py's LOGIN_RATE_LIMIT default: 10 per minute
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url}: the server stopped ({process.returncode})")
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or busy starting
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {seconds} s")


@pytest.fixture
def servers(no_proxy, tmp_path):
    """Start gunicorn servers as ``make run`` does (two gthread workers each); stop them all after the test."""
    started = []

    def start(database_url: str, **environment) -> str:
        port = free_port()
        env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "RATELIMIT_STORAGE_URI",
                                                                               "LOGIN_RATE_LIMIT")}
        env.update(DATABASE_URL=database_url, SECRET_KEY="shared-secret", CREDENTIALS_KEY="shared-credentials",
                   EVIDENCE_DIR=str(tmp_path / "evidence"), IMPORT_DIR=str(tmp_path / "imports"),
                   BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="2", **environment)
        # make run's server: deploy/gunicorn.conf.py, two gthread workers
        process = subprocess.Popen([GUNICORN, "-c", "deploy/gunicorn.conf.py", "--log-level", "warning", "app:app"],
                                   cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/ping", process)
        return base

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def redis_url(tmp_path):
    """A real redis-server on a free loopback port, nothing kept on disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: `make test` installs Debian's redis-server package")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(10)


def wrong_passwords(bases: list[str], attempts: int, headers: dict | None = None) -> list[tuple[int, str]]:
    """One browser's wrong passwords for one account, each attempt sent to the next server in turn."""
    session = requests.Session()
    token = CSRF.search(session.get(bases[0] + "/auth/login", timeout=10).text).group(1)
    answers = []
    for attempt in range(attempts):
        base = bases[attempt % len(bases)]
        response = session.post(base + "/auth/login", data={"csrf_token": token, "username": "agent",
                                                           "password": "not-the-password"},
                                headers=headers or {}, timeout=10)
        answers.append((response.status_code, base))
    return answers


def test_the_default_make_run_refuses_the_eleventh_wrong_password_a_minute(app, servers):
    """Two workers, no Redis: the limit is counted in the database both workers share."""
    base = servers(app.config["SQLALCHEMY_DATABASE_URI"])

    answers = wrong_passwords([base], LIMIT + 1)

    assert [status for status, _base in answers] == [200] * LIMIT + [429]


def test_two_servers_sharing_redis_refuse_the_eleventh_whichever_answers(app, servers, redis_url):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    first, second = servers(url, REDIS_URL=redis_url), servers(url, REDIS_URL=redis_url)

    answers = wrong_passwords([first, second], LIMIT + 1)

    assert [status for status, _base in answers] == [200] * LIMIT + [429]
    assert {base for _status, base in answers} == {first, second}
    assert any(b"auth.login" in key or b"LIMITER" in key for key in redis.Redis.from_url(redis_url).keys("*"))
    with app.app_context():  # counted in Redis, not in the database
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RateLimit)) == 0


def test_two_servers_on_one_database_share_the_limit_without_redis(app, servers):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    first, second = servers(url), servers(url)

    answers = wrong_passwords([first, second], LIMIT + 1)

    assert [status for status, _base in answers] == [200] * LIMIT + [429]


def test_behind_a_trusted_proxy_each_client_has_its_own_limit_and_cannot_shed_it(app, servers):
    base = servers(app.config["SQLALCHEMY_DATABASE_URI"], TRUSTED_PROXIES="1")

    one = wrong_passwords([base], LIMIT + 1, headers={"X-Forwarded-For": "10.0.0.7"})
    other = wrong_passwords([base], 1, headers={"X-Forwarded-For": "10.0.0.8"})

    assert [status for status, _base in one][-1] == 429
    assert [status for status, _base in other] == [200]  # another buyer's agent behind the same proxy


def test_without_a_trusted_proxy_a_forged_address_does_not_shed_the_limit(app, servers):
    base = servers(app.config["SQLALCHEMY_DATABASE_URI"])
    wrong_passwords([base], LIMIT)

    forged = wrong_passwords([base], 1, headers={"X-Forwarded-For": "10.9.9.9"})

    assert [status for status, _base in forged] == [429]


def test_the_database_count_is_exact_when_many_hit_at_once(app):
    storage = DatabaseStorage()
    counts, start = [], threading.Barrier(8)

    def hit():
        with app.app_context():
            start.wait()
            for _ in range(5):
                counts.append(storage.incr("LIMITER/test/key", 60))

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(counts) == list(range(1, 41))  # every hit counted once, none lost, none twice
    with app.app_context():
        assert storage.get("LIMITER/test/key") == 40
        storage.clear("LIMITER/test/key")
        assert storage.get("LIMITER/test/key") == 0


def test_a_window_that_ended_starts_again_and_the_scheduler_drops_it(app):
    storage = DatabaseStorage()
    with app.app_context():
        assert storage.incr("LIMITER/a", 60) == 1
        db.session.execute(sa.update(RateLimit).values(expires_at=time.time() - 1))
        db.session.commit()
        assert storage.get("LIMITER/a") == 0
        assert storage.incr("LIMITER/a", 60) == 1  # a new window, not the old count plus one
        storage.incr("LIMITER/b", 60)
        db.session.execute(sa.update(RateLimit).where(RateLimit.key == "LIMITER/b").values(expires_at=time.time() - 5))
        assert extensions.prune_rate_limits(utcnow(), None) == {"deleted": 1}
        db.session.commit()
        assert db.session.scalars(sa.select(RateLimit.key)).all() == ["LIMITER/a"]


def test_health_answers_without_login_and_says_when_the_database_is_away(app, tmp_path):
    client = app.test_client()
    answer = client.get("/health")
    assert answer.status_code == 200 and answer.get_json() == {"status": "ok"}
    assert answer.headers["Cache-Control"] == "no-store"

    away = create_app({**base_config(f"sqlite:///{tmp_path / 'no-such-folder' / 'gone.db'}")})
    missing = away.test_client().get("/health")
    assert missing.status_code == 503 and missing.get_json() == {"status": "database unavailable"}
