"""The daily monitor: its figures on a small hand-built month, prorated paid orders, constant queries, the page."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from models import Case, Review, ReviewContact, ScoreMonth, Shop, db, utcnow
from reviews import worklist
from scoring import monitor
from tests.cases.test_demo_and_queries import counting_queries
from tests.scoring.test_rollups import at, new_case

TODAY = date(2026, 6, 10)  # a Wednesday: the week is Monday 8th to today, the month 1st to today
HX = {"HX-Request": "true"}


def shops() -> list[Shop]:
    return list(db.session.scalars(sa.select(Shop).order_by(Shop.id)))


@pytest.fixture
def june(app):
    """One shop's June so far. Paid orders: 3000 in June (100 a day), 3100 in May."""
    with app.app_context():
        tmall, jd, _ = shops()
        db.session.add_all([
            ScoreMonth(shop_id=tmall.id, month="2026-06",
                       industry={"dispute_rate": "0.05", "self_completion_rate": "90", "refund_only_days": "1.5",
                                 "return_refund_days": "5", "dsr_description": "4.80", "dsr_service": "4.80",
                                 "dsr_logistics": "4.80"},
                       shop_figures={"paid_orders": "3000", "dsr_description": "4.86", "dsr_service": "4.90",
                                     "dsr_logistics": "4.70", "dsr_description_vs_industry": "35",
                                     "dsr_service_vs_industry": "42", "dsr_logistics_vs_industry": "-5"}),
            ScoreMonth(shop_id=tmall.id, month="2026-05", industry={},
                       shop_figures={"paid_orders": "3100", "dsr_description_vs_industry": "30"}),
        ])
        closed = {"state": "closed"}
        new_case(tmall, "dispute", at("2026-06-01", "09:00", app), closed_at=at("2026-06-10", "10:00", app), outcome="upheld", **closed)
        new_case(tmall, "dispute", at("2026-06-01", "09:00", app), closed_at=at("2026-06-08", "10:00", app), outcome="not_upheld", **closed)
        new_case(tmall, "dispute", at("2026-05-20", "09:00", app), closed_at=at("2026-06-02", "10:00", app), outcome="upheld", **closed)
        # refunds: 1 day on its own; half a day with the platform in it; a return refunded in 4 days
        new_case(tmall, "refund_only", at("2026-06-09", "10:00", app), refunded_at=at("2026-06-10", "10:00", app))
        new_case(tmall, "refund_only", at("2026-06-10", "08:00", app), refunded_at=at("2026-06-10", "20:00", app),
                 platform_intervened=True)
        new_case(tmall, "return_refund", at("2026-06-05", "12:00", app), refunded_at=at("2026-06-09", "12:00", app),
                 closed_at=at("2026-06-09", "12:00", app), **closed)
        new_case(tmall, "return_refund", at("2026-06-10", "09:00", app), closed_at=at("2026-06-10", "18:00", app),
                 outcome="retained", **closed)
        new_case(tmall, "return_refund", at("2026-05-31", "23:30", app))  # May in shop time, though June 1st is 30 min away
        new_case(tmall, "complaint", at("2026-06-09", "09:00", app), closed_at=at("2026-06-10", "11:00", app), outcome="upheld", **closed)
        new_case(tmall, "complaint", at("2026-06-01", "09:00", app), closed_at=at("2026-06-03", "11:00", app), outcome="not_upheld", **closed)
        new_case(jd, "dispute", at("2026-06-01", "09:00", app), closed_at=at("2026-06-10", "10:00", app), outcome="upheld", **closed)
        # today's list: two negative reviews, one handled today after a contact that brought a follow-up review
        handled = Review(platform="tmall", shop_id=tmall.id, order_no="R1", rating=1, text_digest="a",
                         reviewed_at=at("2026-06-09", "12:00", app), list_date=TODAY, state="handled", outcome="no_action",
                         handled_at=at("2026-06-10", "15:00", app))
        waiting = Review(platform="tmall", shop_id=tmall.id, order_no="R2", rating=2, text_digest="b",
                         reviewed_at=at("2026-06-09", "13:00", app), list_date=TODAY)
        db.session.add_all([handled, waiting])
        db.session.flush()
        contact = ReviewContact(review_id=handled.id, channel="phone", outcome="reached", contacted_at=at("2026-06-10", "11:00", app))
        db.session.add(contact)
        db.session.flush()
        handled.follow_up_contact_id, handled.follow_up_at = contact.id, at("2026-06-10", "18:00", app)
        db.session.commit()
        yield tmall.id


