"""A shop's month of scores from the data: the worked example, publishing and freezing, appeals, rule set
versions, the month's figures typed or imported, and the pages as their users meet them."""

from __future__ import annotations

import hashlib
import itertools
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from models import (
    Case,
    Review,
    ReviewContact,
    RuleSet,
    ScoreAttribution,
    ScoreMonth,
    Shop,
    TimelineEvent,
    db,
    utcnow,
)
from scoring import figures, months, rules
from tests.cases.test_demo_and_queries import counting_queries
from tests.conftest import user_named

MONTH = "2026-10"
SHOP = "测试天猫店"
HX = {"HX-Request": "true"}  # refusals below are matched in Chinese, the app's language
SERIAL = itertools.count(1)  # order numbers unique within a test database


def local(app, day: int, hour: int = 12, month: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=app.config["SHOP_TZ"])


def add_case(app, username: str | None, kind: str, *, received: datetime, closed: datetime | None = None,
             refunded: datetime | None = None, outcome: str | None = None, intervened: bool = False,
             category: str = "damaged_on_arrival") -> int:
    shop = db.session.scalar(sa.select(Shop).where(Shop.name == SHOP))
    user = user_named(username) if username else None
    case = Case(shop=shop, platform=shop.platform, order_no=f"W{next(SERIAL):06d}", buyer_nick="买家", kind=kind,
                category=category, state="closed" if closed else "in_progress", received_at=received, closed_at=closed,
                refunded_at=refunded, outcome=outcome, platform_intervened=intervened, assignee=user,
                closed_assignee_id=user.id if user and closed else None, pauses=[], order_amount=Decimal("100.00"))
    db.session.add(case)
    db.session.flush()
    return case.id


def add_review(app, username: str, list_day: int, *, handled: datetime | None, rating: int = 1,
               contacted: bool = False, followed_up: bool = False) -> int:
    shop = db.session.scalar(sa.select(Shop).where(Shop.name == SHOP))
    number = next(SERIAL)
    written = local(app, list_day - 1, 9)
    review = Review(platform="tmall", shop=shop, rating=rating, text=f"差评{number}", reviewed_at=written,
                    text_digest=hashlib.sha256(f"w{number}".encode()).hexdigest(), order_no=f"RV{number:05d}",
                    list_date=written.date() + timedelta(days=1), assignee=user_named(username),
                    state="handled" if handled else "todo", handled_at=handled)
    db.session.add(review)
    db.session.flush()
    if contacted:
        contact = ReviewContact(review_id=review.id, user_id=user_named(username).id, channel="phone", outcome="reached",
                                contacted_at=local(app, list_day, 11))
        db.session.add(contact)
        db.session.flush()
        if followed_up:
            review.follow_up_at, review.follow_up_text, review.follow_up_contact_id = local(app, list_day + 2), "好了", contact.id
    return review.id


def worked_example(app) -> ScoreMonth:
    """October 2026 at the Tmall shop, as in the test below; returns its month with figures and judgements."""
    r = lambda day, hour=12: local(app, day, hour)  # noqa: E731
    # agent: six cases closed in October
    add_case(app, "agent", "dispute", received=r(2), closed=r(6), outcome="upheld", intervened=True)
    add_case(app, "agent", "dispute", received=r(3), closed=r(8), outcome="not_upheld", intervened=True)
    add_case(app, "agent", "return_refund", received=r(10), refunded=r(14), closed=r(15))  # 4 days to the refund
    add_case(app, "agent", "return_refund", received=r(11), closed=r(12), outcome="retained")
    add_case(app, "agent", "complaint", received=r(12), closed=r(13), outcome="not_upheld")
    add_case(app, "agent", "refund_only", received=r(20), refunded=r(21), closed=r(21, 18))  # 1 day
    # agent2: four cases closed in October
    add_case(app, "agent2", "refund_only", received=r(5), refunded=r(8), closed=r(9), intervened=True)  # 3 days
    add_case(app, "agent2", "refund_only", received=r(6), refunded=r(7), closed=r(7, 20))  # 1 day
    add_case(app, "agent2", "inquiry", received=r(7), closed=r(7, 15))
    add_case(app, "agent2", "inquiry", received=r(8), closed=r(8, 15))
    # not October: closed in September, or still open
    add_case(app, "agent", "dispute", received=local(app, 20, month=9), closed=local(app, 25, month=9), outcome="upheld")
    add_case(app, "agent2", "return_refund", received=r(25))
    # agent's reviews: four on October lists, three handled on their day; two contacted, one followed up
    add_review(app, "agent", 10, handled=r(10, 15), contacted=True, followed_up=True)
    add_review(app, "agent", 10, handled=r(10, 16), contacted=True)
    add_review(app, "agent", 12, handled=r(12, 17), rating=3)
    add_review(app, "agent", 14, handled=r(15, 10))
    shop = db.session.scalar(sa.select(Shop).where(Shop.name == SHOP))
    score_month = months.month_for(shop, MONTH, create=True)
    lead = user_named("lead")
    months.save_values(score_month, {"dispute_rate": "0.5", "self_completion_rate": "90", "refund_only_days": "2",
                                     "return_refund_days": "5"},
                       {"paid_orders": "1000", "dsr_description_vs_industry": "45", "dsr_service_vs_industry": "41",
                        "dsr_logistics_vs_industry": "50"}, Decimal("1660.00"), lead)
    rule_set = months.in_force(shop, months.month_end(score_month, app.config["SHOP_TZ"]))[1]
    now = utcnow()
    for username, execution, teamwork, attendance in (("agent", "8", "active", "yes"), ("agent2", "6", "passive", "no"),
                                                      ("reviewer", "0", "passive", "no")):
        user = user_named(username)
        months.save_judgement(score_month, rule_set, user, "execution", execution, "按时完成", lead, now)
        months.save_judgement(score_month, rule_set, user, "teamwork", teamwork, "配合情况", lead, now)
        months.save_judgement(score_month, rule_set, user, "attendance", attendance, "日报交接", lead, now)
    db.session.commit()
    return score_month


