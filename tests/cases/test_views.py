"""The board, the case page and the actions, as a person in the browser would meet them."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from markupsafe import escape

from models import Case, CaseEvidence, TimelineEvent, db, set_setting

HX = {"HX-Request": "true"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def card_ids(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'<article class="case-card[^"]*" id="case-(\d+)"', html)}


def column_of(html: str, case_id: int) -> str:
    position = html.index(f'id="case-{case_id}"')
    return re.findall(r'data-state="(\w+)"', html[:position])[-1]


def poll_url(html: str, region: str = "board") -> str:
    tag = re.search(rf'<[^>]+id="{region}"[^>]*>', html, re.S).group(0)
    return re.search(r'hx-get="([^"]+)"', tag).group(1).replace("&amp;", "&")


def test_board_shows_cases_in_their_columns_with_their_clock(login_as, make_case):
    fresh = make_case(buyer_nick="<script>alert(1)</script>")
    late = make_case(minutes_ago=200, assignee="agent", state="in_progress")
    html = login_as("agent").get("/cases/").get_data(as_text=True)
    assert card_ids(html) == {fresh, late}
    assert column_of(html, fresh) == "new" and column_of(html, late) == "in_progress"
    late_card = html[html.index(f'id="case-{late}"'):]
    assert "status-overdue" in html[html.index(f'id="case-{late}"') - 60:html.index(f'id="case-{late}"')]
    assert "已超时" in late_card[:3000] and "晚了 20分钟" in late_card[:3000]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    detail = login_as("agent").get(f"/cases/{fresh}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail and "<script>alert(1)" not in detail


@pytest.mark.parametrize("query,expected", [
    ("scope=mine", {"mine"}),
    ("scope=team", {"mine", "team"}),
    ("scope=unassigned", {"jd", "flagged", "urgent"}),
    ("platform=jd_pop", {"jd"}),
    ("kind=complaint", {"urgent"}),
    ("priority=0", {"urgent"}),
    ("clock=overdue", {"team"}),
    ("clock=at_risk", {"team", "urgent"}),
    ("flag=any", {"flagged"}),
    ("flag=red", {"flagged"}),
    ("flag=blue", set()),
    ("q=JD20", {"jd"}),
    ("q=老王", {"mine"}),
    ("q=%25", set()),
    ("platform=mars&kind=&priority=9", {"mine", "team", "jd", "flagged", "urgent"}),  # nonsense is ignored
])
def test_board_filters(login_as, make_case, query, expected):
    cases = {
        "mine": make_case(assignee="agent", buyer_nick="老王"),
        "team": make_case(assignee="agent2", minutes_ago=200),
        "jd": make_case(shop="测试京东店", order_no="JD2026000001"),
        "flagged": make_case(flag="red", flag_note="加急"),
        "urgent": make_case(kind="complaint", priority=0, minutes_ago=25),  # P0 replies within 30 min: at risk
    }
    html = login_as("agent").get(f"/cases/?{query}").get_data(as_text=True)
    assert card_ids(html) == {cases[name] for name in expected}


def test_filter_answers_htmx_with_the_board_only(login_as, make_case):
    make_case()
    response = login_as("agent").get("/cases/?scope=mine", headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith('<section id="board"') and "<html" not in html
    assert "HX-Request" in response.headers["Vary"]
    assert "scope=mine" in poll_url(html)


def test_list_is_sorted_by_deadline_and_paginated(login_as, make_case):
    later = make_case(minutes_ago=10)
    sooner = make_case(minutes_ago=100)
    overdue = make_case(minutes_ago=300)
    html = login_as("agent").get("/cases/list").get_data(as_text=True)
    order = [int(x) for x in re.findall(r'href="/cases/(\d+)"', html)]
    assert order[:3] == [overdue, sooner, later]
    assert "共 3 个工单" in html
    assert login_as("agent").get("/cases/list?page=99").status_code == 200


def _case_form(app, **overrides) -> dict:
    with app.app_context():
        from models import Shop
        shop_id = db.session.scalar(sa.select(Shop.id).where(Shop.name == "测试京东店"))
    data = {"shop_id": shop_id, "order_no": "JD9000001", "platform_case_id": "", "buyer_nick": "小李", "buyer_phone": "13900001111",
            "kind": "exchange", "category": "wrong_whole", "priority": "1", "assignee_id": "0", "order_amount": "299.00",
            "refund_amount": "", "summary": "颜色发错了", "flag": "", "flag_note": "", "platform_deadline_at": "", "platform_deadline_note": ""}
    data.update(overrides)
    return data


def test_create_a_case(app, login_as):
    client = login_as("agent")
    response = client.post_form("/cases/new", _case_form(app, platform_deadline_at="2026-12-01T18:30", platform_case_id="SV-1"))
    assert response.status_code == 302
    with app.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.order_no == "JD9000001"))
        assert case.platform == "jd_pop" and case.order_amount == Decimal("299.00") and case.created_by.username == "agent"
        assert case.platform_deadline_at.isoformat() == "2026-12-01T10:30:00+00:00"  # entered in shop time
        assert case.next_due_at is not None
    duplicate = client.post_form("/cases/new", _case_form(app, platform_case_id="SV-1", order_no="other"))
    assert "已使用该售后单号" in duplicate.get_data(as_text=True)


@pytest.mark.parametrize("field,value,message", [
    ("order_no", "", "该字段是必填字段"),
    ("order_amount", "-5", "范围为 0 到 1,000,000 元"),
    ("order_amount", "abc", "不是有效的小数"),
    ("order_amount", "NaN", "请输入以元为单位的金额"),
    ("order_amount", "12.345", "最多两位小数"),
    ("refund_amount", "300", "退款金额不能超过订单金额"),
    ("kind", "bribe", "不是有效的选择"),
    ("buyer_phone", "call me", "只能包含数字"),
    ("platform_deadline_at", "tomorrow", "不是有效的日期与时间值"),
    ("shop_id", "9999", "不是有效的选择"),
])
def test_bad_case_input_gets_a_message_and_saves_nothing(app, login_as, field, value, message):
    response = login_as("agent").post_form("/cases/new", _case_form(app, **{field: value}))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert message in html, re.findall(r'class="error">([^<]*)<', html)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def _version(app, case_id) -> str:
    with app.app_context():
        return str(db.session.get(Case, case_id).version)


def test_two_updates_from_the_same_version_one_wins_the_other_is_told(app, login_as, make_case):
    case_id = make_case()
    seen = _version(app, case_id)
    agent = login_as("agent")
    first = agent.post_form(f"/cases/{case_id}/take", {"version": seen}, headers=HX)
    assert "您已接手此工单" in first.get_data(as_text=True) and json.loads(first.headers["HX-Trigger"]) == {"caseChanged": None}

    other = app.test_client()
    other.post_form("/auth/login", {"username": "agent2", "password": "test-pass-123"})
    second = other.post_form(f"/cases/{case_id}/state", {"version": seen, "target": "waiting", "waiting_for": "buyer"}, headers=HX)
    html = second.get_data(as_text=True)
    assert "其他人刚修改了工单" in html and "agent name" in html and "处理中" in html  # the current state is shown
    assert second.headers["HX-Retarget"] == "#flash" and "HX-Trigger" not in second.headers
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.assignee.username == "agent" and case.state == "in_progress"  # the first change is intact
        actions = [e.action for e in db.session.scalars(TimelineEvent.for_subject("case", case_id))]
        assert actions.count("assigned") == 1 and "state_changed" not in actions


def test_edit_form_conflict_keeps_the_typing_and_shows_the_current_values(app, login_as, make_case):
    case_id = make_case()
    client = login_as("agent")
    page = client.get(f"/cases/{case_id}/edit").get_data(as_text=True)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    with app.app_context():
        from models import Shop
        shop_id = db.session.scalar(sa.select(Shop.id).where(Shop.name == "测试天猫店"))
    data = _case_form(app, shop_id=shop_id, order_no="T00000001", kind="return_refund", category="damaged_on_arrival", version=version)
    assert client.post_form(f"/cases/{case_id}/edit", {**data, "flag_note": "第一次"}).status_code == 302
    stale = client.post_form(f"/cases/{case_id}/edit", {**data, "flag_note": "第二次"})
    html = stale.get_data(as_text=True)
    assert "其他人已保存了修改" in html and "第一次" in html and 'value="第二次"' in html
    with app.app_context():
        assert db.session.get(Case, case_id).flag_note == "第一次"


def test_actions_without_htmx_go_back_with_a_message(app, login_as, make_case):
    case_id = make_case()
    client = login_as("agent")
    response = client.post_form(f"/cases/{case_id}/note", {"text": "已联系买家", "back": "board"})
    assert response.headers["Location"] == "/cases/"
    assert "备注已添加" in client.get("/cases/").get_data(as_text=True)
    refused = client.post_form(f"/cases/{case_id}/state", {"version": _version(app, case_id), "target": "closed"})
    assert refused.headers["Location"] == f"/cases/{case_id}"
    assert "不能转为" in client.get(f"/cases/{case_id}").get_data(as_text=True)


def test_board_quick_actions_and_notes(app, login_as, make_case):
    case_id = make_case()
    client = login_as("agent")
    empty = client.post_form(f"/cases/{case_id}/note", {"text": ""}, headers=HX)
    assert "flash-error" in empty.get_data(as_text=True)
    client.post_form(f"/cases/{case_id}/note", {"text": "<b>买家</b>要发票"}, headers=HX)
    client.post_form(f"/cases/{case_id}/state", {"version": _version(app, case_id), "target": "in_progress"}, headers=HX)
    html = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "&lt;b&gt;买家&lt;/b&gt;要发票" in html
    assert "状态改为：处理中" in html


def test_phone_is_masked_and_a_reveal_is_logged(app, login_as, make_case):
    case_id = make_case(buyer_phone="13812345678")
    admin = login_as("admin")
    page = admin.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "138****5678" in page and "13812345678" not in page and "查看完整号码" not in page
    admin.post_form("/auth/logout")
    client = login_as("agent")
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "13812345678" not in page and "查看完整号码" in page
    shown = client.post_form(f"/cases/{case_id}/phone", {}, headers=HX)
    assert "13812345678" in shown.get_data(as_text=True)
    with app.app_context():
        event = db.session.scalar(TimelineEvent.for_subject("case", case_id))
        assert event.action == "phone_revealed" and event.actor.username == "agent"


@pytest.mark.parametrize("name,data,message", [
    ("photo.png", b"just text pretending", "只接受照片"),
    ("empty.jpg", b"", "文件是空的"),
    ("huge.png", PNG + b"\x00" * (10 * 1024 * 1024), "文件超过 10 MB"),
])
def test_evidence_is_checked_by_content_and_size(app, login_as, make_case, name, data, message):
    case_id = make_case()
    response = login_as("agent").post_form(f"/cases/{case_id}/evidence", {"file": (io.BytesIO(data), name)}, headers=HX,
                                           content_type="multipart/form-data")
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CaseEvidence)) == 0


def test_evidence_upload_and_download(app, login_as, make_case):
    case_id = make_case()
    client = login_as("agent")
    client.post_form(f"/cases/{case_id}/evidence", {"file": (io.BytesIO(PNG), "../../破损.png")}, content_type="multipart/form-data")
    with app.app_context():
        item = db.session.scalar(sa.select(CaseEvidence))
        assert item.original_name == "破损.png" and item.content_type == "image/png" and "/" not in item.stored_name
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    url = f"/cases/{case_id}/evidence/{item.id}"
    assert url in page
    served = client.get(url)
    assert served.data == PNG and served.mimetype == "image/png" and served.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(f"/cases/{case_id + 1}/evidence/{item.id}").status_code == 404


def test_board_poll_is_204_until_data_changes(app, login_as, make_case):
    make_case()
    client = login_as("agent")
    url = poll_url(client.get("/cases/", headers=HX).get_data(as_text=True))
    assert client.get(url, headers=HX).status_code == 204
    make_case()
    changed = client.get(url, headers=HX)
    assert changed.status_code == 200 and len(card_ids(changed.get_data(as_text=True))) == 2


def test_board_poll_renders_again_when_a_clock_turns_with_no_data_change(app, login_as, make_case):
    case_id = make_case(minutes_ago=0)
    client = login_as("agent")
    html = client.get("/cases/", headers=HX).get_data(as_text=True)
    assert "status-on_time" in html
    url = poll_url(html)
    app.config["CLOCK_OFFSET"] = timedelta(hours=2, minutes=20)  # into the last quarter of the 3 h reply time
    at_risk = client.get(url, headers=HX)
    assert at_risk.status_code == 200 and f'status-at_risk" id="case-{case_id}"' in at_risk.get_data(as_text=True)
    url = poll_url(at_risk.get_data(as_text=True))
    assert client.get(url, headers=HX).status_code == 204
    app.config["CLOCK_OFFSET"] = timedelta(hours=3, minutes=1)
    overdue = client.get(url, headers=HX)
    assert overdue.status_code == 200 and f'status-overdue" id="case-{case_id}"' in overdue.get_data(as_text=True)


def test_case_page_polls_its_own_region(app, login_as, make_case):
    case_id = make_case()
    client = login_as("agent")
    html = client.get(f"/cases/{case_id}", headers=HX).get_data(as_text=True)
    assert html.lstrip().startswith('<div id="case-live"') and "<html" not in html
    url = poll_url(html, "case-live")
    assert client.get(url, headers=HX).status_code == 204
    client.post_form(f"/cases/{case_id}/note", {"text": "新备注"}, headers=HX)
    assert "新备注" in client.get(url, headers=HX).get_data(as_text=True)


def test_header_counts_my_overdue_cases(app, login_as, make_case):
    make_case(minutes_ago=200, assignee="agent")
    make_case(minutes_ago=200, assignee="agent2")
    make_case(minutes_ago=10, assignee="agent")
    html = login_as("agent").get("/counters", headers=HX).get_data(as_text=True)
    assert re.search(r'data-counter="overdue">\s*<span class="counter-label">我的超时工单</span>\s*<span class="counter-value">1</span>', html)


def test_promotion_mode_tightens_open_cases_and_shows_a_banner(app, login_as, make_case):
    case_id = make_case(minutes_ago=0)
    with app.app_context():
        before = db.session.get(Case, case_id).next_due_at
    lead = login_as("lead")
    form = {"promo_mode": "y", "poll_seconds": "10", "promo_poll_seconds": "4", "at_risk_percent": "25",
            "pausing_waits": "buyer", "opens": "09:00", "closes": "22:00", "weekdays": [str(d) for d in range(7)]}
    assert lead.post_form("/cases/rules", form).status_code == 302
    with app.app_context():
        after = db.session.get(Case, case_id).next_due_at
    assert before - after == timedelta(hours=1)  # reply 3 h -> 2 h
    page = lead.get("/cases/").get_data(as_text=True)
    assert "大促模式已开启" in page and "every 4s" in page
    with app.app_context():
        changes = db.session.scalar(TimelineEvent.for_subject("settings", 0)).detail["changes"]
        assert changes["promo_mode"] == [False, True]


def test_rules_validation(login_as):
    lead = login_as("lead")
    bad = lead.post_form("/cases/rules", {"poll_seconds": "1", "promo_poll_seconds": "5", "at_risk_percent": "25",
                                          "business_hours": "y", "opens": "9am", "closes": "22:00"})
    html = bad.get_data(as_text=True)
    assert "范围为 2 到 300 秒" in html and "请输入时间" in html and "请至少选择一个工作日" in html
    promo_looser = lead.post_form("/cases/rules/clocks", {"clock": "reply", "kind": "", "priority": "", "minutes": "60", "promo_minutes": "90"})
    assert "大促期间时限只能收紧" in promo_looser.get_data(as_text=True)


def test_clock_override_applies_to_open_cases(app, login_as, make_case):
    complaint = make_case(kind="complaint", minutes_ago=0)
    other = make_case(minutes_ago=0)
    lead = login_as("lead")
    lead.post_form("/cases/rules/clocks", {"clock": "reply", "kind": "complaint", "priority": "", "minutes": "60", "promo_minutes": "30"})
    with app.app_context():
        assert db.session.get(Case, complaint).next_due_at - db.session.get(Case, complaint).received_at == timedelta(hours=1)
        assert db.session.get(Case, other).next_due_at - db.session.get(Case, other).received_at == timedelta(hours=3)


def test_procedure_edit_shows_on_the_case_and_can_be_ticked(app, login_as, make_case):
    case_id = make_case(category="extra_item")
    lead = login_as("lead")
    page = lead.get("/cases/procedures/extra_item").get_data(as_text=True)
    assert "感谢买家告知" in page
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1)
    lead.post_form("/cases/procedures/extra_item", {"steps": "感谢买家\n预约取件\n\n登记", "quick_replies": "谢谢您！", "version": version})
    stale = lead.post_form("/cases/procedures/extra_item", {"steps": "别的", "quick_replies": "", "version": version})
    assert "其他人已保存了修改" in stale.get_data(as_text=True)
    detail = lead.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "预约取件" in detail and "谢谢您！" in detail and "data-copy-from" in detail
    lead.post_form(f"/cases/{case_id}/tick", {"step": "预约取件", "done": "1"}, headers=HX)
    assert 'aria-pressed="true"' in lead.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "不在此工单的处理方法中" in lead.post_form(f"/cases/{case_id}/tick", {"step": "喝茶", "done": "1"}, headers=HX).get_data(as_text=True)


def test_board_in_english(app, login_as, make_case):
    make_case()
    client = login_as("agent")
    client.post_form("/language", {"locale": "en"})
    html = client.get("/cases/").get_data(as_text=True)
    assert "Return and refund" in html and "Damaged or scratched on arrival" in html and "left" in html


def test_settings_change_reaches_the_poll_interval(app, login_as):
    with app.app_context():
        set_setting("poll_seconds", 7)
        db.session.commit()
    assert "every 7s" in login_as("agent").get("/cases/").get_data(as_text=True)


@pytest.mark.parametrize("overrides", [
    {"order_amount": "NaN", "refund_amount": "10"}, {"order_amount": "10", "refund_amount": "NaN"},
    {"order_amount": "-Infinity", "refund_amount": "10"}, {"order_amount": "1e309", "refund_amount": "10"},
    {"shop_id": str(2**64)}, {"assignee_id": "99999999999999999999"}, {"priority": str(2**70)},
])
def test_out_of_range_numbers_are_form_errors(app, login_as, overrides):
    response = login_as("agent").post_form("/cases/new", _case_form(app, **overrides))
    assert response.status_code == 200 and 'class="error"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


@pytest.mark.parametrize("path", ["/cases/99999999999999999999", f"/cases/{2**63}", "/cases/99999999999999999999/edit",
                                  "/cases/1/evidence/99999999999999999999", "/compensation/99999999999999999999/approve"])
def test_ids_beyond_the_database_are_404(login_as, path):
    client = login_as("lead")
    response = client.post_form(path, {}) if path.endswith("approve") else client.get(path)
    assert response.status_code == 404


def test_list_page_far_beyond_the_end_is_empty_not_an_error(login_as, make_case):
    make_case()
    for page in ("99999999999999999999", "-3", "abc"):
        assert login_as("agent").get(f"/cases/list?page={page}").status_code == 200


def test_edit_form_shows_the_phone_masked_and_keeps_it(app, login_as, make_case):
    case_id = make_case(buyer_phone="13812345678")
    client = login_as("agent")
    page = client.get(f"/cases/{case_id}/edit").get_data(as_text=True)
    assert "13812345678" not in page and 'value="138****5678"' in page
    form = {name: value for name, value in re.findall(r'<(?:input|textarea)[^>]*name="([a-z_]+)"[^>]*value="([^"]*)"', page)}
    form.update(buyer_nick="小王改名", kind="refund_only", category="other", priority="2", assignee_id="0", flag="")
    with app.app_context():
        form["shop_id"] = str(db.session.get(Case, case_id).shop_id)
    assert client.post_form(f"/cases/{case_id}/edit", form).status_code == 302
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.buyer_nick == "小王改名" and case.buyer_phone == "13812345678"  # the mask sent back keeps the number
    page = client.get(f"/cases/{case_id}/edit").get_data(as_text=True)
    assert "13812345678" not in page
    form.update(buyer_phone="13900002222", version=re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1))
    response = client.post_form(f"/cases/{case_id}/edit", form)
    assert response.status_code == 302, re.findall(r'class="error">([^<]*)<', response.get_data(as_text=True))
    with app.app_context():
        assert db.session.get(Case, case_id).buyer_phone == "13900002222"  # a new number replaces it


@pytest.mark.parametrize("step", ["<script>alert('x')</script>", "<img src=x onerror=alert(1)>", "满意度低于80%时升级组长",
                                  "%(name)s 与 %s 都只是文字"])
def test_procedure_text_is_shown_as_typed(app, login_as, make_case, step):
    case_id = make_case(category="extra_item")
    lead = login_as("lead")
    version = re.search(r'name="version" type="hidden" value="(\d+)"', lead.get("/cases/procedures/extra_item").get_data(as_text=True)).group(1)
    lead.post_form("/cases/procedures/extra_item", {"steps": f"{step}\n登记", "quick_replies": step, "version": version})
    for url in (f"/cases/{case_id}", "/cases/procedures", "/cases/procedures/extra_item"):
        response = lead.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, url
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert html.count(escape(step)) >= 1, url
    lead.post_form(f"/cases/{case_id}/tick", {"step": step, "done": "1"}, headers=HX)
    assert escape(step) in lead.get(f"/cases/{case_id}").get_data(as_text=True)


def test_evidence_names_are_cleaned_and_download_with_any_name(app, login_as, make_case):
    case_id = make_case()
    client = login_as("agent")
    # As a hostile client sends it: the RFC 2231 form of the name carries CR, LF and NUL.
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{client.csrf_token('/auth/password')}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E5%9D%8F%0D%0A%E4%BA%86%00.png\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + PNG + f"\r\n--{boundary}--\r\n".encode()
    client.post(f"/cases/{case_id}/evidence", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    with app.app_context():
        item = db.session.scalar(sa.select(CaseEvidence).where(CaseEvidence.case_id == case_id))
        assert item.original_name == "坏了.png"
        item.original_name = "old\r\nname.png"  # stored before names were cleaned
        db.session.commit()
        evidence_id = item.id
    served = client.get(f"/cases/{case_id}/evidence/{evidence_id}")
    assert served.status_code == 200 and served.data == PNG
    assert "\n" not in served.headers["Content-Disposition"] and "oldname.png" in served.headers["Content-Disposition"]
