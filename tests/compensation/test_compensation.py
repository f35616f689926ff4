"""Compensation: routing by limit, who may decide, one decision only, payment, refund netting, money."""

from __future__ import annotations

import json
import re
import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa

from compensation import rules
from models import Case, Compensation, TimelineEvent, db, utcnow
from tests.conftest import TEST_PASSWORD, in_english, user_named

HX = {"HX-Request": "true"}


def ask(client, case_id, amount, reason="goodwill", payout="alipay", note=""):
    return client.post_form(f"/compensation/case/{case_id}", {"amount": amount, "reason": reason, "payout": payout, "note": note}, headers=HX)


def only(app, **where) -> Compensation:
    with app.app_context():
        item = db.session.scalar(sa.select(Compensation).filter_by(**where).order_by(Compensation.id.desc()))
        db.session.expunge(item)
        return item


def case_events(app, case_id) -> list[TimelineEvent]:
    with app.app_context():
        found = db.session.scalars(TimelineEvent.for_subject("case", case_id)).all()
        return [(e.action, e.detail, e.actor.username if e.actor else None) for e in found]


def client_for(app, username):
    client = app.test_client()
    assert client.post_form("/auth/login", {"username": username, "password": TEST_PASSWORD}).status_code == 302
    return client


def test_within_the_limit_is_approved_at_once_and_recorded(app, login_as, make_case):
    case_id = make_case()
    response = ask(login_as("agent"), case_id, "15.00")
    assert "在您的权限内：已批准并记录" in response.get_data(as_text=True)
    item = only(app, case_id=case_id)
    assert item.status == "approved" and item.auto_approved and item.amount == Decimal("15.00")
    actions = [a for a, _, _ in case_events(app, case_id)]
    assert actions[:2] == ["compensation_decided", "compensation_requested"]


def test_over_the_limit_waits_for_a_lead_who_approves_and_the_agent_sees_it(app, make_case):
    case_id = make_case()
    agent, lead = client_for(app, "agent"), client_for(app, "lead")
    assert "超出您的权限：等待审批" in ask(agent, case_id, "50").get_data(as_text=True)
    item = only(app, case_id=case_id)
    assert item.status == "pending"
    queue = lead.get("/compensation/").get_data(as_text=True)
    assert f'id="approval-{item.id}"' in queue and "¥50.00" in queue
    assert re.search(r'data-counter="approvals">\s*<span class="counter-label">待我审批</span>\s*<span class="counter-value">1<', lead.get("/counters", headers=HX).get_data(as_text=True))

    decided = lead.post_form(f"/compensation/{item.id}/approve", {"note": "同意，注意回访", "version": item.version}, headers=HX)
    assert "已批准 ¥50.00" in decided.get_data(as_text=True) and json.loads(decided.headers["HX-Trigger"]) == {"compensationChanged": None}
    assert only(app, case_id=case_id).status == "approved"
    counters = agent.get("/counters", headers=HX).get_data(as_text=True)
    assert re.search(r'我的申请有了结果</span>\s*<span class="counter-value">1<', counters)
    page = agent.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "批准了 ¥50.00 的补偿" in page and "同意，注意回访" in page
    # Opening the page changed nothing; the page itself posts that the decision was seen.
    assert re.search(r'我的申请有了结果</span>\s*<span class="counter-value">1<', agent.get("/counters", headers=HX).get_data(as_text=True))
    assert f'hx-post="/compensation/case/{case_id}/seen"' in page
    assert agent.post_form(f"/compensation/case/{case_id}/seen", {}, headers=HX).status_code == 204
    counters = agent.get("/counters", headers=HX).get_data(as_text=True)
    assert re.search(r'我的申请有了结果</span>\s*<span class="counter-value">0<', counters)
    assert f'hx-post="/compensation/case/{case_id}/seen"' not in agent.get(f"/cases/{case_id}").get_data(as_text=True)


def test_agents_cannot_approve(app, make_case):
    case_id = make_case()
    ask(client_for(app, "agent"), case_id, "50")
    item = only(app, case_id=case_id)
    assert client_for(app, "agent2").post_form(f"/compensation/{item.id}/approve", {"note": ""}).status_code == 403
    assert client_for(app, "reviewer").post_form(f"/compensation/{item.id}/reject", {"note": ""}).status_code == 403
    assert only(app, case_id=case_id).status == "pending"


