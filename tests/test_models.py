from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from config import load_or_create_secret_key, sqlalchemy_url
from models import TimelineEvent, VersionConflict, check_version, db, record, utcnow
from tests.conftest import user_named


def test_timeline_is_append_only(app):
    with app.app_context():
        event = record(user_named("agent"), "case", 1, "noted", text="hello")
        db.session.commit()
        event.action = "tampered"
        with pytest.raises(PermissionError):
            db.session.commit()
        db.session.rollback()
        db.session.delete(db.session.get(TimelineEvent, event.id))
        with pytest.raises(PermissionError):
            db.session.commit()
        db.session.rollback()
        assert db.session.get(TimelineEvent, event.id).action == "noted"


def test_timeline_records_who_and_when_in_utc(app):
    with app.app_context():
        before = utcnow()
        record(user_named("lead"), "case", 7, "assigned", to="agent")
        db.session.commit()
        db.session.expire_all()
        event = db.session.scalar(TimelineEvent.for_subject("case", 7))
        assert event.actor.username == "lead"
        assert event.created_at.tzinfo is not None
        assert before - timedelta(seconds=1) <= event.created_at <= utcnow() + timedelta(seconds=1)
        assert event.detail == {"to": "agent"}


def test_the_clock_moves_with_the_offset(app):
    with app.app_context():
        app.config["CLOCK_OFFSET"] = timedelta(hours=5)
        assert utcnow() - datetime.now(UTC) > timedelta(hours=4, minutes=59)


def test_naive_datetimes_are_refused(app):
    with app.app_context():
        user = user_named("agent")
        user.created_at = datetime(2026, 1, 1)
        with pytest.raises(Exception, match="naive"):
            db.session.commit()


def test_check_version():
    class Thing:
        version = 3

    check_version(Thing(), "3")
    for stale in ("2", "", None, "abc"):
        with pytest.raises(VersionConflict):
            check_version(Thing(), stale)


def test_secret_key_is_generated_once_and_kept(tmp_path):
    first = load_or_create_secret_key(str(tmp_path))
    assert len(first) == 64
    assert load_or_create_secret_key(str(tmp_path)) == first
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"


@pytest.mark.parametrize("raw,expected", [
    ("postgres://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
    ("postgresql://u@h:5433/db", "postgresql+psycopg://u@h:5433/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
])
def test_database_urls_use_psycopg3(raw, expected):
    assert sqlalchemy_url(raw) == expected


def test_sqlite_runs_with_wal_foreign_keys_and_a_busy_timeout(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite pragmas only apply to SQLite")
    with app.app_context():
        connection = db.session.connection()
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
