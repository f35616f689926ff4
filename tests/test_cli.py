from __future__ import annotations

import sqlalchemy as sa

from models import Shop, User, db
from tests.conftest import user_named


def test_create_user(app, runner):
    result = runner.invoke(args=["create-user", "boss", "--role", "admin", "--team", "售后", "--name", "老板"],
                           input="a-long-password\na-long-password\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = user_named("boss")
        assert user.role == "admin" and user.team.name == "售后" and user.check_password("a-long-password")


def test_create_user_refuses_bad_input(runner):
    cases = [
        (["create-user", "agent"], "exists already"),
        (["create-user", "new", "--team", "火星"], "no team named"),
        (["create-user", "bad name!"], "letters, digits"),
        (["create-user", "new", "--role", "king"], "Invalid value"),
    ]
    for args, message in cases:
        result = runner.invoke(args=args, input="a-long-password\na-long-password\n")
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    short = runner.invoke(args=["create-user", "new"], input="short\nshort\n")
    assert short.exit_code != 0 and "8 to 128" in short.output


def test_demo_data_is_believable_and_idempotent(app, runner):
    result = runner.invoke(args=["demo-data", "--cases", "20"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        roles = set(db.session.scalars(sa.select(User.role)).all())
        platforms = set(db.session.scalars(sa.select(Shop.platform)).all())
        users = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    assert roles == {"agent", "reviewer", "lead", "manager", "admin"}
    assert {"tmall", "jd_pop", "douyin"} <= platforms
    again = runner.invoke(args=["demo-data", "--if-empty"])
    assert "already" in again.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == users
    logins = runner.invoke(args=["demo-logins"])
    assert "agent1" in logins.output and "demo1234" in logins.output
    # accounts whose password is not the demo one are not advertised
    assert "lead " not in logins.output


def test_demo_data_has_compensation_in_every_state(app, runner):
    runner.invoke(args=["demo-data", "--cases", "40"])
    with app.app_context():
        from models import Compensation

        states = set(db.session.execute(sa.select(Compensation.status, Compensation.forwarded_at.is_not(None))).all())
    assert {("pending", False), ("pending", True), ("approved", False), ("rejected", False), ("paid", False)} <= states
