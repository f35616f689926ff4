"""The per-day counts (DailyFigure) always equal what the raw cases and reviews say, whatever happens to them."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from app import create_app
from models import Case, DailyFigure, Review, ReviewContact, Shop, db
from reviews import worklist
from scoring import rollups
from tests.cases.test_demo_and_queries import counting_queries
from tests.conftest import MIGRATIONS, base_config
from tests.test_migrations import empty_database  # noqa: F401 - a fixture

ORDER = itertools.count(1)


def at(day: str, clock: str, app) -> datetime:
    """A shop-time moment, aware."""
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=app.config["SHOP_TZ"])


def shops() -> list[Shop]:
    return list(db.session.scalars(sa.select(Shop).order_by(Shop.id)))


def new_case(shop: Shop, kind: str, received_at: datetime, **values) -> Case:
    case = Case(shop_id=shop.id, platform=shop.platform, order_no=f"O{next(ORDER)}", buyer_nick="买家", kind=kind,
                category="other", received_at=received_at, **values)
    db.session.add(case)
    return case


def expected_counts(zone) -> dict:
    """The monitor's counts straight from the definitions, one case and one review at a time."""
    found: dict = {}

    def row(shop_id, day):
        return found.setdefault((shop_id, day), dict.fromkeys(rollups.COUNTERS, 0))

    for case in db.session.scalars(sa.select(Case)):
        received = row(case.shop_id, case.received_at.astimezone(zone).date())
        received["cases_received"] += 1
        if case.kind == "return_refund":
            received["returns_received"] += 1
        if case.refunded_at and case.kind in ("refund_only", "return_refund"):
            refunded = row(case.shop_id, case.refunded_at.astimezone(zone).date())
            refunded[case.kind + "_done"] += 1
            refunded[case.kind + "_seconds"] += int((case.refunded_at - case.received_at).total_seconds())
            if not case.platform_intervened:
                refunded["refunds_self_completed"] += 1
        if case.closed_at:
            closed = row(case.shop_id, case.closed_at.astimezone(zone).date())
            if case.kind == "dispute":
                closed["disputes_closed"] += 1
                closed["disputes_upheld"] += case.outcome == "upheld"
            if case.kind == "complaint":
                closed["complaints_closed"] += 1
                closed["complaints_upheld"] += case.outcome == "upheld"
            if case.kind == "return_refund":
                closed["returns_closed"] += 1
                closed["returns_retained"] += case.outcome == "retained"
    contacted = set(db.session.scalars(sa.select(ReviewContact.review_id)))
    for review in db.session.scalars(sa.select(Review).where(Review.list_date.is_not(None))):
        listed = row(review.shop_id, review.list_date)
        listed["reviews_due"] += 1
        if review.state == "handled" and review.handled_at.astimezone(zone).date() == review.list_date:
            listed["reviews_handled_same_day"] += 1
        if review.rating <= 2 and review.id in contacted:
            listed["reviews_contacted_negative"] += 1
            listed["reviews_followed_up"] += review.follow_up_contact_id is not None
    return {key: counts for key, counts in found.items() if any(counts.values())}


def stored_counts() -> dict:
    return {(row.shop_id, row.day): {name: getattr(row, name) for name in rollups.COUNTERS}
            for row in db.session.scalars(sa.select(DailyFigure))}


def assert_current(app):
    db.session.expire_all()
    assert stored_counts() == expected_counts(app.config["SHOP_TZ"])


@pytest.fixture
def some_cases(app):
    """Cases of every kind the monitor counts, over three days and two shops."""
    with app.app_context():
        tmall, jd, _ = shops()
        new_case(tmall, "refund_only", at("2026-06-09", "10:00", app), refunded_at=at("2026-06-10", "10:00", app))
        new_case(tmall, "refund_only", at("2026-06-10", "08:00", app), refunded_at=at("2026-06-10", "20:00", app),
                 platform_intervened=True)
        new_case(tmall, "return_refund", at("2026-06-05", "12:00", app), refunded_at=at("2026-06-09", "12:00", app),
                 state="closed", closed_at=at("2026-06-09", "12:00", app))
        new_case(jd, "dispute", at("2026-06-01", "09:00", app), state="closed", closed_at=at("2026-06-10", "23:30", app),
                 outcome="upheld", platform_intervened=True)
        new_case(jd, "complaint", at("2026-06-08", "09:00", app))
        db.session.commit()
        yield


def test_created_cases_are_counted_on_their_days(app, some_cases):
    with app.app_context():
        assert_current(app)
        tmall = shops()[0]
        today = db.session.get(DailyFigure, (tmall.id, date(2026, 6, 10)))
        assert (today.refund_only_done, today.refunds_self_completed, today.refund_only_seconds) == (2, 1, 86400 + 12 * 3600)
        # 23:30 in Shanghai is 15:30 UTC: still the 10th in shop time
        assert db.session.get(DailyFigure, (shops()[1].id, date(2026, 6, 10))).disputes_upheld == 1


