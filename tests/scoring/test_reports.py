"""The after-sales report: a hand-built week's counts, cost per responsible party and Pareto lists; a fixed
number of queries; the workbook; buyers' and shops' words kept inert; the chart geometry; and the monthly
send through a real SMTP server and a fake DingTalk robot, on the 1st only and once.

The page tests need the routes of /tmp/scoring_routes_reports.py pasted into blueprints/scoring.py: they
skip (saying so) until then."""

from __future__ import annotations

import hashlib
import io
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa
from flask import render_template

import charts
import scheduler
from cases.labels import CASE_CATEGORIES, CASE_KINDS, RESPONSIBILITIES
from models import PLATFORMS, Case, Compensation, JobRun, Review, Shop, db, get_setting, set_setting
from scoring import reports
from scoring.jobs import MONTHLY_REPORT
from tests.cases.test_demo_and_queries import counting_queries
from tests.conftest import DINGTALK_SECRET, LOCALHOST, dingtalk_url, user_named

ZONE = ZoneInfo("Asia/Shanghai")
MONDAY, SUNDAY = date(2026, 11, 23), date(2026, 11, 29)
HOSTILE = "<script>alert(1)</script>"
SENDER = "客服中心 <service@shop.example>"
MANAGER = "店长 <manager@shop.example>"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


def day(number: int, month: int = 11) -> date:
    return date(2026, month, number)


@pytest.fixture
def app(make_app, mailbox):
    """Every app here hands its mail to the local aiosmtpd server."""
    _handler, port = mailbox
    return make_app(SMTP_HOST=LOCALHOST, SMTP_PORT=port, SMTP_SENDER=SENDER)


serial = iter(range(1, 100_000))


def add_case(received: datetime, shop_name: str = "测试天猫店", kind: str = "return_refund",
             category: str = "damaged_on_arrival", **values) -> Case:
    shop = db.session.scalar(sa.select(Shop).where(Shop.name == shop_name))
    case = Case(shop=shop, platform=shop.platform, order_no=f"R{next(serial):08d}", buyer_nick="买家", kind=kind,
                category=category, received_at=received, **values)
    db.session.add(case)
    db.session.flush()
    return case


def add_compensation(case: Case, amount: str, status: str, created: datetime) -> None:
    db.session.add(Compensation(case_id=case.id, shop_id=case.shop_id, platform=case.platform, order_no=case.order_no,
                                amount=Decimal(amount), reason="defect", payout="alipay", status=status,
                                requester_id=user_named("agent").id, created_at=created))


def add_review(list_date: date, cause: str | None, suggested: str = "") -> None:
    shop = db.session.scalar(sa.select(Shop).where(Shop.name == "测试天猫店"))
    written = at(list_date, 8)
    db.session.add(Review(platform=shop.platform, shop=shop, rating=1, text="差", reviewed_at=written, list_date=list_date,
                          text_digest=hashlib.sha256(f"{written}{cause}{suggested}{next(serial)}".encode()).hexdigest(),
                          cause=cause, suggested_cause=suggested))


def hand_built_week() -> None:
    """Four cases received in the week of 2026-11-23 and two around it; see the figures expected below."""
    first = add_case(at(MONDAY, 9), refund_amount=Decimal("100.00"), refunded_at=at(day(24), 10), responsibility="courier",
                     closed_at=at(day(25), 11), state="closed", freight_cost=Decimal("12.00"))
    add_case(at(day(24), 9), kind="reship", category="missing_accessory", responsibility="warehouse",
             closed_at=at(day(26), 11), state="closed", reship_cost=Decimal("30.00"))
    add_case(at(SUNDAY, 23, 30), shop_name="测试京东店", kind="refund_only", refund_amount=Decimal("50.00"),
             refunded_at=at(SUNDAY, 23, 59))  # not closed: no party yet
    fourth = add_case(at(day(27), 9), shop_name="测试抖音店", kind="compensation", responsibility="courier",
                      closed_at=at(day(28), 12), state="closed")
    add_compensation(fourth, "20.00", "approved", at(day(27), 10))
    add_compensation(fourth, "15.00", "paid", at(day(28), 10))
    add_compensation(fourth, "99.00", "pending", at(day(28), 11))  # costs nothing yet
    add_compensation(fourth, "77.00", "rejected", at(day(28), 11))
    add_compensation(first, "5.00", "approved", at(day(30), 10))  # requested the next week
    # received the Sunday before, refunded in the week, closed the week after
    add_case(at(day(22), 23, 30), category="logistics", refund_amount=Decimal("40.00"), refunded_at=at(MONDAY, 10),
             responsibility="production", closed_at=at(day(1, 12), 9), state="closed", freight_cost=Decimal("8.00"))
    add_case(at(day(30), 0, 0), kind="exchange")  # the next Monday
    for cause, suggested in (("物流", ""), (None, "物流"), (None, "物流"), ("质量问题", ""), (None, "质量问题"), (None, "")):
        add_review(MONDAY, cause, suggested)
    add_review(day(30), "物流")  # the next week's list
    db.session.commit()