def test_a_shops_figures_today_this_week_and_this_month(app, june):
    with app.app_context():
        shop = db.session.get(Shop, june)
        view = monitor.monitor(shop, shops(), TODAY)
        today, week, month = (item.figures for item in view.spans)
        # today: paid orders 3000 × 1/30 = 100; 1 dispute upheld → 1/100 × 100
        assert view.spans[0].orders == Decimal(100)
        assert today["dispute_rate"] == Decimal("1.000")
        # refunds today: 1 on its own of 2 → 50 %; refund only: (1 day + 0.5 day) / 2
        assert today["self_completion_rate"] == Decimal("50.00")
        assert today["refund_only_days"] == Decimal("0.75")
        assert today["return_refund_days"] is None
        # 1 return received today of 100 orders; the 1 return closed today was retained
        assert (today["return_rate"], today["retained_share"]) == (Decimal("1.00"), Decimal("100.00"))
        # reviews of today's list: 1 of 2 handled today; 1 contacted negative review with its follow-up
        assert (today["clear_rate"], today["follow_up_rate"]) == (Decimal("50.00"), Decimal("100.00"))
        assert (today["complaints_closed"], today["complaints_upheld"]) == (1, 1)

        # this week (Mon 8th to Wed 10th): 300 orders; 1 upheld dispute (the 8th's was not upheld) → 0.333
        assert view.spans[1].orders == Decimal(300)
        assert week["dispute_rate"] == Decimal("0.333")
        # refunds 10th, 10th, 9th: 2 of 3 on their own; the return took 4 days
        assert (week["self_completion_rate"], week["return_refund_days"]) == (Decimal("66.67"), Decimal("4.00"))
        # returns received: only the 10th's (the other came in on the 5th) → 1/300; closed 2, 1 retained
        assert (week["return_rate"], week["retained_share"]) == (Decimal("0.33"), Decimal("50.00"))
        assert week["complaints_closed"] == 1

        # this month (1st to 10th): 1000 orders; 2 upheld disputes (2nd, 10th) → 0.2; the return of May 31st
        # 23:30 shop time is May's → 2 returns received (5th, 10th) → 0.2
        assert view.spans[2].orders == Decimal(1000)
        assert (month["dispute_rate"], month["return_rate"]) == (Decimal("0.200"), Decimal("0.20"))
        assert (month["complaints_closed"], month["complaints_upheld"], month["complaints_upheld_share"]) == (2, 1, Decimal("50.00"))

        # against the industry (June's): disputes 0.2 > 0.05 worse; 66.67 < 90 worse; 0.75 < 1.5 and 4 < 5 days better
        assert view.spans[2].verdicts["dispute_rate"] == "worse"
        assert view.spans[2].verdicts["self_completion_rate"] == "worse"
        assert view.spans[2].verdicts["refund_only_days"] == "better"
        assert view.spans[2].verdicts["return_refund_days"] == "better"
        assert not view.paid_orders_missing


def test_the_review_figures_are_the_worklists(app, june):
    with app.app_context():
        overall = worklist.day_figures(TODAY, app.config["SHOP_TZ"]).overall
        today = monitor.monitor(db.session.get(Shop, june), shops(), TODAY).spans[0].figures
        assert today["clear_rate"] == Decimal(str(overall.clear_rate * 100)).quantize(Decimal("0.01"))
        assert today["follow_up_rate"] == Decimal(str(overall.follow_up_rate * 100)).quantize(Decimal("0.01"))


def test_trends_by_day_and_by_month(app, june):
    with app.app_context():
        view = monitor.monitor(db.session.get(Shop, june), shops(), TODAY)
        assert len(view.days) == 30 and view.days[-1][0] == "06-10"
        assert view.days[-1][1]["disputes_upheld"] == 1
        assert len(view.months) == 12 and [month for month, _ in view.months[-2:]] == ["2026-05", "2026-06"]
        may = view.months[-2][1]
        # May: 1 return received (the 31st, 23:30 shop time) of 3100 paid orders → 0.032… → 0.03
        assert (may["returns_received"], may["return_rate"]) == (1, Decimal("0.03"))
        assert view.months[-3][1]["return_rate"] is None  # April: no paid orders entered
        assert {chart["key"] for chart in view.day_charts} == {"orders", "rates", "times", "counts"}
        # DSR: May and June entered; June's logistics is below the industry
        assert [month["month"] for month in view.dsr] == ["2026-05", "2026-06"]
        assert view.dsr[-1]["items"]["logistics"] == (Decimal("4.70"), Decimal("4.80"), Decimal("-5"))
        assert view.dsr_chart is not None


