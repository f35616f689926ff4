"""Schema changes go through migrations, and an upgrade never loses data."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade

from app import create_app
from models import db
from tests.conftest import MIGRATIONS, base_config, using_postgres


@pytest.fixture
def empty_database(tmp_path):
    if using_postgres():
        url = sa.engine.make_url(os.environ["DATABASE_URL"])
        admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        name = f"{url.database}_mig_{uuid.uuid4().hex[:8]}"
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield url.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        yield f"sqlite:///{tmp_path / 'empty.db'}"


def revisions_oldest_first():
    script = ScriptDirectory(os.path.join(MIGRATIONS))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def test_models_and_migrations_agree(app):
    with app.app_context():
        context = MigrationContext.configure(db.session.connection())
        assert compare_metadata(context, db.metadata) == []


def test_upgrade_from_first_revision_keeps_the_data(empty_database):
    """Fill the oldest schema with data, upgrade step by step to head, check nothing was lost."""
    app = create_app(base_config(empty_database))
    revisions = revisions_oldest_first()
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision=revisions[0])
        with db.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO users (username, display_name, password_hash, role, active, session_generation, created_at, version,"
                " compensation_limit) VALUES ('old', '老员工', 'x', 'agent', true, 1, '2026-01-01 00:00:00', 1, 20.50)"))
            connection.execute(sa.text(
                "INSERT INTO shops (platform, name, active) VALUES ('tmall', '老店', true)"))
            user_id = connection.execute(sa.text("SELECT id FROM users WHERE username = 'old'")).scalar()
            connection.execute(sa.text(
                "INSERT INTO timeline_events (created_at, actor_id, subject_type, subject_id, action, detail)"
                f" VALUES ('2026-01-01 00:00:00', {user_id}, 'user', {user_id}, 'created', '{{}}')"))
        for revision in revisions[1:]:
            upgrade(directory=MIGRATIONS, revision=revision)
        with db.engine.connect() as connection:
            row = connection.execute(sa.text("SELECT display_name, compensation_limit FROM users WHERE username = 'old'")).one()
            assert row[0] == "老员工" and str(row[1]) in ("20.50", "20.5")
            assert connection.execute(sa.text("SELECT count(*) FROM timeline_events")).scalar() == 1
            assert connection.execute(sa.text("SELECT name FROM shops")).scalar() == "老店"
            assert connection.execute(sa.text("SELECT count(*) FROM teams")).scalar() == 10
        db.engine.dispose()