def points(table, username: str) -> dict:
    row = next(row for row in table.agents if row["username"] == username)
    return {key: Decimal(part["points"]) for key, part in row["parts"].items()} | {"total": Decimal(row["total"]),
                                                                                  "rank": row["rank"], "bonus": row["bonus"]}


def test_the_worked_example_scores_as_computed_by_hand(app):
    with app.test_request_context():
        score_month = worked_example(app)
        table = months.compute(score_month, app.config["SHOP_TZ"], utcnow())
        agent = points(table, "agent")
        # Dispute rate: 10 cases closed in the shop, 6 by agent: 1000 × 6/10 = 600 orders; 1 upheld / 600 = 0.167 %;
        # 0.5 − 0.167 ≥ 0.1 → 15.  Self-completion: 2 refunds, neither intervened: 100 % > 90 → 10.
        # Completion time: refund only 1 day < 2 → 2; return and refund 4 days < 5 → 3.  DSR: lowest 41 % ≥ 40 → 20.
        # Retained: 1 of 2 closed returns = 50 % > 20 → 15.  Reviews: 3 of 4 on their day = 75 % < 80 → 0;
        # 1 of 2 contacted negative followed up = 50 % ≥ 50 → 3.  Complaints: 1, none upheld → 5.
        # Judgement: 8 + active 5 + done 5.  Total 15+10+5+20+15+3+8+5+5+5 = 91.
        assert agent == {"dispute_rate": 15, "self_completion_rate": 10, "completion_time": 5, "dsr": 20,
                         "retained_returns": 15, "review_management": 3, "execution": 8, "complaints": 5,
                         "teamwork": 5, "attendance": 5, "total": 91, "rank": 1, "bonus": "910.00"}
        # agent2: 0 upheld / 400 orders = 0 % → 15.  Refunds: 1 of 2 without the platform = 50 % → 0.  Refund only
        # (3 + 1)/2 = 2 days, not below 2 → 0; no return refunds → 0.  DSR 20.  No returns closed → 0.  No reviews → 0.
        # Judgement 6 + passive 2 + not done 0.  No complaints → 5.  Total 15+0+0+20+0+0+6+5+2+0 = 48.
        assert points(table, "agent2") == {"dispute_rate": 15, "self_completion_rate": 0, "completion_time": 0, "dsr": 20,
                                           "retained_returns": 0, "review_management": 0, "execution": 6, "complaints": 5,
                                           "teamwork": 2, "attendance": 0, "total": 48, "rank": 2, "bonus": "480.00"}
        # reviewer: nothing closed (no dispute figure) → 0; DSR 20; no complaints 5; judgement 0 + 2 + 0 → 27.
        reviewer = points(table, "reviewer")
        assert (reviewer["total"], reviewer["dsr"], reviewer["dispute_rate"], reviewer["bonus"]) == (27, 20, 0, "270.00")
        # The pool: 1660 × 91/166 = 910, 1660 × 48/166 = 480, 1660 × 27/166 = 270.
        assert sum(Decimal(row["bonus"]) for row in table.agents) == Decimal("1660.00")
        # The figure behind the dispute rate is said in words, and warehouse/presales agents get no row.
        row = table.agent(user_named("agent").id)
        assert row["parts"]["dispute_rate"]["basis"] == {"upheld": 1, "disputes": 2, "closed": 6, "shop_closed": 10,
                                                         "orders": "600.00"}
        assert {row["username"] for row in table.agents} == {"agent", "agent2", "reviewer"}


