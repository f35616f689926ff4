"""Demo cases are believable and their stored deadlines true; the board's query count does not grow with cases."""

from __future__ import annotations

import re
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy import event

import demo
import live
from cases import sla
from cases.labels import CASE_CATEGORIES, CASE_KINDS, FLAGS, RESPONSIBILITIES, WAITING_FOR
from demo import cases as demo_cases
from models import (
    Case,
    TimelineEvent,
    db,
    utcnow,
)

HX = {"HX-Request": "true"}
PHONE = re.compile(r"1[358]\d{9}")
# Stored and fresh deadlines are the same instant; float seconds in the clock arithmetic may differ by a microsecond.
SAME_INSTANT = timedelta(seconds=1)


def close_enough(stored: datetime | None, fresh: datetime | None) -> bool:
    if stored is None or fresh is None:
        return stored is fresh
    return abs(stored - fresh) <= SAME_INSTANT


# --- the demo cases -------------------------------------------------------------------

def test_demo_texts_fit_every_category_kind_and_product():
    assert set(demo_cases.CATEGORY_KINDS) == set(CASE_CATEGORIES) == set(demo_cases.SUMMARIES) == set(demo_cases.CAUSES)
    assert {kind for _, kind, _ in demo_cases.COVERAGE} == set(CASE_KINDS) == set(demo_cases.RESULTS)
    for category in CASE_CATEGORIES:
        assert demo_cases.products_for(category)
        for _name, line, _prices, _installable in demo_cases.products_for(category):
            assert demo_cases.summaries_for(category, line), (category, line)
    assert all(responsibility in RESPONSIBILITIES for causes in demo_cases.CAUSES.values() for _, responsibility, _ in causes)


def test_demo_data_covers_the_whole_loop(app):
    with app.app_context():
        message = demo.create(300, seed=11)
        cases = db.session.scalars(sa.select(Case).order_by(Case.id)).all()
        assert "300 cases" in message and len(cases) == 300
        assert {case.kind for case in cases} == set(CASE_KINDS)
        assert {case.category for case in cases} == set(CASE_CATEGORIES)
        states = {(case.state, case.waiting_for) for case in cases}
        assert states == {("new", None), ("in_progress", None), ("resolved", None), ("closed", None)} | {
            ("waiting", reason) for reason in WAITING_FOR}
        assert len({case.platform for case in cases}) >= 4
        priorities = Counter(case.priority for case in cases)
        assert priorities.most_common(1)[0][0] == 2 and set(priorities) == {0, 1, 2, 3}
        assert any(case.assignee_id is None for case in cases) and sum(case.assignee_id is None for case in cases) < 60
        flagged = [case for case in cases if case.flag]
        assert flagged and all(case.flag in FLAGS and case.flag_note for case in flagged)

        for case in cases:
            assert case.summary and case.order_no and case.buyer_nick
            assert case.buyer_phone is None or PHONE.fullmatch(case.buyer_phone)
            assert isinstance(case.order_amount, Decimal) and case.order_amount.as_tuple().exponent == -2
            assert Decimal("39.00") <= case.order_amount <= Decimal("30000.00")
            if case.kind in ("refund_only", "return_refund"):
                assert case.refund_amount is not None and Decimal("0") < case.refund_amount <= case.order_amount
            assert case.received_at <= utcnow()
            assert case.first_reply_at is None or case.first_reply_at >= case.received_at
            if case.state == "closed":
                assert case.closed_at and case.cause and case.responsibility in RESPONSIBILITIES
                assert case.resolved_at <= case.closed_at
                assert case.followed_up_at is None or case.followed_up_at > case.closed_at
            else:
                assert case.closed_at is None and not case.cause
            if case.state == "resolved":
                assert case.resolved_at is not None
            if case.state == "new":
                assert case.first_reply_at is None
            if case.kind == "return_refund" and case.refunded_at is not None:
                assert case.return_received_at <= case.refunded_at
        assert sum(case.state != "closed" for case in cases) > 100  # a small demo is a lively board

        events = db.session.scalars(sa.select(TimelineEvent).where(TimelineEvent.subject_type == "case")).all()
        by_case = {}
        for item in events:
            by_case.setdefault(item.subject_id, []).append(item)
        for case in cases:
            history = by_case[case.id]
            assert [e.action for e in history].count("created") == 1
            assert all(case.received_at <= e.created_at <= utcnow() for e in history)
            if case.state != "new":
                assert any(e.action == "state_changed" for e in history), case.id
        closing = [e for e in events if e.action == "state_changed" and e.detail.get("to") == "closed"]
        assert len(closing) == sum(case.state == "closed" for case in cases) + sum(case.reopen_count for case in cases
                                                                                    if case.state != "closed")


