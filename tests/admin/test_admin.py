from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from models import Team, TimelineEvent, User, db, get_setting
from tests.conftest import TEST_PASSWORD, user_named


def _team_id(app, function="aftersales") -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Team.id).where(Team.function == function))


def _user_form(**overrides) -> dict:
    data = {"username": "newagent", "display_name": "新同事", "role": "agent", "team_id": "0",
            "compensation_limit": "", "password": "a-good-pass", "active": "y"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_admin_creates_an_account_with_the_role_default_limit(app, login_as):
    client = login_as("admin")
    response = client.post_form("/admin/users/new", _user_form(team_id=str(_team_id(app)), role="lead"))
    assert response.status_code == 302
    listing = client.get("/admin/users").get_data(as_text=True)
    assert "newagent" in listing and "新同事" in listing
    with app.app_context():
        user = user_named("newagent")
        assert user.compensation_limit == Decimal("200.00")
        assert user.team.function == "aftersales"
        event = db.session.scalar(TimelineEvent.for_subject("user", user.id))
        assert event.action == "created" and event.actor.username == "admin"
    new_client = app.test_client()
    assert new_client.post_form("/auth/login", {"username": "newagent", "password": "a-good-pass"}).status_code == 302


def test_explicit_limit_and_no_limit(app, login_as):
    client = login_as("admin")
    client.post_form("/admin/users/new", _user_form(username="a1", compensation_limit="35.5"))
    client.post_form("/admin/users/new", _user_form(username="a2", unlimited="y", compensation_limit="10"))
    with app.app_context():
        assert user_named("a1").compensation_limit == Decimal("35.50")
        assert user_named("a2").compensation_limit is None


@pytest.mark.parametrize("field,value,message", [
    ("username", "", "该字段是必填字段"),
    ("username", "张三", "只能使用字母"),
    ("username", "agent", "该用户名已被使用"),
    ("username", "AGENT", "该用户名已被使用"),
    ("display_name", "", "该字段是必填字段"),
    ("role", "emperor", "不是有效的选择"),
    ("team_id", "999", "请从列表中选择团队"),
    ("team_id", "abc", "选择无效"),
    ("compensation_limit", "abc", "不是有效的小数"),
    ("compensation_limit", "-1", "范围为 0 到 1,000,000 元"),
    ("compensation_limit", "1.234", "最多两位小数"),
    ("compensation_limit", "NaN", "请输入以元为单位的金额"),
    ("compensation_limit", "Infinity", "请输入以元为单位的金额"),
    ("compensation_limit", "1e9", "范围为 0 到 1,000,000 元"),
    ("password", "short", "8 到 128"),
])
def test_bad_account_input_gets_a_message_and_saves_nothing(app, login_as, field, value, message):
    client = login_as("admin")
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    response = client.post_form("/admin/users/new", _user_form(**{field: value}))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message in html, re.findall(r'class="error">([^<]*)<', html)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == before


def _edit_form(client, user_id) -> dict:
    html = client.get(f"/admin/users/{user_id}").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', html).group(1)
    return {"version": version}


def test_two_admins_editing_the_same_account_never_overwrite_each_other(app, login_as, make_app):
    client = login_as("admin")
    with app.app_context():
        agent_id = user_named("agent").id
    seen_first = _edit_form(client, agent_id)
    seen_second = dict(seen_first)

    first = client.post_form(f"/admin/users/{agent_id}", _user_form(username="agent", display_name="改名甲", active="y", **seen_first, password=""))
    assert first.status_code == 302
    second = client.post_form(f"/admin/users/{agent_id}", _user_form(username="agent", display_name="改名乙", active="y", **seen_second, password=""))
    html = second.get_data(as_text=True)
    assert second.status_code == 200
    assert "其他人已保存了修改" in html
    assert "改名甲" in html  # the current state is shown
    assert 'value="改名乙"' in html  # and what the second person typed is kept
    with app.app_context():
        assert user_named("agent").display_name == "改名甲"


def test_deactivating_keeps_history_and_blocks_login(app, login_as):
    agent_browser = app.test_client()
    response = agent_browser.post_form("/auth/login", {"username": "agent", "password": TEST_PASSWORD, "remember": "y"})
    remember = {cookie.key: cookie.value for cookie in agent_browser._cookies.values()}["remember_token"]
    client = login_as("admin")
    with app.app_context():
        agent_id = user_named("agent").id
    form = _edit_form(client, agent_id)
    data = _user_form(username="agent", display_name="agent name", password="", **form)
    data.pop("active")
    assert client.post_form(f"/admin/users/{agent_id}", data).status_code == 302
    with app.app_context():
        user = user_named("agent")
        assert user.active is False
        changes = db.session.scalar(TimelineEvent.for_subject("user", user.id)).detail["changes"]
        assert changes["active"] == [True, False]
    assert "已停用" in client.get("/admin/users").get_data(as_text=True)
    other = app.test_client()
    assert other.post_form("/auth/login", {"username": "agent", "password": TEST_PASSWORD}).status_code == 200
    assert response.status_code == 302 and agent_browser.get("/cases/").status_code == 302  # the open session ended
    again = app.test_client()
    again.set_cookie("remember_token", remember)
    assert again.get("/cases/").status_code == 302  # and so did the remember cookie


def test_admin_cannot_lock_themselves_out(app, login_as):
    client = login_as("admin")
    with app.app_context():
        admin_id = user_named("admin").id
    form = _edit_form(client, admin_id)
    data = _user_form(username="admin", display_name="admin", role="agent", password="", **form)
    response = client.post_form(f"/admin/users/{admin_id}", data)
    assert "最后一个启用的管理员" in response.get_data(as_text=True)
    data = _user_form(username="admin", display_name="admin", role="admin", password="", **form)
    data.pop("active")
    response = client.post_form(f"/admin/users/{admin_id}", data)
    assert "不能停用自己的账号" in response.get_data(as_text=True)
    with app.app_context():
        assert user_named("admin").role == "admin" and user_named("admin").active


def test_admin_resets_a_password(app, login_as):
    client = login_as("admin")
    with app.app_context():
        agent_id = user_named("agent").id
    form = _edit_form(client, agent_id)
    client.post_form(f"/admin/users/{agent_id}", _user_form(username="agent", display_name="a", password="brand-new-pass", **form))
    other = app.test_client()
    assert other.post_form("/auth/login", {"username": "agent", "password": "brand-new-pass"}).status_code == 302


def test_unknown_account_is_404(login_as):
    assert login_as("admin").get("/admin/users/999999").status_code == 404


def test_teams_add_rename_deactivate(app, login_as):
    client = login_as("admin")
    assert client.post_form("/admin/teams", {"name": "万师傅安装", "function": "installer"}).status_code == 302
    duplicate = client.post_form("/admin/teams", {"name": "万师傅安装", "function": "installer"})
    assert "已有同名团队" in duplicate.get_data(as_text=True)
    bad = client.post_form("/admin/teams", {"name": "", "function": "wizardry"})
    assert "该字段是必填字段" in bad.get_data(as_text=True) and "不是有效的选择" in bad.get_data(as_text=True)
    with app.app_context():
        team = db.session.scalar(sa.select(Team).where(Team.name == "万师傅安装"))
        team_id, version = team.id, team.version
    response = client.post_form(f"/admin/teams/{team_id}", {"name": "万师傅", "function": "installer", "version": version})
    assert response.status_code == 302
    stale = client.post_form(f"/admin/teams/{team_id}", {"name": "又改了", "function": "installer", "version": version})
    assert "其他人已保存了修改" in stale.get_data(as_text=True)
    with app.app_context():
        team = db.session.get(Team, team_id)
        assert team.name == "万师傅" and team.active is False  # the unticked box deactivated it


def test_settings_are_validated_and_saved(app, login_as):
    client = login_as("manager")  # managers may change settings, not accounts
    assert client.get("/admin/users").status_code == 403
    bad = client.post_form("/admin/settings", {"poll_seconds": "0", "limit_agent": "x", "limit_reviewer": "20", "limit_lead": "200"})
    html = bad.get_data(as_text=True)
    assert "范围为 2 到 300 秒" in html and "不是有效的小数" in html
    good = client.post_form("/admin/settings", {"poll_seconds": "15", "limit_agent": "30", "limit_reviewer": "20", "limit_lead": "300", "limit_manager": "",
                                                "scoring_appeal_days": "0"})
    assert good.status_code == 200 and "1 至 31 天" in good.get_data(as_text=True)
    good = client.post_form("/admin/settings", {"poll_seconds": "15", "limit_agent": "30", "limit_reviewer": "20", "limit_lead": "300", "limit_manager": "",
                                                "scoring_appeal_days": "5"})
    assert good.status_code == 302
    with app.app_context():
        assert get_setting("poll_seconds") == 15
        assert get_setting("limit_agent") == "30.00"
        assert get_setting("limit_manager") is None
        assert get_setting("scoring_appeal_days") == 5
        event = db.session.scalar(TimelineEvent.for_subject("settings", 0))
        assert event.actor.username == "manager"
        assert event.detail["changes"]["limit_agent"] == ["20", "30.00"]
