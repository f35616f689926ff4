"""0012_notifications: the two switches arrive off for every existing person, and going back keeps the people."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from app import create_app
from models import db
from tests.conftest import MIGRATIONS, base_config
from tests.test_migrations import empty_database  # noqa: F401  (the fixture)


def test_the_switches_are_back_filled_off_and_the_downgrade_keeps_the_users(empty_database):  # noqa: F811
    app = create_app(base_config(empty_database))
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0011_case_search")
        with db.engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO users (username, display_name, password_hash, role, active, session_generation, created_at,"
                " version) VALUES ('old', '老员工', 'x', 'agent', true, 1, '2026-01-01 00:00:00', 1)"))
        upgrade(directory=MIGRATIONS, revision="0012_notifications")
        with db.engine.connect() as connection:
            row = connection.execute(sa.text("SELECT notify_sound, notify_browser FROM users WHERE username = 'old'")).one()
            assert not row[0] and not row[1] and row[0] is not None
        downgrade(directory=MIGRATIONS, revision="0011_case_search")
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT display_name FROM users WHERE username = 'old'")).scalar() == "老员工"
            columns = {column["name"] for column in sa.inspect(connection).get_columns("users")}
            assert "notify_sound" not in columns
        db.engine.dispose()