def test_demo_deadlines_are_the_rules_deadlines_with_overdue_and_at_risk_cases(app):
    with app.app_context():
        demo.create(300, seed=5)
        rules, now = sla.load_rules(), utcnow()
        statuses = Counter()
        for case in db.session.scalars(sa.select(Case)):
            due, risk = rules.deadlines(case, now)  # ours and the platform's
            assert close_enough(case.next_due_at, due) and close_enough(case.next_risk_at, risk), case.id
            statuses[sla.status_at(case.next_due_at, case.next_risk_at, now)] += 1
            if case.state == "waiting" and case.waiting_for in rules.pausing_waits:
                assert case.pauses and case.pauses[-1][1] is None
        assert statuses[sla.OVERDUE] >= 5 and statuses[sla.AT_RISK] >= 5 and statuses[sla.ON_TIME] >= 5


def test_bulk_loading_writes_the_same_cases_as_replaying_them(make_app):
    """The fast path folds each plan as caseflow would: same seed, same moment, same rows."""
    now = datetime(2026, 11, 22, 6, 30, tzinfo=UTC)
    rows = {}
    for bulk in (False, True):
        app = make_app()
        with app.app_context():
            demo.create(80, seed=3, now=now, bulk=bulk)
            cases = db.session.scalars(sa.select(Case).order_by(Case.id)).all()
            rows[bulk] = [{column: getattr(case, column) for column in demo_cases._CASE_COLUMNS if column != "version"}
                          for case in cases]
            created = db.session.scalar(sa.select(sa.func.count()).where(
                TimelineEvent.subject_type == "case", TimelineEvent.action == "created"))
            every = db.session.scalar(sa.select(sa.func.count()).where(  # demo compensations add their own events
                TimelineEvent.subject_type == "case", TimelineEvent.action.not_like("compensation%")))
            assert created == 80
            assert (every == created) is bulk  # bulk: only the "created" event
    assert len(rows[True]) == 80
    for replayed, folded in zip(rows[False], rows[True], strict=True):
        assert replayed == folded


def test_demo_data_is_repeatable_and_a_big_shop_is_mostly_closed(make_app):
    now = datetime(2026, 11, 22, 6, 30, tzinfo=UTC)
    seen = []
    for _ in range(2):
        app = make_app()
        with app.app_context():
            demo.create(2500, seed=9, now=now, bulk=True)
            seen.append(db.session.execute(sa.select(Case.order_no, Case.state, Case.received_at, Case.next_due_at)
                                           .order_by(Case.id)).all())
    assert seen[0] == seen[1]
    open_share = sum(state != "closed" for _, state, _, _ in seen[0]) / len(seen[0])
    assert 0.02 <= open_share <= 0.08
    received = sorted(at for _, state, at, _ in seen[0] if state == "closed")
    assert now - received[0] > timedelta(days=20)


# --- queries per render ------------------------------------------------------------------

@contextmanager
def counting_queries(app):
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def queries_of(app, client, url, headers=None) -> tuple[int, str]:
    """Queries of a render with every card drawn afresh: a card's cached HTML lasts until its countdown turns a
    minute, and demo deadlines fall on whole minutes from the moment the demo was made, milliseconds before, so
    whether a card is still cached would depend on the milliseconds. Drawing all of them counts the real work."""
    app.extensions.get("case_card_cache", live.FragmentCache(1)).clear()
    with counting_queries(app) as statements:
        response = client.get(url, headers=headers or {})
    assert response.status_code == 200, (url, response.status_code)
    return len(statements), response.get_data(as_text=True)


def poll_queries(app, client) -> int:
    """Queries of a board poll that finds nothing changed (retried if a clock turned in between)."""
    for _ in range(3):
        partial = client.get("/cases/", headers=HX).get_data(as_text=True)
        url = re.search(r'<section id="board"[^>]*hx-get="([^"]+)"', partial).group(1).replace("&amp;", "&")
        with counting_queries(app) as statements:
            response = client.get(url, headers=HX)
        if response.status_code == 204:
            assert response.data == b""
            return len(statements)
    pytest.fail("the board poll never answered 204")


PAGES = (("/cases/", None), ("/cases/", HX), ("/cases/list", None), ("/cases/list", HX))


def test_board_and_list_queries_do_not_grow_with_cases(app, login_as):
    client = login_as("lead")
    with app.app_context():
        demo.create(10, seed=1)
    few = {(url, bool(headers)): queries_of(app, client, url, headers) for url, headers in PAGES}
    few_poll = poll_queries(app, client)
    with app.app_context():
        demo.create(190, seed=2)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 200
    many = {(url, bool(headers)): queries_of(app, client, url, headers) for url, headers in PAGES}
    many_poll = poll_queries(app, client)

    for key in few:
        (few_count, few_html), (many_count, many_html) = few[key], many[key]
        assert many_html.count('class="case-card') > few_html.count('class="case-card') or "list" in key[0]
        assert few_count == many_count, (key, few_count, many_count)
    assert many[("/cases/list", False)][1].count("/cases/") > few[("/cases/list", False)][1].count("/cases/")
    assert few_poll == many_poll <= 3
