"""The worklist's rules with a controlled ``now``: the day's list at 10:00, late joins, sharing out, contacts,
handling, the follow-up review's credit, the reply window, forbidden offers and the day's figures."""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from models import Case, Review, Shop, TimelineEvent, db, set_setting
from reviews import worklist
from tests.conftest import user_named

ZONE = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 30)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


@pytest.fixture
def ctx(app):
    """A request context in English, so refusals can be matched by their words."""
    with app.test_request_context(), force_locale("en"):
        yield


def shop(name="测试天猫店") -> Shop:
    return db.session.scalar(sa.select(Shop).where(Shop.name == name))


def add_review(written: datetime, rating: int = 1, text: str = "空调不制冷", shop_name="测试天猫店", **values) -> Review:
    chosen = shop(shop_name)
    review = Review(platform=chosen.platform, shop=chosen, rating=rating, text=text, reviewed_at=written,
                    text_digest=hashlib.sha256(f"{text}{written}{values}".encode()).hexdigest(),
                    suggested_cause=values.pop("suggested_cause", "质量问题"), **values)
    db.session.add(review)
    db.session.flush()
    return review


def test_the_list_forms_from_the_previous_days_negative_and_middle_reviews(ctx):
    yesterday = TODAY - timedelta(days=1)
    members = [add_review(at(yesterday, 0, 5)), add_review(at(yesterday, 23, 59), rating=3), add_review(at(yesterday, 12), rating=2)]
    good = add_review(at(yesterday, 9), rating=4)
    today_s = add_review(at(TODAY, 0, 1))           # written today: tomorrow's list
    too_old = add_review(at(TODAY - timedelta(days=30), 9))
    assert worklist.list_forms_at(TODAY, ZONE) == at(TODAY, 10)
    listed = worklist.form_list(TODAY, at(TODAY, 10), ZONE)
    assert listed.snapshot_count == 3
    assert {review.id for review in members} == set(db.session.scalars(sa.select(Review.id).where(Review.list_date == TODAY)))
    assert good.list_date is None and today_s.list_date is None and too_old.list_date is None
    assert all(not review.late for review in members)
    with pytest.raises(worklist.ListAlreadyFormed):
        worklist.form_list(TODAY, at(TODAY, 10, 1), ZONE)
    assert db.session.scalar(sa.select(TimelineEvent.detail).where(TimelineEvent.action == "review_list_formed")) == {
        "day": TODAY.isoformat(), "count": 3}


def test_a_list_never_formed_is_swept_into_the_next_one_but_not_beyond_a_week(ctx):
    worklist.form_list(TODAY - timedelta(days=3), at(TODAY - timedelta(days=3), 10), ZONE)
    swept = add_review(at(TODAY - timedelta(days=3), 15))  # its list (the 28th) never formed
    too_old = add_review(at(TODAY - timedelta(days=9), 15))
    worklist.form_list(TODAY, at(TODAY, 10), ZONE)
    assert swept.list_date == TODAY and too_old.list_date is None


def test_a_late_import_joins_its_list_marked_late_and_is_shared_out(ctx):
    set_setting("review_reviewers", [user_named("reviewer").id, user_named("lead").id])
    yesterday = TODAY - timedelta(days=1)
    first = [add_review(at(yesterday, hour)) for hour in (8, 9, 10)]
    worklist.form_list(TODAY, at(TODAY, 10), ZONE)
    assert sorted(review.assignee.username for review in first) == ["lead", "reviewer", "reviewer"]
    late = add_review(at(yesterday, 20))
    other_day = add_review(at(TODAY - timedelta(days=5), 20))  # its list never formed: waits
    assert worklist.place_new([late, other_day], ZONE) == 1
    assert (late.list_date, late.late, late.assignee.username) == (TODAY, True, "lead")  # the less loaded one
    assert other_day.list_date is None
    figures = worklist.day_figures(TODAY, ZONE)
    assert (figures.overall.due, figures.overall.late, figures.listed.snapshot_count) == (4, 1, 3)


