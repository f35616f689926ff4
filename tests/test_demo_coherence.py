"""The demo shop tells one story: nothing in it contradicts itself (a new unassigned case with an approved
compensation, a closed case without its cause, a review handled before it was written …).

Each invariant is a query for the rows that break it; the demo data is built as `flask demo-data` builds it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

import demo
from models import db, utcnow

# name -> SQL returning the ids of the rows that break the invariant
INVARIANTS = {
    # compensation
    "compensation on a case nobody has started": """
        SELECT c.id FROM compensations c JOIN cases k ON k.id = c.case_id WHERE k.state = 'new'""",
    "compensation on an unassigned case": """
        SELECT c.id FROM compensations c JOIN cases k ON k.id = c.case_id WHERE k.assignee_id IS NULL""",
    "compensation asked before the case came in": """
        SELECT c.id FROM compensations c JOIN cases k ON k.id = c.case_id WHERE c.created_at < k.received_at""",
    "compensation asked after the case was closed": """
        SELECT c.id FROM compensations c JOIN cases k ON k.id = c.case_id
        WHERE k.closed_at IS NOT NULL AND c.created_at > k.closed_at""",
    "compensation still waiting on a closed case": """
        SELECT c.id FROM compensations c JOIN cases k ON k.id = c.case_id
        WHERE k.state = 'closed' AND c.status = 'pending'""",
    "compensation decided before it was asked, or paid before it was decided": """
        SELECT id FROM compensations WHERE decided_at < created_at OR paid_at < COALESCE(decided_at, created_at)""",
    "compensation paid, approved or refused without who and when": """
        SELECT id FROM compensations
        WHERE (status IN ('approved', 'paid', 'rejected') AND (decided_at IS NULL OR decided_by_id IS NULL))
           OR (status = 'paid' AND (paid_at IS NULL OR paid_by_id IS NULL))""",
    "compensation on the case's timeline after the case was closed": """
        SELECT e.id FROM timeline_events e JOIN cases k ON k.id = e.subject_id
        WHERE e.subject_type = 'case' AND e.action LIKE 'compensation%' AND e.created_at > k.closed_at""",
    "compensation in the future": "SELECT id FROM compensations WHERE created_at > :now OR decided_at > :now OR paid_at > :now",
    # cases
    "closed case without its closure": """
        SELECT id FROM cases WHERE state = 'closed' AND (closed_at IS NULL OR resolved_at IS NULL
            OR COALESCE(cause, '') = '' OR COALESCE(result, '') = '' OR COALESCE(responsibility, '') = '')""",
    "open case with a closing time": "SELECT id FROM cases WHERE state != 'closed' AND closed_at IS NOT NULL",
    "resolved case without its time": "SELECT id FROM cases WHERE state = 'resolved' AND resolved_at IS NULL",
    "case steps out of order": """
        SELECT id FROM cases WHERE first_reply_at < received_at OR routed_at < received_at
            OR department_response_at < routed_at OR resolved_at < received_at OR closed_at < resolved_at
            OR followed_up_at < closed_at OR received_at > :now OR closed_at > :now""",
    "case being worked without an assignee": "SELECT id FROM cases WHERE state != 'new' AND assignee_id IS NULL",
    # handoffs
    "handoff raised before its case came in": """
        SELECT h.id FROM handoffs h JOIN cases k ON k.id = h.case_id WHERE h.created_at < k.received_at""",
    "handoff still open a day after its case was closed": """
        SELECT h.id FROM handoffs h JOIN cases k ON k.id = h.case_id
        WHERE k.state = 'closed' AND h.state != 'closed' AND k.closed_at < :day_ago""",
    "handoff steps out of order": """
        SELECT id FROM handoffs WHERE acknowledged_at < created_at OR done_at < created_at OR closed_at < created_at
            OR closed_at < done_at OR created_at > :now""",
    # reviews
    "review handled, replied or followed up before it was written": """
        SELECT id FROM reviews WHERE handled_at < reviewed_at OR replied_at < reviewed_at OR follow_up_at < reviewed_at""",
    "review handled before it arrived here": "SELECT id FROM reviews WHERE handled_at < created_at",
    "review handled without when and by whom": """
        SELECT id FROM reviews WHERE state = 'handled' AND (handled_at IS NULL OR handled_by_id IS NULL)""",
    "review in the future": "SELECT id FROM reviews WHERE reviewed_at > :now OR handled_at > :now",
}


@pytest.fixture(params=[7, 23], ids=lambda seed: f"seed{seed}")
def demo_shop(app, request):
    with app.app_context():
        demo.create(case_count=200, seed=request.param)
        yield app


def broken(sql: str) -> list[int]:
    now = utcnow().replace(tzinfo=None)  # models.UTCDateTime stores naive UTC on both databases
    return db.session.execute(sa.text(sql), {"now": now, "day_ago": now - timedelta(days=1)}).scalars().all()


def test_the_demo_data_tells_one_story(demo_shop):
    counts = {table: db.session.scalar(sa.text(f"SELECT count(*) FROM {table}"))
              for table in ("cases", "compensations", "handoffs", "reviews")}
    assert all(counts.values()), counts  # an empty table would keep every invariant
    failures = {name: ids[:10] for name, sql in INVARIANTS.items() if (ids := broken(sql))}
    assert failures == {}


def test_the_demo_has_compensation_in_every_state_on_cases_being_worked(demo_shop):
    rows = db.session.execute(sa.text(
        "SELECT c.status, c.forwarded_at IS NOT NULL, k.state FROM compensations c JOIN cases k ON k.id = c.case_id")).all()
    assert {status for status, _, _ in rows} == {"pending", "approved", "rejected", "paid"}
    assert any(status == "pending" and forwarded for status, forwarded, _ in rows)  # waiting for the manager
    assert all(state != "new" for _, _, state in rows)