def test_all_shops_sum_the_counts_and_compare_nothing(app, june):
    with app.app_context():
        view = monitor.monitor(None, shops(), TODAY)
        today = view.spans[0]
        assert today.figures["disputes_upheld"] == 2  # one in each shop
        assert today.orders is None and today.figures["dispute_rate"] is None  # the other shops entered no paid orders
        assert view.paid_orders_missing and view.spans[0].verdicts == {} and view.dsr == []


def test_paid_orders_are_prorated_across_a_month_end():
    paid = {"2026-06": Decimal(3000), "2026-07": Decimal(3100)}
    # Mon 29 June to Wed 1 July: 2 days × 3000/30 + 1 day × 3100/31
    assert monitor.prorated_orders(date(2026, 6, 29), date(2026, 7, 1), paid) == Decimal(300)
    assert monitor.prorated_orders(date(2026, 5, 31), date(2026, 6, 1), paid) is None


def test_spans():
    today, week, month = monitor.spans(date(2026, 6, 1))  # a Monday and the 1st
    assert (today.first, week.first, month.first) == (date(2026, 6, 1),) * 3
    assert monitor.spans(date(2026, 6, 7))[1].first == date(2026, 6, 1)


def test_queries_do_not_grow_with_the_cases(app):
    with app.app_context():
        tmall = shops()[0]
        counts = []
        for size in (10, 500):
            rows = [{"shop_id": tmall.id, "platform": "tmall", "order_no": f"Q{size}-{n}", "buyer_nick": "b",
                     "kind": ("refund_only", "return_refund", "dispute", "complaint")[n % 4], "category": "other",
                     "received_at": at("2026-01-01", "10:00", app) + timedelta(hours=7 * n),
                     "closed_at": at("2026-01-02", "10:00", app) + timedelta(hours=7 * n), "state": "closed"}
                    for n in range(size)]
            db.session.execute(sa.insert(Case), rows)
            db.session.commit()
            active = shops()
            with counting_queries(app) as statements:
                monitor.monitor(tmall, active, TODAY)
            counts.append(len(statements))
        assert counts[0] == counts[1] == 2


# --- the page (its routes are pasted into blueprints/scoring.py) ---------------------------------------------------

@pytest.fixture
def with_routes(app):
    if "scoring.monitor" not in app.view_functions:
        pytest.skip("the monitor's routes are not in blueprints/scoring.py yet")


def test_the_page_its_live_region_and_an_unchanged_poll(app, login_as, with_routes, june):
    client = login_as("agent")
    for trend in ("days", "months"):
        page = client.get(f"/scoring/monitor?shop={june}&trend={trend}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert 'id="scoring-monitor"' in html and 'id="dsr-chart-title"' in html
    # June is within the last 12 months: four trend charts and the DSR's, each followed by its table
    assert html.count('<figure class="trend">') == 5 and html.count('class="list trend-table"') == 5
    partial = client.get("/scoring/monitor?shop=all&trend=months", headers=HX)
    text = partial.get_data(as_text=True)
    assert partial.status_code == 200 and 'id="scoring-monitor"' in text and "<html" not in text
    assert "HX-Request" in partial.headers.get("Vary", "")
    poll = re.search(r'id="scoring-monitor"[^>]*hx-get="([^"]+)"', text).group(1).replace("&amp;", "&")
    with counting_queries(app) as statements:
        unchanged = client.get(poll, headers=HX)
    # answered before the view, with one query on a bare DBAPI cursor (live.install): nothing through SQLAlchemy
    assert unchanged.status_code == 204 and unchanged.data == b"" and len(statements) == 0


def test_the_page_asks_for_the_paid_orders(app, login_as, with_routes):
    client = login_as("lead")
    html = client.get("/scoring/monitor").get_data(as_text=True)
    assert 'id="paid-orders-missing"' in html and "/scoring/" in html


def test_the_page_queries_do_not_grow(app, login_as, with_routes):
    client = login_as("lead")
    counts = []
    for size in (10, 300):
        with app.app_context():  # left before the request: a request inside it would share its g
            tmall = shops()[0]
            db.session.execute(sa.insert(Case), [
                {"shop_id": tmall.id, "platform": "tmall", "order_no": f"P{size}-{n}", "buyer_nick": "b", "kind": "refund_only",
                 "category": "other", "received_at": utcnow() - timedelta(hours=n), "refunded_at": utcnow()}
                for n in range(size)])
            db.session.commit()
        with counting_queries(app) as statements:
            assert client.get("/scoring/monitor").status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1]