def test_bonus_split_with_a_negative_total_and_the_rank_ties(app):
    with app.test_request_context():
        rows = [{"user_id": 1, "name": "甲", "total": "50"}, {"user_id": 2, "name": "乙", "total": "50"},
                {"user_id": 3, "name": "丙", "total": "-2"}]
        months._rank_and_split(rows, Decimal("100.01"))
        # 50/100 of 100.01 each: 50.005; the left-over fen goes to the smaller key on a tie
        assert {row["user_id"]: (row["rank"], row["bonus"]) for row in rows} == {1: (1, "50.01"), 2: (1, "50.00"),
                                                                                3: (3, "0.00")}


def test_a_published_month_does_not_change_when_a_case_behind_it_changes(app):
    with app.test_request_context():
        score_month = worked_example(app)
        zone = app.config["SHOP_TZ"]
        months.publish(score_month, user_named("lead"), utcnow(), zone)
        db.session.commit()
        before = months.table_of(score_month, zone, utcnow()).data
        dispute = db.session.scalar(sa.select(Case).where(Case.kind == "dispute", Case.outcome == "not_upheld"))
        dispute.outcome = "upheld"  # a second dispute against the shop, found later
        db.session.commit()
        assert months.table_of(score_month, zone, utcnow()).data == before
        assert points(months.compute(score_month, zone, utcnow()), "agent")["dispute_rate"] == 15  # 2/600 = 0.333 %
        dispute.outcome = None
        add_case(app, "agent", "dispute", received=local(app, 1), closed=local(app, 2), outcome="upheld")
        add_case(app, "agent", "dispute", received=local(app, 1), closed=local(app, 2), outcome="upheld")
        db.session.commit()
        live = points(months.compute(score_month, zone, utcnow()), "agent")["dispute_rate"]
        assert live == 0  # 3 upheld of 1000 × 8/12 = 666.67 orders: 0.45 % is not 0.1 below 0.5
        assert points(months.table_of(score_month, zone, utcnow()), "agent")["dispute_rate"] == 15


def test_publishing_needs_every_judgement_and_a_finished_month(app):
    with app.test_request_context():
        zone = app.config["SHOP_TZ"]
        shop = db.session.scalar(sa.select(Shop).where(Shop.name == SHOP))
        this_month = utcnow().astimezone(zone).strftime("%Y-%m")
        with pytest.raises(months.ScoringRefused, match="月份结束后"):
            months.publish(months.month_for(shop, this_month, create=True), user_named("lead"), utcnow(), zone)
        with pytest.raises(months.ScoringRefused, match="组长评定"):
            months.publish(months.month_for(shop, MONTH, create=True), user_named("lead"), utcnow(), zone)
        with pytest.raises(months.ScoringRefused, match="简短理由"):
            months.save_judgement(months.month_for(shop, MONTH), rules.DEFAULT_TMALL_RULES, user_named("agent"),
                                  "execution", "8", "  ", user_named("lead"), utcnow())
        with pytest.raises(months.ScoringRefused, match="0 至 10"):
            months.save_judgement(months.month_for(shop, MONTH), rules.DEFAULT_TMALL_RULES, user_named("agent"),
                                  "execution", "11", "太多", user_named("lead"), utcnow())


