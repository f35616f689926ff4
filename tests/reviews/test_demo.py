"""The demo's review worklist: today's list half done, six weeks of lists behind it, templates within the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

import demo
from demo import reviews as demo_reviews
from models import ReplyTemplate, Review, ReviewContact, ReviewDay, db, get_setting
from reviews import worklist
from reviews.labels import DEFAULT_CAUSES

# 03:00, 12:00 and 22:00 in Shanghai: before today's list time, during the day, after it
MOMENTS = [datetime(2026, 11, 24, 19, 0, tzinfo=UTC), datetime(2026, 11, 25, 4, 0, tzinfo=UTC),
           datetime(2026, 11, 25, 14, 0, tzinfo=UTC)]


@pytest.mark.parametrize("now", MOMENTS, ids=["03h", "12h", "22h"])
def test_todays_list_is_formed_shared_and_half_done(app, now):
    with app.app_context():
        message = demo.create(80, seed=7, now=now)
        zone = app.config["SHOP_TZ"]
        today = worklist.shop_date(now, zone)
        listed = db.session.get(ReviewDay, today)
        assert listed is not None and listed.formed_at <= now
        members = db.session.scalars(sa.select(Review).where(Review.list_date == today)).all()
        assert 20 <= len(members) <= 50
        assert f"today's list: {len(members)}" in message
        handled = [item for item in members if item.state == "handled"]
        assert 0.3 <= len(handled) / len(members) <= 0.7
        assert all(item.handled_at is not None and listed.formed_at <= item.handled_at <= now for item in handled)
        assert len({item.assignee_id for item in members}) >= 2  # shared among the reviewers
        assert sum(item.late for item in members) == 2

        outcomes = {item.outcome for item in handled}
        assert {"replied", "case", "no_action"} <= outcomes
        opening, closing = get_setting("review_reply_opening"), get_setting("review_reply_closing")
        for item in handled:
            if item.outcome == "replied":
                assert item.reply_text.startswith(opening) and item.reply_text.endswith(closing)
            elif item.outcome == "case":
                assert item.case.order_no == item.order_no and item.case.platform == item.platform
            else:
                assert item.outcome_note

        contacts = db.session.scalars(sa.select(ReviewContact).join(Review, Review.id == ReviewContact.review_id)
                                      .where(Review.list_date == today)).all()
        assert {"phone", "chat"} <= {contact.channel for contact in contacts}
        assert len({contact.outcome for contact in contacts}) >= 4
        per_review = {}
        for contact in contacts:
            per_review[contact.review_id] = per_review.get(contact.review_id, 0) + 1
            assert contact.contacted_at <= now
        assert max(per_review.values()) >= 2
        assert any(item.state == "contacted" for item in members)

        figures = worklist.day_figures(today, zone).overall
        assert figures.due == len(members) and figures.handled == len(handled)
        assert figures.followed_up >= 1  # a follow-up review credited to a contact
        assert any(any(mark in item.text for mark in "<>&") for item in members)


def test_every_review_has_a_text_and_no_reply_offers_anything(app):
    with app.app_context():
        demo.create(40, seed=3)
        reviews = db.session.scalars(sa.select(Review)).all()
        assert reviews and all(item.text.strip() for item in reviews)
        assert all(item.suggested_cause for item in reviews if worklist.goes_on_list(item))
        assert not any(item.reply_flagged or worklist.forbidden_in(item.reply_text) for item in reviews)
        assert sum(item.rating >= 4 for item in reviews) >= 90
        templates = {row.cause: row.body for row in db.session.scalars(sa.select(ReplyTemplate))}
        assert set(templates) == set(DEFAULT_CAUSES)
        for cause, body in templates.items():
            assert body and worklist.forbidden_in(body) == [], cause
    for texts in (*demo_reviews.FOLLOW_UPS.values(), demo_reviews.FOLLOW_UPS_UNPROMPTED, *demo_reviews.REPLY_BODIES.values()):
        assert not any(worklist.forbidden_in(text) for text in texts)


def test_earlier_lists_have_six_weeks_of_history_with_a_trend(app):
    now = MOMENTS[1]
    with app.app_context():
        demo.create(80, seed=7, now=now)
        zone = app.config["SHOP_TZ"]
        today = worklist.shop_date(now, zone)
        days = db.session.scalars(sa.select(ReviewDay.day).order_by(ReviewDay.day)).all()
        assert days[0] <= today - timedelta(weeks=4)
        assert days == [days[0] + timedelta(days=offset) for offset in range(len(days))]  # every morning
        earlier = db.session.scalars(sa.select(Review).where(Review.list_date < today - timedelta(days=2))).all()
        assert len(earlier) >= 150
        assert sum(item.state == "handled" for item in earlier) / len(earlier) >= 0.95
        assert all(item.cause for item in earlier)  # causes confirmed
        rates = [worklist.day_figures(day, zone).overall.clear_rate for day in days[:-3]]
        assert 0.7 <= sum(rates) / len(rates) <= 0.95

        mondays, counts = worklist.weekly_causes(today, 8, zone)
        whole = [week for week, monday in enumerate(mondays) if days[0] <= monday and monday + timedelta(days=6) < today]
        assert len(whole) >= 5
        logistics, install = [counts["物流"][week] for week in whole], [counts["安装使用"][week] for week in whole]
        assert min(logistics[-2:]) > max(logistics[:-2])  # rising since the courier change
        assert max(install) - min(install) <= 4  # steady


def test_the_same_seed_and_moment_give_the_same_reviews(make_app):
    now = MOMENTS[1]
    seen = []
    for _ in range(2):
        app = make_app()
        with app.app_context():
            demo.create(30, seed=5, now=now)
            seen.append(db.session.execute(sa.select(Review.text, Review.rating, Review.reviewed_at, Review.state,
                                                     Review.list_date, Review.cause).order_by(Review.id)).all())
    assert seen[0] == seen[1]


def test_reviews_are_loaded_once(app):
    with app.app_context():
        demo.create(20, seed=1)
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Review))
        demo.create(20, seed=2)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Review)) == count