def test_moving_a_refund_to_another_day_moves_its_count(app, some_cases):
    with app.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.kind == "return_refund"))
        case.refunded_at = at("2026-06-07", "09:00", app)  # the object expired at the commit: its old value is loaded
        db.session.commit()
        assert_current(app)
        assert db.session.get(DailyFigure, (case.shop_id, date(2026, 6, 7))).return_refund_done == 1
        assert db.session.get(DailyFigure, (case.shop_id, date(2026, 6, 9))).return_refund_done == 0


def test_closing_reopening_and_deleting(app, some_cases):
    with app.app_context():
        complaint = db.session.scalar(sa.select(Case).where(Case.kind == "complaint"))
        complaint.state, complaint.closed_at, complaint.outcome = "closed", at("2026-06-10", "11:00", app), "upheld"
        db.session.commit()
        assert_current(app)
        assert db.session.get(DailyFigure, (complaint.shop_id, date(2026, 6, 10))).complaints_upheld == 1

        complaint.state, complaint.closed_at, complaint.outcome = "in_progress", None, None  # reopened
        db.session.commit()
        assert_current(app)
        assert db.session.get(DailyFigure, (complaint.shop_id, date(2026, 6, 10))).complaints_closed == 0

        dispute = db.session.scalar(sa.select(Case).where(Case.kind == "dispute"))
        db.session.delete(dispute)
        db.session.commit()
        assert_current(app)


def test_moving_a_case_to_another_shop(app, some_cases):
    with app.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.kind == "complaint"))
        case.shop_id = shops()[2].id
        db.session.commit()
        assert_current(app)


def test_a_rolled_back_change_leaves_the_counts_alone(app, some_cases):
    with app.app_context():
        before = stored_counts()
        new_case(shops()[0], "dispute", at("2026-06-10", "09:00", app), closed_at=at("2026-06-10", "10:00", app))
        db.session.flush()
        db.session.rollback()
        assert "daily_figures" not in db.session.info
        db.session.commit()
        assert stored_counts() == before


def test_bulk_insert_is_counted(app, some_cases):
    with app.app_context():
        tmall = shops()[0]
        rows = [{"shop_id": tmall.id, "platform": tmall.platform, "order_no": f"B{number}", "buyer_nick": "买家",
                 "kind": "return_refund", "category": "other", "received_at": at("2026-05-20", "10:00", app) + timedelta(hours=number),
                 "refunded_at": at("2026-06-10", "10:00", app), "state": "closed", "closed_at": at("2026-06-10", "12:00", app),
                 "outcome": "retained" if number % 3 == 0 else None}
                for number in range(60)]
        db.session.execute(sa.insert(Case), rows)
        db.session.commit()
        assert_current(app)


def test_a_bulk_update_rebuilds_everything(app, some_cases):
    with app.app_context():
        db.session.execute(sa.update(Case).where(Case.kind == "refund_only").values(platform_intervened=True))
        db.session.commit()
        assert_current(app)


def test_refreshing_at_commit_does_not_grow_with_the_cases(app):
    """An import flushes once per case; the commit refreshes once: the same statements for 5 cases or 200."""
    with app.app_context():
        tmall = shops()[0]
        counts = []
        for size in (5, 200):
            for number in range(size):
                new_case(tmall, "refund_only", at("2026-06-01", "10:00", app) + timedelta(hours=number),
                         refunded_at=at("2026-06-10", "10:00", app))
                db.session.flush()
            with counting_queries(app) as statements:
                db.session.commit()
            counts.append(len([statement for statement in statements if "daily_figures" in statement or "FROM cases" in statement]))
        assert counts[0] == counts[1] <= 4
        assert_current(app)