def week_report() -> dict:
    return reports.report(MONDAY, SUNDAY, ZONE)


def counted(rows: list[dict]) -> list[tuple[str, int]]:
    return [(row["key"], row["count"]) for row in rows]


def test_cases_received_in_the_week_are_counted_by_kind_category_and_platform(app):
    with app.app_context():
        hand_built_week()
        figures = week_report()
        assert figures["received"] == 4
        assert counted(figures["by_kind"]) == [("refund_only", 1), ("return_refund", 1), ("reship", 1), ("compensation", 1)]
        assert counted(figures["by_category"]) == [("damaged_on_arrival", 3), ("missing_accessory", 1)]
        assert counted(figures["by_platform"]) == [("tmall", 2), ("jd_pop", 1), ("douyin", 1)]
        assert figures["by_kind"][0]["label"] == CASE_KINDS["refund_only"]
        assert figures["by_category"][1]["label"] == CASE_CATEGORIES["missing_accessory"]
        assert figures["by_platform"][0]["label"] == PLATFORMS["tmall"]


def test_cost_per_party_sums_refunds_committed_compensation_reships_and_freight(app):
    with app.app_context():
        hand_built_week()
        figures = week_report()
        rows = {row["party"]: row for row in figures["costs"]}
        assert [row["party"] for row in figures["costs"]] == ["production", "warehouse", "courier", reports.NOT_CLOSED]
        money = lambda *values: tuple(Decimal(value) for value in values)  # noqa: E731
        cost = lambda row: (row["refunds"], row["compensation"], row["reships"], row["freight"], row["total"])  # noqa: E731
        assert cost(rows["courier"]) == money("100.00", "35.00", "0.00", "12.00", "147.00")
        assert cost(rows["warehouse"]) == money("0.00", "0.00", "30.00", "0.00", "30.00")
        assert cost(rows["production"]) == money("40.00", "0.00", "0.00", "0.00", "40.00")  # refunded in the week
        assert cost(rows[reports.NOT_CLOSED]) == money("50.00", "0.00", "0.00", "0.00", "50.00")
        assert figures["cost_totals"] == dict(zip(("refunds", "compensation", "reships", "freight", "total"),
                                                  money("190.00", "35.00", "30.00", "12.00", "267.00"), strict=True))
        assert all(isinstance(value, Decimal) for row in figures["costs"] for key, value in row.items()
                   if key in reports.COST_KINDS)
        assert rows["courier"]["label"] == RESPONSIBILITIES["courier"]
        assert str(rows[reports.NOT_CLOSED]["label"]) == str(reports.party_label(reports.NOT_CLOSED))


def test_the_top_causes_are_pareto_lists_with_cumulative_shares(app):
    with app.app_context():
        hand_built_week()
        figures = week_report()
        assert [(str(row["label"]), row["value"], round(row["cumulative"], 4)) for row in figures["top_categories"]] == [
            (str(CASE_CATEGORIES["damaged_on_arrival"]), 3, 0.75), (str(CASE_CATEGORIES["missing_accessory"]), 1, 1.0)]
        assert [(row["label"], row["value"], round(row["cumulative"], 4)) for row in figures["top_causes"]] == [
            ("物流", 3, 0.5), ("质量问题", 2, 0.8333), ("其他", 1, 1.0)]
        assert [(row["value"], round(row["cumulative"], 4)) for row in figures["cost_pareto"]] == [
            (Decimal("147.00"), 0.5506), (Decimal("50.00"), 0.7378), (Decimal("40.00"), 0.8876), (Decimal("30.00"), 1.0)]
        chart = reports.report_charts(figures)["cost_pareto"]
        assert [bar["vital"] for bar in chart["bars"]] == [True, True, True, False]  # the first three make 80 %