def test_an_accepted_attribution_appeal_recomputes_and_refreezes_only_that_agent(app):
    with app.test_request_context():
        zone = app.config["SHOP_TZ"]
        score_month = worked_example(app)
        months.publish(score_month, user_named("lead"), utcnow(), zone)
        db.session.commit()
        agent, agent2 = user_named("agent"), user_named("agent2")
        upheld = db.session.scalar(sa.select(Case.id).where(Case.kind == "dispute", Case.outcome == "upheld",
                                                            Case.closed_at >= local(app, 1)))
        with pytest.raises(months.ScoringRefused, match="不在你这一项"):
            months.appeal(score_month, agent2, "dispute_rate", upheld, "不是我的", utcnow())
        with pytest.raises(months.ScoringRefused, match="申诉理由"):
            months.appeal(score_month, agent, "dispute_rate", upheld, " ", utcnow())
        # the retained return counts for agent: appeal it and the rate drops; the lead moves it to agent2
        retained = db.session.scalar(sa.select(Case.id).where(Case.outcome == "retained"))
        item = months.appeal(score_month, agent, "retained_returns", retained, "这单是仓库拦截的", utcnow())
        db.session.commit()
        with pytest.raises(months.ScoringRefused, match="已有待处理"):
            months.appeal(score_month, agent, "retained_returns", retained, "再来一次", utcnow())
        frozen_reviewer = points(months.table_of(score_month, zone, utcnow()), "reviewer")
        changed = months.accept(item, score_month, "同意，计入agent2", user_named("lead"), utcnow(), zone, move_to=agent2)
        db.session.commit()
        table = months.table_of(score_month, zone, utcnow())
        # agent: retained 0 of 1 → 0 (−15): 91 → 76; agent2: 1 of 1 = 100 % → 15: 48 → 63
        assert changed == {agent.id: ["91", "76"], agent2.id: ["48", "63"]}
        assert (points(table, "agent")["total"], points(table, "agent2")["total"]) == (76, 63)
        assert points(table, "reviewer")["total"] == frozen_reviewer["total"]
        assert sum(Decimal(row["bonus"]) for row in table.agents) == Decimal("1660.00")
        assert db.session.scalar(sa.select(ScoreAttribution.to_user_id)) == agent2.id
        assert retained in table.data["evidence"][str(agent2.id)]["retained_returns"]
        assert item.state == "accepted"
        with pytest.raises(months.ScoringRefused, match="已答复"):
            months.reject(item, score_month, "不", user_named("lead"), utcnow())


def test_escalated_appeals_wait_for_the_manager_and_the_window_closes(app):
    with app.test_request_context():
        zone = app.config["SHOP_TZ"]
        score_month = worked_example(app)
        months.publish(score_month, user_named("lead"), utcnow(), zone)
        item = months.appeal(score_month, user_named("agent2"), "teamwork", None, "我很积极", utcnow())
        months.escalate(item, score_month, "请经理定", user_named("lead"), utcnow())
        with pytest.raises(months.ScoringRefused, match="店长"):
            months.reject(item, score_month, "不", user_named("lead"), utcnow())
        changed = months.accept(item, score_month, "改为积极", user_named("manager"), utcnow(), zone, new_value="active")
        assert changed[user_named("agent2").id] == ["48", "51"]
        assert months.appeal_counts(score_month)["accepted"] == 1
        with pytest.raises(months.ScoringRefused, match="申诉期"):
            months.appeal(score_month, user_named("agent"), "execution", None, "太晚", utcnow() + timedelta(days=4))


def test_month_figures_take_a_fixed_number_of_queries(app):
    with app.test_request_context():
        score_month = worked_example(app)
        zone = app.config["SHOP_TZ"]
        db.session.expire_all()
        with counting_queries(app) as few:
            months.compute(score_month, zone, utcnow())
        for _ in range(40):
            add_case(app, "agent2", "dispute", received=local(app, 3), closed=local(app, 4), outcome="not_upheld")
            add_case(app, "reviewer", "refund_only", received=local(app, 3), refunded=local(app, 5), closed=local(app, 6))
            add_review(app, "reviewer", 11, handled=local(app, 11, 13), contacted=True)
        db.session.commit()
        db.session.expire_all()
        with counting_queries(app) as many:
            months.compute(score_month, zone, utcnow())
        assert len(many) == len(few)


