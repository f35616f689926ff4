"""The monthly score (考核) in a real Chromium: a lead types the month's figures and judgements and publishes; an agent
follows a figure to the cases behind it and appeals one case's attribution; the lead accepts and the agent's total
changes on the page. Accessibility of the month, agent and evidence pages, and the month page at laptop width."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from models import Case, ScoreAppeal, ScoreAttribution, Shop, db, utcnow
from tests.browser.conftest import axe_violations, format_violations, log_in
from tests.conftest import user_named
from tests.scoring.test_months import SHOP, add_case

LAPTOP = {"width": 1366, "height": 768}
# What the lead types (字段 id: value). With the cases below the agent's dispute rate is over the line by a hair:
# 2 upheld / (1100 orders × 7 of the shop's 11 closed cases = 700) = 0.286 %, not 0.1 below the industry's 0.35 %.
FIGURES = {
    "industry_dispute_rate": "0.35", "industry_self_completion_rate": "90", "industry_refund_only_days": "2",
    "industry_return_refund_days": "5", "shop_paid_orders": "1100", "shop_dsr_description_vs_industry": "45",
    "shop_dsr_service_vs_industry": "41", "shop_dsr_logistics_vs_industry": "50", "bonus_pool": "1600",
}
# username -> (execution points, teamwork level, attendance done), with the lead's reasons
JUDGEMENTS = {"agent": ("8", "active", "yes"), "agent2": ("6", "passive", "no"), "reviewer": ("7", "passive", "yes")}
REASONS = ("按时完成交办事项", "配合排班调整", "日报交接齐全")
APPEAL = "这单是快递丢件，平台判了店铺责任，不是我处理的问题"


def last_month(app) -> tuple[str, callable]:
    """The month before the clock's, as YYYY-MM, and a function giving a moment of that month in shop time."""
    zone = app.config["SHOP_TZ"]
    first = utcnow().astimezone(zone).replace(day=1) - timedelta(days=1)
    return first.strftime("%Y-%m"), lambda day, hour=12: datetime(first.year, first.month, day, hour, tzinfo=zone)


def month_of_cases(app) -> tuple[str, int, int]:
    """Last month's closed cases at the Tmall shop (the worked example of tests/scoring/test_months.py, with a second
    dispute ruled against the shop); returns the month, the shop and the dispute the agent will appeal."""
    month, at = last_month(app)
    with app.app_context():
        # agent: seven cases closed
        lost_parcel = add_case(app, "agent", "dispute", received=at(2), closed=at(6), outcome="upheld", intervened=True)
        add_case(app, "agent", "dispute", received=at(3), closed=at(8), outcome="upheld", intervened=True)
        add_case(app, "agent", "dispute", received=at(4), closed=at(9), outcome="not_upheld", intervened=True)
        add_case(app, "agent", "return_refund", received=at(10), refunded=at(14), closed=at(15))  # 4 days to the refund
        add_case(app, "agent", "return_refund", received=at(11), closed=at(12), outcome="retained")
        add_case(app, "agent", "complaint", received=at(12), closed=at(13), outcome="not_upheld")
        add_case(app, "agent", "refund_only", received=at(20), refunded=at(21), closed=at(21, 18))  # 1 day
        # agent2: four cases closed
        add_case(app, "agent2", "refund_only", received=at(5), refunded=at(8), closed=at(9), intervened=True)  # 3 days
        add_case(app, "agent2", "refund_only", received=at(6), refunded=at(7), closed=at(7, 20))  # 1 day
        add_case(app, "agent2", "inquiry", received=at(7), closed=at(7, 15))
        add_case(app, "agent2", "inquiry", received=at(8), closed=at(8, 15))
        shop_id = db.session.scalar(sa.select(Shop.id).where(Shop.name == SHOP))
        db.session.commit()
    return month, shop_id, lost_parcel


def log_out(page) -> None:
    page.locator("header form[action$='/auth/logout'] button").click()
    page.wait_for_url(re.compile(r"/auth/login"))


def submit(page, form, flash: str | None = None) -> None:
    """Press a form's button and wait for the page that answers it (each answer redirects back to the month)."""
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    if flash:
        expect(page.locator("#flash")).to_contain_text(flash)
    expect(page.locator("#flash .flash-error")).to_have_count(0)