def test_the_number_of_queries_does_not_grow_with_the_cases(app):
    with app.app_context():
        hand_built_week()
        with counting_queries(app) as few:
            week_report()
        for number in range(40):
            case = add_case(at(day(24 + number % 5), 10), kind=list(CASE_KINDS)[number % 9], category=list(CASE_CATEGORIES)[number % 17],
                            refund_amount=Decimal("9.90"), refunded_at=at(day(25), 10), responsibility=list(RESPONSIBILITIES)[number % 8],
                            closed_at=at(day(26), 10), state="closed", reship_cost=Decimal("1.00"), freight_cost=Decimal("2.00"))
            add_compensation(case, "3.00", "paid", at(day(25), 11))
            add_review(MONDAY, f"原因{number % 7}")
        db.session.commit()
        with counting_queries(app) as many:
            figures = week_report()
    assert len(few) == len(many) == 5
    assert figures["received"] == 44


def test_periods_are_weeks_from_monday_and_calendar_months():
    assert reports.period_of("week", day(26)) == reports.Period("week", MONDAY, SUNDAY)
    assert reports.period_of("month", day(26)) == reports.Period("month", day(1), day(30))
    assert reports.period_of("month", day(1)).previous == reports.Period("month", date(2026, 10, 1), date(2026, 10, 31))
    assert reports.period_of("month", day(31, 12)).next.start == date(2027, 1, 1)
    assert reports.period_of("week", MONDAY).next.start == day(30)
    assert reports.previous_month(day(1, 12)) == reports.Period("month", day(1), day(30))
    assert reports.parse_period("week", "2026-11-26", day(2, 12)).start == MONDAY
    assert reports.parse_period("year", "yesterday", day(2, 12)) == reports.Period("month", day(1, 12), day(31, 12))
    assert reports.parse_period(None, None, day(15)).kind == "month"


def test_the_workbook_opens_and_has_the_figures(app):
    with app.app_context():
        hand_built_week()
        figures = week_report()
        handle = io.BytesIO()
        reports.write_xlsx(figures, handle)
        courier = str(RESPONSIBILITIES["courier"])
    workbook = openpyxl.load_workbook(io.BytesIO(handle.getvalue()))
    assert len(workbook.sheetnames) == 7
    overview = {row[0]: row[1] for row in workbook.worksheets[0].iter_rows(values_only=True) if row and row[0]}
    assert 4 in overview.values() and 267 in overview.values()
    costs = {row[0]: row[1:] for row in workbook.worksheets[4].iter_rows(min_row=2, values_only=True)}
    assert costs[courier] == (100, 35, 0, 12, 147)
    causes = list(workbook.worksheets[6].iter_rows(min_row=2, values_only=True))
    assert causes[0] == ("物流", 3, 0.5) and causes[-1] == ("其他", 1, 1)
    assert workbook.worksheets[6]["C2"].number_format == "0%"


def test_imported_words_stay_inert_in_markdown_mail_and_workbook(app):
    with app.app_context():
        add_case(at(MONDAY, 9), category=HOSTILE)  # an unknown key is shown as it is
        add_review(MONDAY, HOSTILE)
        db.session.commit()
        figures = week_report()
        text = reports.markdown(figures)
        subject, plain, html = reports.mail(figures)
        handle = io.BytesIO()
        reports.write_xlsx(figures, handle)
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE in plain and "2026-11-23" in subject
    workbook = openpyxl.load_workbook(io.BytesIO(handle.getvalue()))
    assert HOSTILE in [row[0] for row in workbook.worksheets[2].iter_rows(values_only=True)]