def test_review_counts_follow_the_worklist(app):
    """Per shop, the review counts add up to what reviews/worklist.day_figures says for the whole list."""
    with app.app_context():
        zone = app.config["SHOP_TZ"]
        tmall, jd, _ = shops()
        day = date(2026, 6, 10)
        reviews = []
        for number, (shop, rating, handled) in enumerate([(tmall, 1, "2026-06-10"), (tmall, 2, None), (jd, 3, "2026-06-11"),
                                                         (jd, 1, "2026-06-10")]):
            review = Review(platform=shop.platform, shop_id=shop.id, order_no=f"R{number}", rating=rating,
                            text_digest=f"d{number}", reviewed_at=at("2026-06-09", "12:00", app), list_date=day)
            if handled:
                review.state, review.outcome, review.handled_at = "handled", "no_action", at(handled, "15:00", app)
            db.session.add(review)
            reviews.append(review)
        db.session.commit()
        assert_current(app)

        contact = ReviewContact(review_id=reviews[0].id, channel="phone", outcome="reached",
                                contacted_at=at("2026-06-10", "11:00", app))
        db.session.add_all([contact, ReviewContact(review_id=reviews[3].id, channel="phone", outcome="reached",
                                                   contacted_at=at("2026-06-10", "11:00", app))])
        db.session.flush()
        reviews[0].follow_up_contact_id, reviews[0].follow_up_at = contact.id, at("2026-06-10", "18:00", app)
        db.session.commit()
        assert_current(app)

        figures = worklist.day_figures(day, zone).overall
        stored = [db.session.get(DailyFigure, (shop.id, day)) for shop in (tmall, jd)]
        assert sum(row.reviews_due for row in stored) == figures.due == 4
        assert sum(row.reviews_handled_same_day for row in stored) == figures.handled_same_day == 2
        assert sum(row.reviews_contacted_negative for row in stored) == figures.contacted_negative == 2
        assert sum(row.reviews_followed_up for row in stored) == figures.followed_up == 1

        reviews[1].list_date = day + timedelta(days=1)  # moved to the next list
        db.session.commit()
        assert_current(app)


def test_rebuild_gives_the_same_rows(app, some_cases):
    with app.app_context():
        before = stored_counts()
        rollups.rebuild(app.config["SHOP_TZ"])
        db.session.commit()
        assert stored_counts() == before


def test_runs_merge_consecutive_days():
    days = {(1, date(2026, 6, 1)), (1, date(2026, 6, 2)), (1, date(2026, 6, 5)), (2, date(2026, 6, 1))}
    assert sorted(rollups.runs(days)) == [(1, date(2026, 6, 1), date(2026, 6, 2)), (1, date(2026, 6, 5), date(2026, 6, 5)),
                                          (2, date(2026, 6, 1), date(2026, 6, 1))]


def test_migration_fills_the_counts_from_existing_rows(empty_database):  # noqa: F811 - the imported fixture
    app = create_app(base_config(empty_database))
    with app.app_context():
        upgrade(directory=MIGRATIONS, revision="0008_scoring")
        with db.engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO shops (platform, name, active) VALUES ('tmall', '店', true)"))
            shop_id = connection.execute(sa.text("SELECT id FROM shops")).scalar()
            for number, (kind, received, refunded, closed, outcome, intervened) in enumerate([
                    ("refund_only", "2026-06-09 02:00:00", "2026-06-09 20:00:00", None, None, False),  # refunded the 10th, shop time
                    ("return_refund", "2026-06-05 04:00:00", "2026-06-08 04:00:00", "2026-06-08 05:00:00", "retained", True),
                    ("dispute", "2026-06-01 04:00:00", None, "2026-06-09 04:00:00", "upheld", True)]):
                connection.execute(sa.text(
                    "INSERT INTO cases (shop_id, platform, order_no, buyer_nick, kind, category, priority, state, summary,"
                    " order_amount, flag_note, responsible_person, cause, result, buyer_feedback, platform_deadline_note,"
                    " received_at, refunded_at, closed_at, outcome, platform_intervened, routed_to, pauses, reopen_count,"
                    " duplicate_serial, created_at, updated_at, version) VALUES (:shop, 'tmall', :order, 'b', :kind, 'other',"
                    " 2, 'new', '', 0, '', '', '', '', '', '', :received, :refunded, :closed, :outcome, :intervened, '', '[]',"
                    " 0, 0, :received, :received, 1)"),
                    {"shop": shop_id, "order": f"M{number}", "kind": kind, "received": received, "refunded": refunded,
                     "closed": closed, "outcome": outcome, "intervened": intervened})
            connection.execute(sa.text(
                "INSERT INTO reviews (platform, shop_id, order_no, buyer_nick, product, sku, rating, text, text_digest,"
                " reviewed_at, picture_count, follow_up_text, suggested_cause, list_date, late, state, outcome_note,"
                " handled_at, reply_text, reply_flagged, created_at, updated_at, version) VALUES ('tmall', :shop, 'R1', '',"
                " '', '', 1, '', 'x', '2026-06-09 04:00:00', 0, '', '', '2026-06-10', false, 'handled', '',"
                " '2026-06-10 03:00:00', '', false, '2026-06-09 04:00:00', '2026-06-09 04:00:00', 1)"), {"shop": shop_id})
        upgrade(directory=MIGRATIONS)  # to the head: the ORM below reads the newest columns
        assert_current(app)
        assert db.session.get(DailyFigure, (shop_id, date(2026, 6, 10))).refund_only_done == 1
        assert db.session.get(DailyFigure, (shop_id, date(2026, 6, 10))).reviews_handled_same_day == 1
        db.session.remove()
        db.engine.dispose()