def score_row(page, name: str):
    return page.locator(".score-table tbody tr").filter(has=page.locator("th", has_text=name))


def expect_scores(page, shown: dict) -> None:
    """Each agent's total and bonus as the scores table shows them: {name: (total, bonus)}."""
    for name, (total, bonus) in shown.items():
        expect(score_row(page, name).locator("td strong")).to_have_text(total)
        expect(score_row(page, name).locator("td").last).to_have_text(f"¥{bonus}")


def assert_no_axe_violations(page, where: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"{where}: {format_violations(violations)}"


def assert_fits(page, where: str) -> None:
    """No horizontal page scroll at laptop width; wide tables scroll inside their .table-wrap."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= LAPTOP["width"], f"{where} is {width}px wide"


@pytest.fixture
def scored_month(app):
    return month_of_cases(app)


def test_a_lead_publishes_an_agent_appeals_a_case_and_the_accepted_appeal_changes_the_total(app, scored_month, page):
    month, shop_id, lost_parcel = scored_month
    page.set_viewport_size(LAPTOP)
    month_page = f"/scoring/?shop={shop_id}&month={month}"

    # The lead: the month's figures typed and saved
    log_in(page, "lead")
    page.goto(month_page)
    expect(page.locator("h1")).to_contain_text(month)
    values = page.locator(f"form[action$='/scoring/{shop_id}/{month}/values']")
    for field_id, value in FIGURES.items():
        values.locator(f"#{field_id}").fill(value)
    submit(page, values)
    for field_id, value in FIGURES.items():
        assert page.locator(f"#{field_id}").input_value().removesuffix(".00") == value, field_id

    # … every scored agent judged, with a reason each (three parts × three agents, nine forms)
    judged = page.locator("form.judge-form")
    expect(judged).to_have_count(len(JUDGEMENTS) * 3)
    with app.app_context():
        ids = {username: user_named(username).id for username in (*JUDGEMENTS, "lead")}
    for username, choices in JUDGEMENTS.items():
        for part, value, reason in zip(("execution", "teamwork", "attendance"), choices, REASONS, strict=True):
            field = page.locator(f"#judge-{ids[username]}-{part}")
            if part == "execution":
                field.fill(value)
            else:
                field.select_option(value)
            page.locator(f"#judge-{ids[username]}-{part}-why").fill(reason)
            submit(page, page.locator("form.judge-form").filter(has=field))
            expect(page.locator(f"#judge-{ids[username]}-{part}-why")).to_have_value(reason)
    assert_fits(page, "the draft month with its judgement forms")
    assert_no_axe_violations(page, "the draft month")

    # Before the appeal, the agent (worked out as the rules do):
    #   dispute rate 2 upheld / 700 orders = 0.286 % > 0.35 − 0.1 → 0;  self-completion 2 of 2 refunds on their own = 100 % > 90 → 10;
    #   completion time: refund only 1 day < 2 → 2, return and refund 4 days < 5 → 3;  DSR lowest 41 % ≥ 40 → 20;
    #   retained 1 of 2 returns = 50 % > 20 → 15;  no reviews → 0;  1 complaint, none upheld → 5;
    #   judgement 8 + active 5 + attendance 5.  Total 0 + 10 + 5 + 20 + 15 + 0 + 8 + 5 + 5 + 5 = 73.
    # agent2: 0 upheld → 15; 1 of 2 refunds on its own = 50 % → 0; refund only (3 + 1) / 2 = 2 days, not below 2 → 0;
    #   DSR 20; no returns → 0; no complaints → 5; 6 + passive 2 + not done 0.  Total 48.
    # reviewer: nothing closed → 0; DSR 20; no complaints 5; 7 + passive 2 + done 5.  Total 39.
    # The pool of ¥1,600 over 73 + 48 + 39 = 160: 730.00, 480.00, 390.00.
    submit(page, page.locator(f"form[action$='/scoring/{shop_id}/{month}/publish']"))
    expect(page.locator(".badge.state-published")).to_have_count(1)
    expect(page.locator("form.judge-form")).to_have_count(0)
    expect_scores(page, {"agent name": ("73", "730.00"), "agent2 name": ("48", "480.00"), "reviewer name": ("39", "390.00")})
    log_out(page)

    # The agent: only their own row, then the figure's cases, and an appeal of one of them
    log_in(page, "agent")
    page.goto(month_page)
    expect(page.locator(".score-table tbody tr")).to_have_count(1)
    expect(score_row(page, "agent name").locator("td strong")).to_have_text("73")
    score_row(page, "agent name").locator("th a").click()
    page.wait_for_url(f"**/scoring/{shop_id}/{month}/agent/{ids['agent']}")
    expect(page.locator(".status-line")).to_contain_text("73")
    assert_no_axe_violations(page, "the agent's page")
    page.locator("#part-dispute_rate a[href$='/dispute_rate']").click()
    page.wait_for_url(f"**/scoring/{shop_id}/{month}/agent/{ids['agent']}/dispute_rate")
    with app.app_context():
        disputes = db.session.scalars(sa.select(Case.id).where(
            Case.kind == "dispute", Case.assignee_id == ids["agent"]).order_by(Case.closed_at)).all()
    rows = page.locator(".evidence-table tbody tr")
    expect(rows).to_have_count(3)  # exactly the three disputes the agent closed last month
    assert [row.get_attribute("id") for row in rows.all()] == [f"case-{case_id}" for case_id in disputes]
    expect(page.locator("form.appeal-case-form")).to_have_count(3)
    assert_no_axe_violations(page, "the evidence page")
    appeal = page.locator(f"#case-{lost_parcel} form.appeal-case-form")
    appeal.locator("input[name=comment]").fill(APPEAL)
    submit(page, appeal)
    page.wait_for_url(f"**/scoring/{shop_id}/{month}/agent/{ids['agent']}")
    expect(page.locator(".appeals .appeal-open")).to_contain_text(APPEAL)
    log_out(page)

    # The lead: the open appeal, accepted, the case moved to nobody
    log_in(page, "lead")
    page.goto(month_page)
    open_appeal = page.locator(".appeals li.appeal-open")
    expect(open_appeal).to_have_count(1)
    expect(open_appeal).to_contain_text(APPEAL)
    expect(open_appeal.locator(f"a[href$='/cases/{lost_parcel}']")).to_have_count(1)
    expect(score_row(page, "agent name").locator("td strong")).to_have_text("73")
    assert_no_axe_violations(page, "the published month with an open appeal")
    assert_fits(page, "the published month")
    decide = open_appeal.locator("form.decide-form")
    decide.locator("select[name=decision]").select_option("accept")
    decide.locator("select[name=move_to]").select_option("0")  # (nobody)
    decide.locator("textarea[name=answer]").fill("核实属实：物流丢件，这单不计入任何人的考核")
    submit(page, decide)

    # After: the dispute counts for nobody. The agent has 1 upheld of 6 closed cases, 1100 × 6/11 = 600 orders:
    # 0.167 % ≤ 0.25 → 15, so 73 + 15 = 88; everyone else as published. The pool over 88 + 48 + 39 = 175:
    # 804.571…, 438.857…, 356.571… → 804.57, 438.85, 356.57 and the fen left over to the largest remainder: 438.86.
    expect(page.locator(".appeals li.appeal-accepted")).to_have_count(1)
    expect_scores(page, {"agent name": ("88", "804.57"), "agent2 name": ("48", "438.86"), "reviewer name": ("39", "356.57")})
    log_out(page)
    log_in(page, "agent")
    page.goto(f"/scoring/{shop_id}/{month}/agent/{ids['agent']}")
    expect(page.locator(".status-line")).to_contain_text("88")
    expect(page.locator(".appeals .appeal-accepted")).to_contain_text("物流丢件")

    with app.app_context():
        (item,) = db.session.scalars(sa.select(ScoreAppeal)).all()
        assert (item.state, item.case_id, item.answered_by_id) == ("accepted", lost_parcel, ids["lead"])
        moved = db.session.scalar(sa.select(ScoreAttribution))
        assert (moved.case_id, moved.from_user_id, moved.to_user_id) == (lost_parcel, ids["agent"], None)