def test_sharing_by_hand_leaves_the_list_unassigned_and_a_lead_moves_reviews(ctx):
    set_setting("review_assignment", "manual")
    review = add_review(at(TODAY - timedelta(days=1), 9))
    worklist.form_list(TODAY, at(TODAY, 10), ZONE)
    assert review.assignee_id is None
    worklist.assign(review, user_named("reviewer"), user_named("lead"))
    assert review.assignee.username == "reviewer"
    with pytest.raises(worklist.ReviewRefused):
        worklist.assign(review, user_named("warehouse"), user_named("lead"))  # an agent does not work reviews


def test_contacts_then_handled_and_the_clear_rate_counts_the_same_day_only(ctx):
    yesterday = TODAY - timedelta(days=1)
    reviews = [add_review(at(yesterday, hour)) for hour in (8, 9, 10, 11)]
    worklist.form_list(TODAY, at(TODAY, 10), ZONE)
    reviewer = user_named("reviewer")
    worklist.record_contact(reviews[0], reviewer, "phone", "no_answer", "", at(TODAY, 10, 30), at(TODAY, 10, 31))
    worklist.record_contact(reviews[0], reviewer, "chat", "resolved", "换新", at(TODAY, 11), at(TODAY, 11, 1))
    assert reviews[0].state == "contacted" and len(worklist.contacts_of(reviews[0])) == 2
    worklist.handle(reviews[0], reviewer, "replied", at(TODAY, 12), reply="亲，已为您安排换新。")
    worklist.handle(reviews[1], reviewer, "no_action", at(TODAY, 13), note="买家已联系不上，评价为物流原因")
    worklist.handle(reviews[2], reviewer, "no_action", at(TODAY + timedelta(days=1), 9), note="第二天才处理")
    with pytest.raises(worklist.ReviewRefused):
        worklist.handle(reviews[3], reviewer, "no_action", at(TODAY, 14))  # no reason
    with pytest.raises(worklist.ReviewRefused):
        worklist.handle(reviews[0], reviewer, "no_action", at(TODAY, 14), note="again")  # handled already
    assert reviews[0].cause == "质量问题"  # the suggestion is confirmed when handled
    figures = worklist.day_figures(TODAY, ZONE)
    assert (figures.overall.due, figures.overall.handled, figures.overall.handled_same_day) == (4, 3, 2)
    assert figures.overall.clear_rate == 0.5 and figures.overall.left == 1
    assert worklist.left_today(reviewer, TODAY) == 1 or worklist.left_today(user_named("lead"), TODAY) == 1


def test_a_follow_up_review_is_credited_to_the_contact_before_it(ctx):
    yesterday = TODAY - timedelta(days=1)
    contacted, untouched, middle = add_review(at(yesterday, 8)), add_review(at(yesterday, 9)), add_review(at(yesterday, 10), rating=3)
    worklist.form_list(TODAY, at(TODAY, 10), ZONE)
    reviewer, lead = user_named("reviewer"), user_named("lead")
    first = worklist.record_contact(contacted, lead, "phone", "unresolved", "", at(TODAY, 10, 30), at(TODAY, 10, 31))
    second = worklist.record_contact(contacted, reviewer, "phone", "resolved", "", at(TODAY, 11), at(TODAY, 11, 1))
    worklist.record_contact(contacted, lead, "chat", "explained", "", at(TODAY, 15), at(TODAY, 15, 1))  # after the follow-up
    credited = worklist.record_follow_up(contacted, "商家处理很及时，换了新机", at(TODAY, 14), None, at(TODAY, 16))
    assert credited.id == second.id != first.id and contacted.follow_up_contact_id == second.id
    assert worklist.record_follow_up(untouched, "还是不行", at(TODAY, 14), None, at(TODAY, 16)) is None
    worklist.record_contact(middle, reviewer, "phone", "resolved", "", at(TODAY, 11), at(TODAY, 11, 1))
    figures = worklist.day_figures(TODAY, ZONE)
    # contacted negative reviews: one (the middle review is not negative); it got a credited follow-up
    assert (figures.overall.contacted_negative, figures.overall.followed_up, figures.overall.follow_up_rate) == (1, 1, 1.0)
    assert figures.by_reviewer[reviewer.id].followed_up == 1
    # a contact recorded after an uncredited follow-up does not take the credit backwards
    worklist.record_contact(untouched, reviewer, "phone", "resolved", "", at(TODAY, 17), at(TODAY, 17, 1))
    assert untouched.follow_up_contact_id is None
    with pytest.raises(worklist.ReviewRefused):
        worklist.record_follow_up(untouched, "x", at(TODAY, 20), None, at(TODAY, 16))  # in the future