def test_nobody_approves_their_own_request(app, make_case):
    case_id = make_case()
    lead = client_for(app, "lead")
    ask(lead, case_id, "250")  # over the lead's own 200
    item = only(app, case_id=case_id)
    refused = lead.post_form(f"/compensation/{item.id}/approve", {"note": ""}, headers=HX)
    assert "不能审批自己的申请" in refused.get_data(as_text=True)
    assert f'id="approval-{item.id}"' not in lead.get("/compensation/").get_data(as_text=True)
    assert only(app, case_id=case_id).status == "pending"


def test_a_lead_over_their_limit_is_refused_and_offered_forwarding(app, make_case):
    case_id = make_case(order_amount=Decimal("999.00"))  # ¥500 stays below what the buyer paid
    ask(client_for(app, "agent"), case_id, "500")
    item = only(app, case_id=case_id)
    lead = client_for(app, "lead")
    queue = lead.get("/compensation/").get_data(as_text=True)
    assert "超出您 ¥200.00 的权限" in queue and "转给店长" in queue
    refused = lead.post_form(f"/compensation/{item.id}/approve", {"note": ""}, headers=HX)
    assert "超出您 ¥200.00 的权限" in refused.get_data(as_text=True)
    assert only(app, case_id=case_id).status == "pending"
    lead.post_form(f"/compensation/{item.id}/forward", {"note": "金额较大"}, headers=HX)
    assert f'id="approval-{item.id}"' not in lead.get("/compensation/").get_data(as_text=True)
    manager = client_for(app, "manager")
    assert "转交人" in manager.get("/compensation/").get_data(as_text=True)
    manager.post_form(f"/compensation/{item.id}/approve", {"note": ""}, headers=HX)
    assert only(app, case_id=case_id).decided_by_id is not None and only(app, case_id=case_id).status == "approved"


def test_a_decision_is_final(app, make_case):
    case_id = make_case()
    ask(client_for(app, "agent"), case_id, "60")
    item = only(app, case_id=case_id)
    lead, manager = client_for(app, "lead"), client_for(app, "manager")
    lead.post_form(f"/compensation/{item.id}/reject", {"note": "证据不足"}, headers=HX)
    for client, url in ((lead, "approve"), (manager, "approve"), (manager, "reject")):
        response = client.post_form(f"/compensation/{item.id}/{url}", {"note": "改主意"}, headers=HX)
        assert "已经处理过了" in response.get_data(as_text=True)
    final = only(app, case_id=case_id)
    assert final.status == "rejected" and final.decision_note == "证据不足"


def test_a_forged_post_without_the_token_is_refused(app, make_case):
    case_id = make_case()
    ask(client_for(app, "agent"), case_id, "60")
    item = only(app, case_id=case_id)
    lead = client_for(app, "lead")
    assert lead.post(f"/compensation/{item.id}/approve", data={"note": ""}).status_code == 400
    assert only(app, case_id=case_id).status == "pending"


