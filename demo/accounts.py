"""Demo shops and staff: one account per role and team, all with the same password."""

from __future__ import annotations

import sqlalchemy as sa

from models import Shop, Team, User, db, default_compensation_limit, record

DEMO_PASSWORD = "demo1234"

SHOPS = [
    ("tmall", "天猫旗舰店"),
    ("jd_pop", "京东POP店"),
    ("douyin", "抖音小店"),
    ("pdd", "拼多多店"),
    ("taobao", "淘宝企业店"),
]

# username, name, role, team function
STAFF = [
    ("admin", "系统管理员", "admin", None),
    ("manager", "王芳（店长）", "manager", "aftersales"),
    ("lead", "李娜（组长）", "lead", "aftersales"),
    ("agent1", "张伟", "agent", "aftersales"),
    ("agent2", "刘洋", "agent", "aftersales"),
    ("presales", "陈静", "agent", "presales"),
    ("reviewer", "赵敏", "reviewer", "aftersales"),
    ("reviewer2", "吴婷", "reviewer", "aftersales"),  # the day's review list is shared between two
    ("warehouse", "孙强", "agent", "warehouse"),
    ("installer", "周师傅", "agent", "installer"),
]


def demo_logins() -> list[tuple[str, str, str]]:
    return [(username, role, name) for username, name, role, _ in STAFF]


def create_accounts() -> int:
    """The shops and staff that are missing; returns how many accounts were created."""
    teams = {team.function: team for team in db.session.scalars(sa.select(Team)).all()}
    for platform, name in SHOPS:
        if db.session.scalar(sa.select(Shop).where(Shop.name == name)) is None:
            db.session.add(Shop(platform=platform, name=name))
    created = 0
    for username, name, role, function in STAFF:
        if db.session.scalar(User.by_username(username)) is not None:
            continue
        user = User(username=username, display_name=name, role=role, team=teams.get(function),
                    compensation_limit=default_compensation_limit(role), password_hash="")
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)
        db.session.flush()
        record(None, "user", user.id, "created", username=username, role=role, via="demo data")
        created += 1
    db.session.commit()
    return created