def test_rule_set_versions_and_the_one_in_force(app):
    with app.test_request_context():
        shop = db.session.scalar(sa.select(Shop).where(Shop.name == "测试京东店"))
        row, rule_set = months.in_force(shop, utcnow())
        assert row is None and rule_set["scope"] == "jd_pop" and rule_set["based_on"] == "tmall"
        assert [part["weight"] for part in rule_set["parts"]] == [part["weight"] for part in rules.DEFAULT_TMALL_RULES["parts"]]
        edited, errors = rules.with_edits(rule_set, {field.name: field.value for field in rules.editable_fields(rule_set)}
                                          | {"dispute_rate.weight": "20", "dispute_rate.points": "20"})
        assert not errors
        first = months.save_rule_set("jd_pop", edited, "京东纠纷率更重要", user_named("lead"), utcnow(), based_on=0)
        with pytest.raises(months.ScoringRefused, match="编辑期间"):
            months.save_rule_set("jd_pop", edited, "另一个人", user_named("manager"), utcnow(), based_on=0)
        db.session.commit()
        assert months.in_force(shop, utcnow() + timedelta(seconds=1))[0].id == first.id
        assert months.in_force(shop, utcnow() - timedelta(days=1))[0] is None  # last month keeps the defaults
        shop_version = months.save_rule_set(f"shop:{shop.id}", edited, "本店", user_named("lead"), utcnow(), based_on=0)
        db.session.commit()
        assert months.in_force(shop, utcnow() + timedelta(seconds=1))[0].id == shop_version.id
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TimelineEvent)
                                 .where(TimelineEvent.action == "rules_saved")) == 2


# --- the pages ---------------------------------------------------------------------------------------------

def month_url(app, path: str = "") -> str:
    with app.app_context():
        shop = db.session.scalar(sa.select(Shop).where(Shop.name == SHOP))
    return f"/scoring/{shop.id}/{MONTH}{path}"


def test_the_lead_enters_figures_and_judgements_and_publishes_through_the_page(app, login_as):
    client = login_as("lead")
    with app.test_request_context():
        worked_example(app)
        shop_id = db.session.scalar(sa.select(Shop.id).where(Shop.name == SHOP))
    page = client.get(f"/scoring/?shop={shop_id}&month={MONTH}").get_data(as_text=True)
    assert "agent name" in page and "91" in page and "¥910.00" in page
    response = client.post_form(month_url(app, "/values"), {"industry_dispute_rate": "abc", "version": "1"}, headers=HX)
    assert response.status_code == 400
    with app.app_context():
        version = db.session.scalar(sa.select(ScoreMonth.version))
    response = client.post_form(month_url(app, "/values"), {"industry_dispute_rate": "0.2", "shop_paid_orders": "1000",
                                                            "industry_self_completion_rate": "90", "version": str(version)})
    assert response.status_code == 302
    with app.app_context():
        stored = db.session.scalar(sa.select(ScoreMonth))
        assert stored.industry == {"dispute_rate": "0.2", "self_completion_rate": "90"}
    stale = client.post_form(month_url(app, "/values"), {"industry_dispute_rate": "0.3", "version": str(version)}, headers=HX)
    assert stale.status_code == 409
    response = client.post_form(month_url(app, "/judgement"), {"user_id": "1", "part": "execution", "value": "8",
                                                               "justification": ""}, headers=HX)
    assert response.status_code == 400
    assert client.post_form(month_url(app, "/publish"), {}).status_code == 302
    page = client.get(f"/scoring/?shop={shop_id}&month={MONTH}").get_data(as_text=True)
    assert "已发布" in page or "Published" in page


def test_agents_see_only_their_own_score_and_evidence(app, login_as):
    with app.test_request_context():
        score_month = worked_example(app)
        months.publish(score_month, user_named("lead"), utcnow(), app.config["SHOP_TZ"])
        db.session.commit()
        agent_id, agent2_id, shop_id = user_named("agent").id, user_named("agent2").id, score_month.shop_id
    client = login_as("agent2")
    page = client.get(f"/scoring/?shop={shop_id}&month={MONTH}").get_data(as_text=True)
    assert "agent2 name" in page and ">agent name<" not in page
    assert client.get(month_url(app, f"/agent/{agent_id}")).status_code == 403
    assert client.get(month_url(app, f"/agent/{agent_id}/dispute_rate")).status_code == 403
    own = client.get(month_url(app, f"/agent/{agent2_id}/self_completion_rate")).get_data(as_text=True)
    assert own.count('class="appeal-case-form"') == 2  # the two refunds behind the figure, each with its appeal
    assert client.post_form(month_url(app, "/acknowledge"), {}).status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(TimelineEvent.action).where(TimelineEvent.action == "acknowledged"))