def test_the_charts_numbers_are_also_text_on_the_page_fragment(app):
    with app.app_context():
        hand_built_week()
        figures = week_report()
        with app.test_request_context():
            html = render_template("scoring/_report_body.html", report=figures, report_charts=reports.report_charts(figures),
                                   rules=reports.RULES, for_mail=False)
    assert html.count("<svg") == 3 and html.count('role="img"') == 3 and html.count("<desc") == 3
    assert 'aria-labelledby="report-cost-title report-cost-title-desc"' in html
    for text in ("¥147.00", "¥267.00", "55%", "74%", "89%", ">物流</th>", "<td class=\"num\">3</td>", "83%"):
        assert text in html, text
    assert "<script" not in html and "cdn" not in html.lower()


def test_the_mail_has_the_tables_without_charts_or_links(app):
    with app.app_context():
        hand_built_week()
        subject, plain, html = reports.mail(week_report())
    assert "<svg" not in html and "href" not in html and "¥147.00" in html and "¥267.00" in plain
    assert "2026-11-23" in subject and "267.00" in subject


def test_line_chart_geometry_puts_the_largest_series_first():
    chart = charts.line_chart(["a", "b", "c"], {"small": [0, 1, 0], "big": [2, 4, 2]})
    assert [line["name"] for line in chart["lines"]] == ["big", "small"]
    big = chart["lines"][0]["points"]
    assert big[0][0] == chart["left"] and big[-1][0] == chart["width"] - chart["right"]
    assert big[1][1] == chart["top"] and big[0][1] == (chart["top"] + chart["height"] - chart["bottom"]) / 2
    assert [text for text, _y in chart["ticks"]] == ["0", "2", "4"]


def test_pareto_geometry_sorts_bars_and_climbs_to_one_hundred_percent():
    chart = charts.pareto_chart([("甲", 1), ("乙", 6), ("丙", 0), ("丁", 3)])
    assert [bar["label"] for bar in chart["bars"]] == ["乙", "丁", "甲"]  # nothing for a zero
    heights = [bar["h"] for bar in chart["bars"]]
    assert heights == sorted(heights, reverse=True) and chart["bars"][0]["y"] == chart["top"]
    assert [y for _x, y in chart["line"]] == sorted((y for _x, y in chart["line"]), reverse=True)
    assert chart["line"][-1][1] == chart["top"]  # 100 %
    assert chart["threshold_y"] == round(chart["base_y"] - 0.8 * (chart["base_y"] - chart["top"]), 1)
    assert [round(bar["cumulative"], 2) for bar in chart["bars"]] == [0.6, 0.9, 1.0]
    assert [bar["vital"] for bar in chart["bars"]] == [True, True, False]
    assert charts.pareto_order([("a", 2), ("b", 2), ("c", 4)]) == [("c", 4, 0.5), ("a", 2, 0.75), ("b", 2, 1.0)]
    assert charts.pareto_chart([])["bars"] == []


# --- the monthly send -----------------------------------------------------------------------------------------

def configure_recipients(robots, secret: str = DINGTALK_SECRET) -> None:
    set_setting("scoring_report_emails", [MANAGER])
    set_setting("review_summary_robots", [{"kind": "dingtalk", "url": dingtalk_url(robots), "secret": secret}])


def run_monthly(now: datetime):
    return scheduler.run_due(now, [scheduler.JOBS[MONTHLY_REPORT]])


def test_the_monthly_job_is_registered_at_the_report_time():
    assert scheduler.JOBS[MONTHLY_REPORT].daily_at == "scoring_report_time"