def test_the_reply_window_closes_after_30_days_and_at_a_follow_up(ctx):
    written = at(TODAY - timedelta(days=1), 9)
    review = add_review(written)
    assert worklist.reply_window(review, written + timedelta(days=1)).status == "on_time"
    assert worklist.reply_window(review, written + timedelta(days=25)).status == "at_risk"  # the last 25 %
    closed = worklist.reply_window(review, written + timedelta(days=30))
    assert (closed.status, closed.is_open, closed.closes_at) == ("overdue", False, written + timedelta(days=30))
    with pytest.raises(worklist.ReviewRefused, match="closed"):
        worklist.check_reply(review, "亲，抱歉", written + timedelta(days=30, minutes=1))
    worklist.check_reply(review, "亲，抱歉", written + timedelta(days=29))
    worklist.record_follow_up(review, "追评内容", written + timedelta(days=2), None, written + timedelta(days=3))
    window = worklist.reply_window(review, written + timedelta(days=3))
    assert window.closed_by_follow_up and not window.is_open
    with pytest.raises(worklist.ReviewRefused, match="follow-up"):
        worklist.handle(review, user_named("reviewer"), "replied", written + timedelta(days=3), reply="亲，抱歉")


def test_a_reply_longer_than_the_platform_allows_is_refused_and_a_lead_can_change_the_limit(ctx):
    review = add_review(at(TODAY - timedelta(days=1), 9))
    now = at(TODAY, 11)
    with pytest.raises(worklist.ReviewRefused, match="501"):
        worklist.handle(review, user_named("reviewer"), "replied", now, reply="好" * 501)
    worklist.check_reply(review, "好" * 500, now)
    set_setting("review_windows", {"tmall": {"max_chars": 200}})
    with pytest.raises(worklist.ReviewRefused, match="200"):
        worklist.check_reply(review, "好" * 201, now)


def test_forbidden_offers_are_found_and_a_reply_with_one_is_flagged(ctx):
    assert worklist.forbidden_in("亲，好评返现5元哦") == ["好评返现"]
    assert worklist.forbidden_in("麻烦您 删 评，我们给您红包") == ["删评", "红包"]
    assert worklist.forbidden_in("已为您安排换新，请注意查收") == []
    review = add_review(at(TODAY - timedelta(days=1), 9))
    worklist.handle(review, user_named("reviewer"), "replied", at(TODAY, 11), reply="亲，改评后联系客服领红包")
    assert review.reply_flagged and review.state == "handled"


def test_a_case_of_another_order_is_not_linked(ctx, make_case):
    case = db.session.get(Case, make_case(order_no="TB-1"))
    review = add_review(at(TODAY - timedelta(days=1), 9), order_no="TB-2")
    with pytest.raises(worklist.ReviewRefused):
        worklist.link_case(review, case, user_named("reviewer"))
    same = add_review(at(TODAY - timedelta(days=1), 10), order_no="TB-1", text="另一条")
    worklist.handle(same, user_named("reviewer"), "case", at(TODAY, 11), case=case)
    assert same.case_id == case.id and same.outcome == "case"
    assert [event.action for event in db.session.scalars(TimelineEvent.for_subject("case", case.id))][0] == "case_review_linked"


def test_weekly_causes_count_confirmed_else_suggested_causes(ctx):
    for number, (week_back, cause) in enumerate(((0, "物流"), (0, "物流"), (1, "物流"), (2, "安装使用"))):
        day = TODAY - timedelta(weeks=week_back)
        review = add_review(at(day - timedelta(days=1), 9), text=f"{cause}{number}")
        review.list_date, review.cause = day, cause if week_back == 0 else None
        review.suggested_cause = cause
    mondays, counts = worklist.weekly_causes(TODAY, 4, ZONE)
    assert mondays[-1] == date(2026, 11, 30) and len(mondays) == 4
    assert counts == {"物流": [0, 0, 1, 2], "安装使用": [0, 1, 0, 0]}