def test_values_import_is_all_or_nothing_with_row_messages(app, login_as):
    client = login_as("lead")
    bad = "店铺,月份,行业纠纷率,支付订单数\n测试天猫店,2026-10,0.4,1000\n不存在的店,2026-13,abc,\n".encode("gbk")
    response = client.post(month_url(app, "/values/import"), data={"file": (__import__("io").BytesIO(bad), "v.csv"),
                                                                   "csrf_token": client.csrf_token()},
                           content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "不存在的店" in page and "2026-10" in page and "abc" not in page.split("<main")[0]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ScoreMonth)) == 0
    good = "店铺,月份,行业纠纷率,支付订单数,服务态度高于同行\n测试天猫店,2026-10,0.4,1000,35.5\n测试京东店,2026-10,0.3,500,\n"
    response = client.post(month_url(app, "/values/import"),
                           data={"file": (__import__("io").BytesIO(good.encode()), "v.csv"), "csrf_token": client.csrf_token()},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    with app.app_context():
        stored = {row.shop.name: row for row in db.session.scalars(sa.select(ScoreMonth))}
        assert stored[SHOP].industry == {"dispute_rate": "0.4"}
        assert stored[SHOP].shop_figures == {"paid_orders": "1000", "dsr_service_vs_industry": "35.5"}
        assert stored["测试京东店"].shop_figures == {"paid_orders": "500"}


def test_the_rules_page_saves_a_version_and_refuses_a_bad_one(app, login_as, auth):
    client = login_as("lead")
    assert client.get("/scoring/rules?scope=tmall").status_code == 200
    with app.app_context():
        form = {field.name: field.value for field in rules.editable_fields(rules.DEFAULT_TMALL_RULES)}
    bad = client.post_form("/scoring/rules?scope=tmall", {**form, "dsr.tiers.1.percent": "50", "note": "改", "based_on": "0"})
    assert bad.status_code == 400 and "tiers" in bad.get_data(as_text=True)
    good = client.post_form("/scoring/rules?scope=tmall", {**form, "execution.weight": "12", "execution.max_points": "12",
                                                           "note": "执行力加权", "based_on": "0"})
    assert good.status_code == 302
    with app.app_context():
        saved = db.session.scalar(sa.select(RuleSet))
        assert saved.number == 1 and saved.rules["parts"][6]["weight"] == 12
    auth.logout()
    assert login_as("agent").get("/scoring/rules").status_code == 403


def test_closing_records_the_outcome_and_whom_the_case_counts_for(app, make_case, login_as):
    case_id = make_case(kind="complaint", assignee="agent")
    client = login_as("agent")
    with app.app_context():
        case = db.session.get(Case, case_id)
        version = case.version
    client.post_form(f"/cases/{case_id}/state", {"target": "in_progress", "version": str(version)})
    with app.app_context():
        version = db.session.get(Case, case_id).version
    wrong = client.post_form(f"/cases/{case_id}/state", {"target": "resolved", "version": str(version)})
    with app.app_context():
        version = db.session.get(Case, case_id).version
    refused = client.post_form(f"/cases/{case_id}/state", {"target": "closed", "responsibility": "warehouse", "cause": "错发",
                                                           "outcome": "retained", "version": str(version)})
    assert refused.status_code in (302, 400, 409) and wrong.status_code in (200, 302)
    with app.app_context():
        assert db.session.get(Case, case_id).state != "closed"
    client.post_form(f"/cases/{case_id}/state", {"target": "closed", "responsibility": "warehouse", "cause": "错发",
                                                 "outcome": "upheld", "version": str(version)})
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert (case.state, case.outcome, case.closed_assignee_id) == ("closed", "upheld", user_named("agent").id)


def test_waiting_for_the_platform_marks_the_case_as_intervened(app, make_case, login_as):
    case_id = make_case(kind="refund_only", assignee="agent")
    client = login_as("agent")
    with app.app_context():
        version = db.session.get(Case, case_id).version
    client.post_form(f"/cases/{case_id}/state", {"target": "waiting", "waiting_for": "platform", "version": str(version)})
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.platform_intervened
        version = case.version
    client.post_form(f"/cases/{case_id}/state", {"target": "in_progress", "version": str(version)})
    with app.app_context():
        assert db.session.get(Case, case_id).platform_intervened  # once in, it stays counted


def test_figures_read_the_dsr_and_skip_what_is_missing(app):
    with app.test_request_context():
        data = figures.MonthData(agents={}, shop_closed=0, paid_orders=None, industry={},
                                 shop_figures={"dsr_service_vs_industry": "41"})
        values, industry, basis = figures.part_inputs(data, 1)
        assert values["dsr"] == {"service": Decimal("41")} and "dispute_rate" not in values
        score = rules.score_month(rules.DEFAULT_TMALL_RULES, values, industry, {})
        assert score.parts["dsr"].points == 0 and "描述相符" in score.parts["dsr"].reason
