from __future__ import annotations

import re

import pytest

from models import db
from tests.conftest import TEST_PASSWORD, user_named


def test_login_page_is_chinese_by_default(client):
    html = client.get("/auth/login").get_data(as_text=True)
    assert "登录" in html
    assert 'lang="zh-CN"' in html


def test_login_then_shell_shows_name_role_and_areas(client, auth):
    response = auth.login("lead")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    html = client.get("/cases/").get_data(as_text=True)
    assert "lead name" in html
    assert "组长" in html
    for area in ("工单看板", "差评日清", "交接表", "绩效考核"):
        assert area in html
    assert 'id="header-counters"' in html


@pytest.mark.parametrize(
    "username,password,message",
    [
        ("agent", "wrong-password", "用户名或密码错误"),
        ("nobody", TEST_PASSWORD, "用户名或密码错误"),
        ("AGENT ", "nope", "用户名或密码错误"),
        ("", "", "该字段是必填字段"),
        ("x" * 500, "y" * 500, "不能超过 64 个字符"),
    ],
)
def test_failed_login_says_so_without_telling_whether_the_user_exists(client, auth, username, password, message):
    response = auth.login(username, password)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    with client.session_transaction() as session:
        assert "_user_id" not in session


def test_unknown_user_and_wrong_password_get_the_same_page(client, auth):
    wrong_password = auth.login("agent", "wrong-password").get_data(as_text=True)
    unknown = auth.login("nobody-here", "wrong-password").get_data(as_text=True)
    assert "用户名或密码错误" in wrong_password
    strip = lambda html: html.replace("agent", "").replace("nobody-here", "")  # noqa: E731
    token = re.compile(r'value="[^"]{40,}"|"X-CSRFToken": "[^"]+"')
    assert token.sub("", strip(wrong_password)) == token.sub("", strip(unknown))


def test_username_is_case_insensitive(client, auth):
    assert auth.login("AGENT").status_code == 302


def test_deactivated_user_cannot_log_in_and_loses_open_session(app, client, auth):
    assert auth.login("agent").status_code == 302
    with app.app_context():
        user_named("agent").active = False
        db.session.commit()
    assert client.get("/cases/").status_code == 302
    response = auth.login("agent")
    assert response.status_code == 200
    assert "用户名或密码错误" in response.get_data(as_text=True)


@pytest.mark.parametrize("target,expected", [
    ("/admin/settings", "/admin/settings"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
])
def test_next_only_goes_to_this_site(client, target, expected):
    token = client.csrf_token()
    response = client.post(f"/auth/login?next={target}", data={"username": "manager", "password": TEST_PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_login_page_sends_a_logged_in_user_on(login_as):
    client = login_as("agent")
    assert client.get("/auth/login").headers["Location"] == "/"


def test_logout_needs_post_and_ends_the_session(login_as):
    client = login_as("agent")
    assert client.get("/auth/logout").status_code == 405
    response = client.post_form("/auth/logout")
    assert response.headers["Location"] == "/auth/login"
    assert client.get("/cases/").status_code == 302


def test_login_attempts_are_rate_limited(make_app):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    token = client.csrf_token()
    statuses = [
        client.post("/auth/login", data={"username": "agent", "password": "bad", "csrf_token": token}).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    limited = client.post("/auth/login", data={"username": "agent", "password": TEST_PASSWORD, "csrf_token": token})
    assert limited.status_code == 429
    assert "尝试次数过多" in limited.get_data(as_text=True)
    assert client.get("/auth/login").status_code == 200  # reading the page is not limited


def _change(client, current, new, confirm):
    return client.post_form("/auth/password", {"current_password": current, "new_password": new, "confirm": confirm})


@pytest.mark.parametrize("current,new,confirm,message", [
    ("wrong-one", "new-pass-456", "new-pass-456", "当前密码不正确"),
    (TEST_PASSWORD, "short", "short", "8 到 128"),
    (TEST_PASSWORD, "new-pass-456", "new-pass-789", "不一致"),
    (TEST_PASSWORD, "x" * 500, "x" * 500, "8 到 128"),
    ("", "", "", "必填"),
])
def test_change_password_refuses_bad_input_with_a_message(login_as, current, new, confirm, message):
    client = login_as("agent")
    response = _change(client, current, new, confirm)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)


def test_change_password_works_and_ends_other_sessions(app, login_as):
    client = login_as("agent")
    other = app.test_client()
    other.post_form("/auth/login", {"username": "agent", "password": TEST_PASSWORD})
    assert other.get("/cases/").status_code == 200

    response = _change(client, TEST_PASSWORD, "new-pass-456", "new-pass-456")
    assert response.status_code == 302
    assert client.get("/cases/").status_code == 200  # this session stays
    assert other.get("/cases/").status_code == 302  # the other one is over

    fresh = app.test_client()
    assert fresh.post_form("/auth/login", {"username": "agent", "password": TEST_PASSWORD}).status_code == 200
    assert fresh.post_form("/auth/login", {"username": "agent", "password": "new-pass-456"}).status_code == 302


def _cookies(client) -> dict:
    return {cookie.key: cookie.value for cookie in client._cookies.values()}


def test_a_session_cookie_captured_before_logout_opens_nothing_after(app, client, auth):
    auth.login("agent")
    assert client.get("/cases/").status_code == 200
    captured = _cookies(client)
    client.post_form("/auth/logout")
    thief = app.test_client()
    for key, value in captured.items():
        thief.set_cookie(key, value)
    response = thief.get("/cases/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")
    assert thief.get("/counters", headers={"HX-Request": "true"}).status_code == 401


def test_a_remember_cookie_captured_before_logout_opens_nothing_after(app, client, auth):
    response = auth.login("agent", remember="y")
    remember = [header for header in response.headers.getlist("Set-Cookie") if header.startswith("remember_token=")]
    assert remember and "SameSite=Lax" in remember[0] and "HttpOnly" in remember[0]
    token = _cookies(client)["remember_token"]
    client.post_form("/auth/logout")
    thief = app.test_client()
    thief.set_cookie("remember_token", token)  # no session cookie: Flask-Login would log in from this one
    response = thief.get("/cases/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


def test_logging_out_is_in_the_timeline(app, client, auth):
    auth.login("agent")
    client.post_form("/auth/logout")
    with app.app_context():
        from models import TimelineEvent
        event = db.session.scalar(db.select(TimelineEvent).where(TimelineEvent.action == "logged_out"))
        assert event is not None and event.actor.username == "agent"
