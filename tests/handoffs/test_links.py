"""Outside parties' secret links: one item, nothing else; expiry, revocation, guessing and its rate limit."""

from __future__ import annotations

import io
import re
import secrets
from datetime import timedelta

import sqlalchemy as sa

from handoffs import flow
from models import Handoff, HandoffFile, Team, TimelineEvent, db, utcnow
from tests.conftest import user_named
from tests.test_routes import GET_RULES, POST_RULES, _path

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def make_item(app, share_phone=True) -> tuple[int, str, int]:
    """An installer request with a link; returns (handoff id, token, another handoff's id)."""
    with app.test_request_context():
        now = utcnow()
        installer = db.session.scalar(sa.select(Team).where(Team.function == "installer"))
        item = flow.raise_handoff(kind="installer", raiser=user_named("agent"), owed_team=installer, request="上门安装衣柜",
                                  now=now, order_no="TB3001", address="杭州市西湖区某路1号", appointment_at=now + timedelta(days=1),
                                  contact_phone="13812345678", share_phone=share_phone)
        other = flow.raise_handoff(kind="warehouse", raiser=user_named("agent"), owed_team=installer, request="别的事",
                                   now=now, order_no="TB3002")
        token = flow.create_link(item, "万师傅 张师傅", user_named("agent"), now)
        db.session.commit()
        return item.id, token, other.id


def test_the_link_opens_its_item_and_its_holder_answers(app, client):
    handoff_id, token, _other = make_item(app)
    page = client.get(f"/h/{token}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "上门安装衣柜" in html and "杭州市西湖区某路1号" in html
    assert "13812345678" in html  # the raiser chose to share it
    assert client.post_form(f"/h/{token}/opened", {}, headers={"HX-Request": "true"}).status_code == 204
    client.post_form(f"/h/{token}/acknowledge", {"expected_at": "2099-01-01T09:00"})
    client.post_form(f"/h/{token}/follow-up", {"text": "师傅明早到"})
    client.post_form(f"/h/{token}/files", {"file": (io.BytesIO(PNG), "装好了.png")}, content_type="multipart/form-data")
    client.post_form(f"/h/{token}/done", {"note": "已安装完毕"})
    with app.app_context():
        item = db.session.get(Handoff, handoff_id)
        assert item.state == "done" and item.acknowledged_by == "万师傅 张师傅"
        actions = [event.action for event in db.session.scalars(TimelineEvent.for_subject("handoff", handoff_id))][::-1]
        assert actions == ["handoff_raised", "link_created", "link_opened", "handoff_acknowledged", "handoff_followed_up",
                           "handoff_file_added", "handoff_done"]
        kept = db.session.scalar(sa.select(HandoffFile).where(HandoffFile.handoff_id == handoff_id))
    assert client.get(f"/h/{token}/files/{kept.id}").data == PNG
    assert "已安装完毕" in client.get(f"/h/{token}").get_data(as_text=True)


def test_the_phone_stays_hidden_unless_shared(app, client):
    _id, token, _other = make_item(app, share_phone=False)
    html = client.get(f"/h/{token}").get_data(as_text=True)
    assert "13812345678" not in html and "138****5678" not in html


def test_the_link_reaches_nothing_else(app, client):
    handoff_id, token, other_id = make_item(app)
    assert client.get(f"/h/{token}").status_code == 200  # the holder has a session cookie now, and no login
    for rule in GET_RULES:
        response = client.get(_path(rule))
        assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login"), rule.endpoint
    for rule in POST_RULES:
        assert client.post_form(_path(rule), {}).status_code == 302, rule.endpoint
    with app.app_context():
        other_file = HandoffFile(handoff_id=other_id, original_name="x.png", stored_name="x-other.png", content_type="image/png",
                                 size_bytes=1)
        db.session.add(other_file)
        db.session.commit()
        other_file_id = other_file.id
    assert client.get(f"/h/{token}/files/{other_file_id}").status_code == 404  # another item's file


def test_expired_revoked_and_guessed_links_are_refused(app, client):
    handoff_id, token, _other = make_item(app)
    assert client.get(f"/h/{secrets.token_urlsafe(32)}").status_code == 404
    assert client.get(f"/h/{token[:-2]}").status_code == 404
    app.config["CLOCK_OFFSET"] = timedelta(hours=72, minutes=1)  # the default 72 h have passed
    assert client.get(f"/h/{token}").status_code == 410
    assert client.post_form(f"/h/{token}/done", {"note": "x"}).status_code == 410
    app.config["CLOCK_OFFSET"] = None
    lead = app.test_client()
    lead.post_form("/auth/login", {"username": "lead", "password": "test-pass-123"})
    page = lead.get(f"/handoffs/{handoff_id}").get_data(as_text=True)
    revoke = re.search(r'action="(/handoffs/\d+/links/\d+/revoke)"', page).group(1)
    lead.post_form(revoke, {})
    assert client.get(f"/h/{token}").status_code == 410
    with app.app_context():
        assert db.session.get(Handoff, handoff_id).state == "open"  # nothing was done through a dead link


def test_guessing_tokens_is_rate_limited(make_app):
    app = make_app(LINK_RATE_LIMIT="5 per minute")
    client = app.test_client()
    statuses = [client.get(f"/h/{secrets.token_urlsafe(32)}").status_code for _ in range(7)]
    assert statuses[:5] == [404] * 5 and statuses[5:] == [429, 429]