def test_two_approvers_at_the_same_moment_one_decision(app, make_case):
    case_id = make_case()
    ask(client_for(app, "agent"), case_id, "80")
    item = only(app, case_id=case_id)
    approvers = [client_for(app, "lead"), client_for(app, "manager")]
    tokens = [client.csrf_token("/auth/password") for client in approvers]
    barrier = threading.Barrier(2)
    answers = []

    def decide(client, token, path):
        barrier.wait()
        answers.append(client.post(f"/compensation/{item.id}/{path}", data={"note": path, "csrf_token": token}, headers=HX).get_data(as_text=True))

    threads = [threading.Thread(target=decide, args=(approvers[0], tokens[0], "approve")),
               threading.Thread(target=decide, args=(approvers[1], tokens[1], "reject"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 2
    wins = [a for a in answers if "flash-success" in a]
    losses = [a for a in answers if "flash-error" in a]
    assert len(wins) == 1 and len(losses) == 1
    assert "刚刚处理了" in losses[0] or "已经处理过了" in losses[0] or "其他人" in losses[0]
    decisions = [d for a, d, _ in case_events(app, case_id) if a == "compensation_decided"]
    assert len(decisions) == 1
    assert only(app, case_id=case_id).status in ("approved", "rejected")


def test_the_rule_itself_refuses_a_second_decision_from_a_stale_read(app, make_case):
    case_id = make_case()
    with app.test_request_context():
        case = db.session.get(Case, case_id)
        item = rules.request(case, user_named("agent"), Decimal("90"), "goodwill", "alipay", "", utcnow())
        db.session.commit()
        item_id = item.id
    with app.test_request_context():
        first = db.session.get(Compensation, item_id)
        stale = Compensation(id=item_id, status="pending", requester_id=first.requester_id, amount=first.amount, case_id=case_id)
        rules.decide(first, user_named("lead"), True, "", utcnow())
        db.session.commit()
        with pytest.raises(rules.CompensationRefused):
            rules.decide(stale, user_named("manager"), False, "", utcnow())


@pytest.mark.parametrize("amount,message", [
    ("0", "请输入大于 0"), ("-1", "请输入大于 0"), ("100000.01", "请输入大于 0"), ("abc", "不是有效的小数"),
    ("1.234", "最多两位小数"), ("", "该字段是必填字段"), ("Infinity", "请输入以元为单位的金额"),
])
def test_bad_amounts_are_refused(app, login_as, make_case, amount, message):
    case_id = make_case()
    answer = ask(login_as("agent"), case_id, amount).get_data(as_text=True)
    assert message in answer
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Compensation)) == 0


def test_paid_by_the_requester_or_finance_only(app, make_case):
    case_id = make_case()
    agent = client_for(app, "agent")
    ask(agent, case_id, "10")
    item = only(app, case_id=case_id)
    other = client_for(app, "agent2")
    refused = other.post_form(f"/compensation/{item.id}/paid", {"channel": "alipay", "reference": "X1"}, headers=HX)
    assert "申请人或财务" in refused.get_data(as_text=True)
    no_reference = agent.post_form(f"/compensation/{item.id}/paid", {"channel": "alipay", "reference": ""}, headers=HX)
    assert "flash-error" in no_reference.get_data(as_text=True)
    agent.post_form(f"/compensation/{item.id}/paid", {"channel": "alipay", "reference": "2026112200001"}, headers=HX)
    paid = only(app, case_id=case_id)
    assert paid.status == "paid" and paid.paid_reference == "2026112200001" and paid.paid_channel == "alipay"
    with app.app_context():
        from models import Team
        finance = db.session.scalar(sa.select(Team).where(Team.function == "finance"))
        user_named("agent2").team = finance
        db.session.commit()
    ask(agent, case_id, "5")
    second = only(app, case_id=case_id)
    other.post_form(f"/compensation/{second.id}/paid", {"channel": "wechat", "reference": "F-9"}, headers=HX)
    assert only(app, id=second.id).status == "paid"


def pay(app, case_id, amount, reason="goodwill", status="paid", requester="agent"):
    with app.test_request_context():
        case = db.session.get(Case, case_id)
        item = rules.request(case, user_named(requester), Decimal(amount), reason, "alipay", "", utcnow())
        if status == "paid":
            rules.mark_paid(item, user_named(requester), "alipay", "R", utcnow())
        elif status in ("rejected", "approved") and item.status == "pending":
            rules.decide(item, user_named("manager"), status == "approved", "" if status == "approved" else "证据不足", utcnow())
        db.session.commit()


def test_refund_is_netted_against_what_was_paid_on_the_order(app, make_case):
    first = make_case(kind="compensation", order_no="ORD-1", order_amount=Decimal("300.00"))
    second = make_case(kind="return_refund", order_no="ORD-1", order_amount=Decimal("300.00"))
    make_case(kind="compensation", order_no="ORD-2")  # another order does not count
    pay(app, first, "15.50")                                  # paid on the other case of the order: deducted
    pay(app, second, "20.00", reason="price_difference")      # a paid price difference: deducted
    pay(app, second, "40.00", status="rejected")              # rejected: not deducted
    pay(app, second, "12.00", status="approved")              # approved, not paid: not deducted, warned
    pay(app, second, "60.00", status="pending")               # pending: not deducted
    with app.test_request_context():
        proposal = rules.netting(db.session.get(Case, second))
        assert proposal.deducted == Decimal("35.50") and proposal.proposed == Decimal("264.50")
        assert [item.amount for item in proposal.not_deducted] == [Decimal("12.00")]
    client = client_for(app, "agent")
    page = client.get(f"/cases/{second}").get_data(as_text=True)
    assert "¥264.50" in page and "已批准但未支付的 ¥12.00 不扣除" in page
    version = re.search(r'name="version" value="(\d+)">\s*<label for="refund-amount"', page).group(1)
    differs = client.post_form(f"/compensation/case/{second}/refund", {"amount": "250.00", "reason": "", "version": version}, headers=HX)
    assert "请说明退款与建议的 ¥264.50 不同的原因" in differs.get_data(as_text=True)
    client.post_form(f"/compensation/case/{second}/refund", {"amount": "250.00", "reason": "运费险已赔付14.5元", "version": version}, headers=HX)
    with app.app_context():
        assert db.session.get(Case, second).refund_amount == Decimal("250.00")
    refund_event = [d for a, d, _ in case_events(app, second) if a == "refund_set"][0]
    assert refund_event["reason"] == "运费险已赔付14.5元" and refund_event["proposed"] == "264.50" and refund_event["deducted"] == "35.50"


def test_sums_of_money_are_exact(app, make_case, login_as):
    case_id = make_case(kind="return_refund", order_no="ORD-EXACT", order_amount=Decimal("1.00"))
    agent = login_as("agent")
    ask(agent, case_id, "0.1")
    ask(agent, case_id, "0.2")
    with app.app_context():
        for item in db.session.scalars(sa.select(Compensation)):
            item.status, item.paid_at = "paid", utcnow()
        db.session.commit()
    with app.test_request_context():
        proposal = rules.netting(db.session.get(Case, case_id))
        assert proposal.deducted == Decimal("0.30") and str(proposal.deducted) == "0.30"
        assert proposal.proposed == Decimal("0.70")
        assert isinstance(db.session.scalar(sa.select(Compensation.amount)), Decimal)
    lead = client_for(app, "lead")
    overview = lead.get("/compensation/overview").get_data(as_text=True)
    assert "¥0.30" in overview and "0.30000000000000004" not in overview


def test_money_overview_budget_and_export(app, make_case):
    case_id = make_case(responsibility="courier")
    pay(app, case_id, "10.00")
    pay(app, case_id, "30.00", status="approved")
    pay(app, case_id, "70.00", status="pending")
    lead, manager = client_for(app, "lead"), client_for(app, "manager")
    with app.test_request_context():
        from compensation.report import month_of
        from models import Shop
        month = month_of(utcnow(), app.config["SHOP_TZ"])
        shop_id = db.session.scalar(sa.select(Shop.id).where(Shop.name == "测试天猫店"))
    assert lead.post_form("/compensation/budget", {"shop_id": shop_id, "month": month, "amount": "35"}).status_code == 403
    manager.post_form("/compensation/budget", {"shop_id": shop_id, "month": month, "amount": "35"})
    page = manager.get(f"/compensation/overview?month={month}").get_data(as_text=True)
    row = page[page.index("测试天猫店"):]
    cells = [cell.strip() for cell in re.findall(r'<td class="num">([^<]*)<', row)[:6]]
    assert cells == ["3", "¥110.00", "¥40.00", "¥10.00", "¥35.00", "¥-5.00 (超出预算)"]
    assert "快递: ¥40.00 (2)" in page
    csv = manager.get(f"/compensation/overview.csv?month={month}")
    assert csv.data.startswith("\ufeff".encode()) and "测试天猫店,3,110.00,40.00,10.00,35.00,-5.00" in csv.get_data(as_text=True)
    bad = manager.post_form("/compensation/budget", {"shop_id": shop_id, "month": "2026-13", "amount": "35"})
    assert bad.status_code == 302 and "请输入月份" in manager.get(bad.headers["Location"]).get_data(as_text=True)
    assert f"资金概览 {month}" in manager.get("/compensation/overview?month=garbage").get_data(as_text=True)


def test_limits_are_changed_by_managers_and_audited(app, make_case):
    manager = client_for(app, "manager")
    with app.app_context():
        agent = user_named("agent")
        agent_id, version = agent.id, agent.version
    assert client_for(app, "lead").get("/compensation/limits").status_code == 403
    manager.post_form(f"/compensation/limits/{agent_id}", {"compensation_limit": "50", "version": version})
    with app.app_context():
        assert user_named("agent").compensation_limit == Decimal("50.00")
    stale = manager.post_form(f"/compensation/limits/{agent_id}", {"compensation_limit": "80", "version": version})
    assert stale.status_code == 302
    with app.app_context():
        assert user_named("agent").compensation_limit == Decimal("50.00")
    empty = manager.post_form(f"/compensation/limits/{agent_id}", {"compensation_limit": "", "version": int(version) + 1})
    assert empty.status_code == 302 and "请输入权限额度" in manager.get("/compensation/limits").get_data(as_text=True)
    page = manager.get("/compensation/limits").get_data(as_text=True)
    assert "agent name 的补偿权限：20.00 → 50.00" in page
    case_id = make_case()
    assert "在您的权限内" in ask(client_for(app, "agent"), case_id, "45").get_data(as_text=True)


def test_case_page_views_racing_a_decision_never_fail(app, make_case):
    """Opening the case page writes nothing, so a decision at the same moment cannot make it a 500."""
    case_id = make_case()
    agent, lead = client_for(app, "agent"), client_for(app, "lead")
    for amount in ("50", "60", "70"):
        ask(agent, case_id, amount)
    items = []
    with app.app_context():
        items = [(item.id, item.version) for item in db.session.scalars(sa.select(Compensation).where(Compensation.case_id == case_id))]
    statuses, barrier = [], threading.Barrier(2)

    def view():
        barrier.wait()
        for _ in range(15):
            statuses.append(agent.get(f"/cases/{case_id}").status_code)

    def decide():
        barrier.wait()
        for item_id, version in items:
            statuses.append(lead.post_form(f"/compensation/{item_id}/approve", {"version": version}, headers=HX).status_code)

    threads = [threading.Thread(target=view), threading.Thread(target=decide)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses and set(statuses) == {200}
    assert {only(app, id=item_id).status for item_id, _ in items} == {"approved"}


def test_a_decision_redirects_only_inside_the_app(app, make_case):
    case_id = make_case()
    ask(client_for(app, "agent"), case_id, "50")
    lead = client_for(app, "lead")
    for back in ("https://example.org/", "//example.org/x", "javascript:alert(1)", "/\\example.org"):
        item = only(app, case_id=case_id)
        response = lead.post_form(f"/compensation/{item.id}/reject", {"version": item.version, "back": back, "note": "证据不足"})
        assert response.status_code == 302
        assert response.headers["Location"] == "/compensation/", back
    item = only(app, case_id=case_id)
    assert item.status == "rejected"
    response = lead.post_form(f"/compensation/{item.id}/reject", {"version": item.version, "back": f"/cases/{case_id}", "note": "重复"})
    assert response.headers["Location"] == f"/cases/{case_id}"  # our own pages are fine


def test_a_decision_from_a_stale_page_says_what_happened_meanwhile(app, make_case):
    case_id = make_case()
    ask(client_for(app, "agent"), case_id, "50")
    item = only(app, case_id=case_id)
    lead, manager = client_for(app, "lead"), client_for(app, "manager")
    assert manager.post_form(f"/compensation/{item.id}/approve", {"version": item.version}, headers=HX).status_code == 200
    stale = lead.post_form(f"/compensation/{item.id}/reject", {"version": item.version}, headers=HX)
    assert stale.status_code == 200 and "这个申请刚被修改过（当前：已批准）" in stale.get_data(as_text=True)
    assert only(app, case_id=case_id).status == "approved"


# --- the over-refund guard, rejection reasons, the requester's table (issue #13, point 8) ------------------------------

def order_with_refund(make_case, order_amount="249.00", refunded="200.00", order_no="ORD-GUARD"):
    """An order of ``order_amount`` with ``refunded`` set on another case of it; returns the case to compensate on."""
    make_case(kind="refund_only", order_no=order_no, order_amount=Decimal(order_amount), refund_amount=Decimal(refunded))
    return make_case(kind="compensation", order_no=order_no, order_amount=Decimal(order_amount))


@pytest.mark.parametrize("amount,accepted", [("39.00", True), ("39.01", False), ("38.99", True)],
                         ids=["at the order amount", "above it", "below it"])
def test_the_over_refund_guard_at_above_and_below_the_order_amount(app, make_case, amount, accepted):
    case_id = order_with_refund(make_case)  # ¥249 paid, ¥200 refunded on the order's other case
    pay(app, case_id, "10.00", status="paid")        # paid on the order: counts, ¥39 is left
    pay(app, case_id, "25.00", status="rejected")    # rejected: does not count
    pay(app, case_id, "30.00", status="pending")     # pending: does not count
    make_case(kind="refund_only", order_no="ORD-OTHER", refund_amount=Decimal("199.00"))  # another order: does not count
    agent, lead = client_for(app, "agent"), in_english(client_for(app, "lead"))
    ask(agent, case_id, amount)
    item = only(app, case_id=case_id, amount=Decimal(amount))
    assert item.status == "pending"  # over the agent's ¥20 limit
    answer = lead.post_form(f"/compensation/{item.id}/approve", {"version": item.version}, headers=HX).get_data(as_text=True)
    if accepted:
        assert "flash-success" in answer and only(app, id=item.id).status == "approved"
    else:
        assert "flash-error" in answer and only(app, id=item.id).status == "pending"
        assert (f"Approving ¥{amount} would pay back ¥249.01 on this order, ¥0.01 more than the buyer paid (¥249.00)"
                in answer)


def test_the_guard_is_a_rule_with_exact_figures(app, make_case):
    case_id = order_with_refund(make_case, refunded="200.00")
    pay(app, case_id, "0.10", status="approved")  # within the agent's limit and the order: approved at once
    with app.test_request_context():
        case = db.session.get(Case, case_id)
        item = rules.request(case, user_named("agent"), Decimal("80"), "goodwill", "alipay", "", utcnow())
        figures = rules.paid_back([item])[item.id]
        assert (figures.order_amount, figures.refunded, figures.compensated, figures.this_one) == (
            Decimal("249.00"), Decimal("200.00"), Decimal("0.10"), Decimal("80.00"))
        assert figures.total == Decimal("280.10") and figures.excess == Decimal("31.10") and figures.exceeds
        assert all(isinstance(value, Decimal) for value in figures.detail().values())
        with pytest.raises(rules.CompensationRefused):
            rules.decide(item, user_named("lead"), True, "", utcnow())
        with pytest.raises(rules.CompensationRefused):  # a confirmation without a reason is no confirmation
            rules.decide(item, user_named("lead"), True, "", utcnow(), confirm_over_order=True, over_order_reason=" ")
        with pytest.raises(rules.CompensationRefused):  # nor a reason without the confirmation
            rules.decide(item, user_named("lead"), True, "", utcnow(), over_order_reason="买家要求")
        rules.decide(item, user_named("lead"), True, "", utcnow(), confirm_over_order=True, over_order_reason="平台判罚")
        db.session.commit()
        assert db.session.get(Compensation, item.id).status == "approved"


def test_the_issue_example_is_refused_then_confirmed_with_a_reason_and_logged(app, make_case):
    """¥80 on a ¥249 order already refunded ¥249 was accepted silently; now the lead sees why and confirms it."""
    case_id = make_case(kind="return_refund", order_no="ORD-249", order_amount=Decimal("249.00"), refund_amount=Decimal("249.00"))
    ask(client_for(app, "agent"), case_id, "80")
    item = only(app, case_id=case_id)
    lead = in_english(client_for(app, "lead"))
    queue = lead.get("/compensation/").get_data(as_text=True)
    figures = dict(re.findall(r'data-figure="(\w+)">(?:<strong>)?¥([\d.]+)', queue))
    assert figures == {"paid": "249.00", "refunded": "249.00", "compensated": "0.00", "this": "80.00", "excess": "80.00"}
    assert "I confirm paying back more than the buyer paid" in queue and 'name="over_order_reason"' in queue

    silent = lead.post_form(f"/compensation/{item.id}/approve", {"version": item.version}, headers=HX)
    assert "would pay back ¥329.00 on this order, ¥80.00 more than the buyer paid" in silent.get_data(as_text=True)
    unreasoned = lead.post_form(f"/compensation/{item.id}/approve",
                                {"version": item.version, "confirm_over_order": "y", "over_order_reason": ""}, headers=HX)
    assert "flash-error" in unreasoned.get_data(as_text=True) and only(app, id=item.id).status == "pending"

    confirmed = lead.post_form(f"/compensation/{item.id}/approve", {"version": item.version, "confirm_over_order": "y",
                                                                   "over_order_reason": "平台小二判定须赔付"}, headers=HX)
    assert "Approved ¥80.00" in confirmed.get_data(as_text=True)
    assert only(app, id=item.id).status == "approved"
    [decision] = [(d, who) for action, d, who in case_events(app, case_id) if action == "compensation_decided"]
    assert decision[1] == "lead"
    assert decision[0]["over_order"] == {"paid": "249.00", "refunded": "249.00", "compensated": "0.00", "total": "329.00",
                                         "excess": "80.00", "confirmed": True, "reason": "平台小二判定须赔付"}
    page = lead.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Confirmed paying back ¥80.00 more than the buyer paid (¥329.00 of ¥249.00): 平台小二判定须赔付" in page


def test_an_auto_approval_that_would_exceed_waits_for_a_lead(app, make_case):
    case_id = make_case(order_amount=Decimal("199.00"), refund_amount=Decimal("199.00"))
    agent = in_english(client_for(app, "agent"))
    answer = ask(agent, case_id, "10").get_data(as_text=True)  # within the agent's ¥20
    assert "¥10.00 would pay back more than the buyer paid on this order: it waits for a lead." in answer
    item = only(app, case_id=case_id)
    assert item.status == "pending" and not item.auto_approved and item.decided_by_id is None
    held = [d for action, d, _ in case_events(app, case_id) if action == "compensation_held"]
    assert held == [{"compensation": item.id, "amount": "10.00", "paid": "199.00", "refunded": "199.00",
                     "compensated": "0.00", "total": "209.00", "excess": "10.00"}]
    assert f'id="approval-{item.id}"' in client_for(app, "lead").get("/compensation/").get_data(as_text=True)
    # Below the order amount, the same request is approved at once as before.
    other = make_case(order_amount=Decimal("199.00"), refund_amount=Decimal("189.00"))
    ask(agent, other, "10")
    assert only(app, case_id=other).status == "approved"


def test_a_reject_without_a_reason_is_refused(app, make_case):
    case_id = make_case()
    ask(client_for(app, "agent"), case_id, "50")
    item = only(app, case_id=case_id)
    lead = in_english(client_for(app, "lead"))
    for note in ("", "   "):
        refused = lead.post_form(f"/compensation/{item.id}/reject", {"version": item.version, "note": note}, headers=HX)
        assert "Say why you reject the request: the requester reads it." in refused.get_data(as_text=True)
        assert only(app, id=item.id).status == "pending"
    lead.post_form(f"/compensation/{item.id}/reject", {"version": item.version, "note": "照片看不出问题"}, headers=HX)
    rejected = only(app, id=item.id)
    assert rejected.status == "rejected" and rejected.decision_note == "照片看不出问题"
    with app.test_request_context():  # the rule itself refuses it, whoever calls it
        pending = rules.request(db.session.get(Case, case_id), user_named("agent"), Decimal("60"), "goodwill", "alipay", "", utcnow())
        with pytest.raises(rules.CompensationRefused):
            rules.decide(pending, user_named("manager"), False, " ", utcnow())


def test_my_requests_show_dates_and_whom_each_waits_for(app, make_case):
    case_id = make_case(order_amount=Decimal("999.00"))
    agent, lead = in_english(client_for(app, "agent")), client_for(app, "lead")
    for amount in ("10", "15", "50", "60", "70"):
        ask(agent, case_id, amount)
    ids = {str(item.amount): item.id for item in (only(app, case_id=case_id, amount=Decimal(a)) for a in ("10", "15", "50", "60", "70"))}
    agent.post_form(f"/compensation/{ids['15.00']}/paid", {"channel": "alipay", "reference": "P-1"}, headers=HX)
    lead.post_form(f"/compensation/{ids['60.00']}/forward", {"note": "请店长定"}, headers=HX)
    lead.post_form(f"/compensation/{ids['70.00']}/reject", {"note": "证据不足"}, headers=HX)
    page = agent.get("/compensation/").get_data(as_text=True)

    def cells(item_id) -> dict:
        row = re.search(rf'<tr id="my-request-{item_id}">(.*?)</tr>', page, re.S).group(1)
        return dict(re.findall(r'<td data-column="(\w+)">([^<]*)</td>', row))

    with app.app_context():
        zone = app.config["SHOP_TZ"]
        items = {item.id: item for item in db.session.scalars(sa.select(Compensation))}
    local = lambda moment: moment.astimezone(zone).strftime("%m-%d %H:%M")  # noqa: E731
    expected = {"10.00": ("Payment (you or finance)", True, False), "15.00": ("Nobody: paid", True, True),
                "50.00": ("A team lead", False, False), "60.00": ("A shop manager", False, False),
                "70.00": ("Nobody: rejected", True, False)}
    for amount, (waiting, decided, paid) in expected.items():
        item = items[ids[amount]]
        row = cells(item.id)
        assert row["waiting"] == waiting, amount
        assert row["asked"] == local(item.created_at)
        assert row["decided"] == (local(item.decided_at) if decided else "–")
        assert row["paid"] == (local(item.paid_at) if paid else "–")