def test_on_the_first_last_months_report_goes_once_by_mail_and_to_the_robot(app, mailbox, robots):
    handler, _port = mailbox
    with app.app_context():
        configure_recipients(robots)
        hand_built_week()
        assert get_setting("scoring_report_time") == "09:00"
        assert run_monthly(at(day(1, 12), 8, 59)) == []  # before its time
        [ran] = run_monthly(at(day(1, 12), 9, 5))
        assert ran.error == "" and ran.result == {"month": "2026-11", "sent": 2}
        assert run_monthly(at(day(1, 12), 15)) == []  # the day's run is claimed: not twice
        [other_day] = run_monthly(at(day(2, 12), 9, 5))
        assert other_day.result == {"skipped": "2026-12-02 is not the 1st"}
    assert len(handler.messages) == 1
    message, recipients, _authenticated = handler.messages[0]
    assert recipients == ["manager@shop.example"] and "2026-11" in message["Subject"]
    html = message.get_body(("html",)).get_content()
    assert "¥272.00" in html  # November: the week, plus the 5.00 of compensation requested on the 30th
    assert len(robots.requests) == 1 and robots.requests[0].path == "/robot/send"  # the fake checked the signature
    assert "2026-11" in robots.requests[0].body["markdown"]["title"] and "272.00" in robots.contents()[0]


def test_a_failed_channel_is_recorded_on_the_run_and_the_others_still_go(app, mailbox, robots):
    handler, _port = mailbox
    with app.app_context():
        configure_recipients(robots, secret="SECwrong-secret")
        db.session.commit()
        [ran] = run_monthly(at(day(1, 12), 10))
        run = db.session.get(JobRun, (MONTHLY_REPORT, "2026-12-01"))
        assert run.finished_at is not None and "ReportNotSent" in run.error and "310000" in run.error
        assert "SECwrong-secret" not in run.error and "test-token" not in run.error
    assert ran.error == run.error and len(handler.messages) == 1


def test_without_a_mail_server_the_mail_fails_and_says_why(make_app, robots):
    app = make_app()
    with app.app_context():
        set_setting("scoring_report_emails", [MANAGER])
        db.session.commit()
        outcome = reports.send(week_report(), at(day(1, 12), 10), None)
    assert outcome["sent"] == [] and "SMTP_HOST" in outcome["failed"][0][1]


# --- the pages (after pasting /tmp/scoring_routes_reports.py into blueprints/scoring.py) ----------------------

@pytest.fixture
def routes(app):
    if "scoring.report" not in app.view_functions:
        pytest.skip("the report routes are not in blueprints/scoring.py yet (/tmp/scoring_routes_reports.py)")


def test_the_report_page_draws_charts_and_tables_for_a_lead_only(app, routes, login_as):
    with app.app_context():
        hand_built_week()
    client = login_as("lead")
    html = client.get("/scoring/report?period=week&start=2026-11-25").get_data(as_text=True)
    assert "2026-11-23" in html and "2026-11-29" in html and "¥267.00" in html and html.count("<svg") == 3
    assert "start=2026-11-16" in html and "start=2026-11-30" in html  # previous and next weeks
    assert client.get("/scoring/report").status_code == 200  # this month by default
    workbook = client.get("/scoring/report.xlsx?period=week&start=2026-11-23")
    assert workbook.status_code == 200 and "attachment" in workbook.headers["Content-Disposition"]
    assert openpyxl.load_workbook(io.BytesIO(workbook.data)).sheetnames[0]
    client.post_form("/auth/logout")
    assert login_as("agent").get("/scoring/report").status_code == 403


def test_a_lead_sets_the_addresses_and_sends_the_report(app, routes, login_as, mailbox):
    handler, _port = mailbox
    client = login_as("lead")
    refused = client.post_form("/scoring/report/settings", {"emails": "not-an-address", "report_time": "09:00"})
    assert refused.status_code == 200 and "not-an-address" in refused.get_data(as_text=True)
    saved = client.post_form("/scoring/report/settings", {"emails": "manager@shop.example\nboss@shop.example",
                                                          "report_time": "08:30"})
    assert saved.status_code == 302
    with app.app_context():
        assert get_setting("scoring_report_emails") == ["manager@shop.example", "boss@shop.example"]
        assert get_setting("scoring_report_time") == "08:30"
    sent = client.post_form("/scoring/report/send", {"period": "month", "start": "2026-11-01"})
    assert sent.status_code == 302 and "period=month" in sent.headers["Location"]
    assert len(handler.messages) == 1 and "2026-11" in handler.messages[0][0]["Subject"]
    assert client.post("/scoring/report/send", data={"period": "month", "start": "2026-11-01"}).status_code == 400  # no CSRF
