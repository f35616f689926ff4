from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from models import Case, Team, TimelineEvent, User, db, get_setting, record
from tests.conftest import TEST_PASSWORD, in_english, user_named


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
    bad = client.post_form("/admin/settings", {"limit_agent": "x", "limit_reviewer": "20", "limit_lead": "200"})
    html = bad.get_data(as_text=True)
    assert "不是有效的小数" in html
    good = client.post_form("/admin/settings", {"limit_agent": "30", "limit_reviewer": "20", "limit_lead": "300", "limit_manager": "",
                                                "scoring_appeal_days": "0"})
    assert good.status_code == 200 and "1 至 31 天" in good.get_data(as_text=True)
    # the refresh interval lives on the case rules page only: sent here, it is ignored
    good = client.post_form("/admin/settings", {"poll_seconds": "15", "limit_agent": "30", "limit_reviewer": "20", "limit_lead": "300",
                                                "limit_manager": "", "scoring_appeal_days": "5"})
    assert good.status_code == 302
    assert 'name="poll_seconds"' not in client.get("/admin/settings").get_data(as_text=True)
    with app.app_context():
        assert get_setting("poll_seconds") == 10
        assert get_setting("limit_agent") == "30.00"
        assert get_setting("limit_manager") is None
        assert get_setting("scoring_appeal_days") == 5
        event = db.session.scalar(TimelineEvent.for_subject("settings", 0))
        assert event.actor.username == "manager"
        assert event.detail["changes"]["limit_agent"] == ["20", "30.00"]


# --- the personal data log and names in the change log (issue #13, point 7) ----------------------------------------

def _client(app, username):
    client = app.test_client()
    assert client.post_form("/auth/login", {"username": username, "password": TEST_PASSWORD}).status_code == 302
    return client


def _reveal(app, client, case_id):
    with app.app_context():
        version = db.session.get(Case, case_id).version
    assert client.post_form(f"/cases/{case_id}/phone", {"version": version}).status_code == 302


def test_the_personal_data_log_lists_reveals_and_exports(app, make_case):
    case_id = make_case(order_no="T-REVEAL-1", buyer_phone="13812345678")
    agent, lead = _client(app, "agent"), in_english(_client(app, "lead"))
    _reveal(app, agent, case_id)
    export = lead.post_form("/cases/export.csv", {"reason": "核对回访名单", "platform": "tmall", "scope": "mine"})
    assert export.status_code == 200 and export.mimetype == "text/csv"
    export.close()
    page = lead.get("/admin/personal-data").get_data(as_text=True)
    rows = re.findall(r'<tr data-kind="(\w+)">(.*?)</tr>', page, re.S)
    assert [kind for kind, _ in rows] == ["export", "reveal"]  # newest first
    export_row, reveal_row = rows[0][1], rows[1][1]
    assert "Full numbers exported" in export_row and "lead name" in export_row
    assert "Rows: 0 · CSV" in export_row  # scope mine: the lead has no case
    assert '<td data-column="reason">核对回访名单</td>' in export_row
    assert "Whose: Mine; Platform: Tmall" in export_row
    assert "Phone number revealed" in reveal_row and "agent name" in reveal_row
    assert f'<a href="/cases/{case_id}">#{case_id}</a> · T-REVEAL-1' in reveal_row
    with app.app_context():
        event = db.session.scalar(sa.select(TimelineEvent).where(TimelineEvent.action == "phone_revealed"))
        shown = event.created_at.astimezone(app.config["SHOP_TZ"]).strftime("%Y-%m-%d %H:%M")
    assert shown in reveal_row  # the shop's time zone
    assert "13812345678" not in page


@pytest.mark.parametrize("role,status", [("agent", 403), ("reviewer", 403), ("admin", 403), ("lead", 200), ("manager", 200)])
def test_who_reads_the_personal_data_log(app, role, status):
    assert _client(app, role).get("/admin/personal-data").status_code == status


def test_a_lead_reaches_the_log_from_the_nav_and_an_agent_does_not_see_it(app):
    lead_page = _client(app, "lead").get("/cases/").get_data(as_text=True)
    assert 'href="/admin/personal-data"' in lead_page
    assert 'href="/admin/personal-data"' in _client(app, "manager").get("/admin/settings").get_data(as_text=True)
    assert 'href="/admin/personal-data"' not in _client(app, "agent").get("/cases/").get_data(as_text=True)
    admin_page = _client(app, "admin").get("/admin/settings").get_data(as_text=True)
    assert 'href="/admin/personal-data"' not in admin_page and 'href="/admin/users"' in admin_page
    log = _client(app, "lead").get("/admin/personal-data").get_data(as_text=True)
    assert 'href="/admin/settings"' not in log  # a lead is not offered pages that refuse them


def test_the_log_is_paged_and_its_queries_do_not_grow_with_rows(app, make_case):
    from tests.cases.test_demo_and_queries import counting_queries

    case_id = make_case()
    lead = _client(app, "lead")

    def add_reveals(count):
        with app.app_context():
            agent = user_named("agent")
            for _ in range(count):
                record(agent, "case", case_id, "phone_revealed")
            record(user_named("lead"), "export", 0, "phones_exported", count=3, format="xlsx", filter={"assignee": str(agent.id)},
                   reason="回访")
            db.session.commit()

    def queries() -> int:
        with counting_queries(app) as statements:
            assert lead.get("/admin/personal-data").status_code == 200
        return len(statements)

    add_reveals(1)
    few = queries()
    add_reveals(60)
    assert queries() == few
    first = in_english(lead).get("/admin/personal-data").get_data(as_text=True)
    assert len(re.findall(r"<tr data-kind=", first)) == 50 and "Page 1 of 2" in first
    assert "Assignee: agent name" in first
    second = lead.get("/admin/personal-data?page=2").get_data(as_text=True)
    assert len(re.findall(r"<tr data-kind=", second)) == 13


def test_the_admin_change_log_names_accounts_and_teams(app, login_as):
    client = in_english(login_as("admin"))
    with app.app_context():
        agent_id = user_named("agent2").id
        teams = {team.function: (team.id, team.name) for team in db.session.scalars(sa.select(Team))}
    form = _edit_form(client, agent_id)
    data = _user_form(username="agent2", display_name="agent2 name", password="", team_id=str(teams["warehouse"][0]), **form)
    assert client.post_form(f"/admin/users/{agent_id}", data).status_code == 302
    client.post_form("/admin/teams", {"name": "安装合作方", "function": "installer"})
    page = client.get("/admin/settings").get_data(as_text=True)
    log = page[page.index('<ol class="timeline">'):]
    assert f"#{agent_id}" not in log and "Account agent2 name" in log
    assert f"Team: {teams['aftersales'][1]} → {teams['warehouse'][1]}" in log
    assert "Team 安装合作方" in log
