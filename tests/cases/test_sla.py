"""The clocks are pure functions of the case, the policy and a given now: no sleeping, no database."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from cases import sla
from cases.sla import AT_RISK, MET, MISSED, ON_TIME, OVERDUE, PAUSED, CaseFacts, Override, Rules

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, a Friday
H = timedelta(hours=1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def facts(**overrides) -> CaseFacts:
    values = {"kind": "refund_only", "category": "damaged_on_arrival", "priority": 2, "state": "in_progress", "received_at": T0}
    values.update(overrides)
    return CaseFacts(**values)


def clock(case, key, now, rules=None):
    found = [c for c in (rules or Rules()).clocks(case, now) if c.key == key]
    assert found, f"no {key} clock"
    return found[0]


def test_reply_clock_on_time_at_risk_overdue_and_met():
    case = facts()
    assert clock(case, "reply", T0 + H).status == ON_TIME
    assert clock(case, "reply", T0 + H).due_at == T0 + 3 * H
    # less than a quarter of 3 h left: at risk from 2h15
    assert clock(case, "reply", T0 + timedelta(hours=2, minutes=14)).status == ON_TIME
    assert clock(case, "reply", T0 + timedelta(hours=2, minutes=15)).status == AT_RISK
    late = clock(case, "reply", T0 + 4 * H)
    assert late.status == OVERDUE and late.remaining == -H and late.due_at == T0 + 3 * H
    assert clock(facts(first_reply_at=T0 + H), "reply", T0 + 5 * H).status == MET
    assert clock(facts(first_reply_at=T0 + 4 * H), "reply", T0 + 5 * H).status == MISSED


def test_on_time_clock_says_when_it_turns_at_risk_and_then_overdue():
    running = clock(facts(), "reply", T0)
    assert running.changes_at == T0 + timedelta(hours=2, minutes=15)
    at_risk = clock(facts(), "reply", T0 + timedelta(hours=2, minutes=30))
    assert at_risk.changes_at == T0 + 3 * H
    assert clock(facts(), "reply", T0 + 4 * H).changes_at is None


def test_a_case_shows_all_its_running_clocks():
    case = facts(kind="return_refund", first_reply_at=T0 + H, routed_at=T0 + 2 * H, return_received_at=T0 + 3 * H)
    keys = {c.key for c in Rules().clocks(case, T0 + 4 * H)}
    assert keys == {"reply", "progress", "no_response", "refund"}
    dispute = facts(kind="dispute", category="platform_dispute")
    assert {c.key for c in Rules().clocks(dispute, T0)} == {"reply", "dispute"}
    lost = facts(category="logistics", routed_at=T0)
    assert "courier" in {c.key for c in Rules().clocks(lost, T0)}
    presales = facts(kind="inquiry")
    assert "abnormal" in {c.key for c in Rules().clocks(presales, T0)}
    closed = facts(state="closed", closed_at=T0 + 5 * H)
    assert [c.key for c in Rules().clocks(closed, T0 + 6 * H)] == ["satisfaction"]


def test_clocks_come_most_urgent_first():
    case = facts(kind="return_refund", first_reply_at=T0, return_received_at=T0)
    clocks = Rules().clocks(case, T0 + 9 * H)
    assert clocks[0].key == "progress" and clocks[0].status == OVERDUE  # 8 h progress update missed
    assert sla.nearest(clocks).key == "progress"


def test_progress_update_repeats_from_the_last_update():
    case = facts(first_reply_at=T0, last_buyer_update_at=T0 + 7 * H)
    progress = clock(case, "progress", T0 + 9 * H)
    assert progress.status == ON_TIME and progress.due_at == T0 + 15 * H


def test_refund_clock_starts_when_the_return_reaches_the_warehouse():
    case = facts(kind="return_refund", first_reply_at=T0, return_received_at=T0 + 10 * H)
    assert clock(case, "refund", T0 + 11 * H).due_at == T0 + 58 * H
    assert clock(facts(kind="return_refund", return_received_at=T0, refunded_at=T0 + 47 * H), "refund", T0 + 50 * H).status == MET


def test_waiting_for_the_buyer_pauses_and_resumes_the_clock():
    pauses = sla.pause_started([], T0 + H)
    case = facts(state="waiting", pauses=pauses)
    paused = clock(case, "reply", T0 + 10 * H)
    assert paused.status == PAUSED and paused.remaining == 2 * H and paused.due_at is None and paused.changes_at is None
    resumed = facts(pauses=sla.pause_ended(pauses, T0 + 10 * H))
    again = clock(resumed, "reply", T0 + 10 * H)
    assert again.status == ON_TIME and again.due_at == T0 + 12 * H
    assert clock(resumed, "reply", T0 + 12 * H).status == OVERDUE


def test_a_pause_before_a_clock_started_does_not_count_for_it():
    case = facts(kind="return_refund", first_reply_at=T0, pauses=[[T0.isoformat(), (T0 + 5 * H).isoformat()]],
                 return_received_at=T0 + 6 * H)
    assert clock(case, "refund", T0 + 7 * H).due_at == T0 + 54 * H


def test_an_overdue_clock_stays_overdue_while_paused():
    case = facts(state="waiting", pauses=sla.pause_started([], T0 + 4 * H))
    assert clock(case, "reply", T0 + 5 * H).status == OVERDUE


def test_big_promotion_mode_tightens_deadlines():
    assert clock(facts(), "reply", T0, Rules(promo=True)).due_at == T0 + 2 * H
    assert clock(facts(), "reply", T0, Rules(promo=False)).due_at == T0 + 3 * H


def test_the_most_specific_override_wins():
    overrides = [
        Override("reply", None, None, 240, 200),
        Override("reply", "complaint", None, 120, 60),
        Override("reply", None, 0, 90, 45),
        Override("reply", "complaint", 0, 30, 15),
    ]
    rules = Rules(overrides)
    assert clock(facts(), "reply", T0, rules).due_at == T0 + 4 * H
    assert clock(facts(kind="complaint"), "reply", T0, rules).due_at == T0 + 2 * H
    assert clock(facts(priority=0), "reply", T0, rules).due_at == T0 + timedelta(minutes=90)
    assert clock(facts(kind="complaint", priority=0), "reply", T0, rules).due_at == T0 + timedelta(minutes=30)
    assert clock(facts(kind="complaint", priority=0), "reply", T0, Rules(overrides, promo=True)).due_at == T0 + timedelta(minutes=15)


def test_at_risk_share_is_a_setting():
    assert clock(facts(), "reply", T0 + timedelta(hours=1, minutes=31), Rules(at_risk_percent=50)).status == AT_RISK
    assert clock(facts(), "reply", T0 + timedelta(hours=1, minutes=31), Rules(at_risk_percent=25)).status == ON_TIME


def business_rules():
    hours = sla.BusinessHours(time(9), time(18), frozenset(range(5)), SHANGHAI)  # Monday to Friday
    return Rules(calendar=hours)


def test_business_hours_skip_nights_and_weekends():
    friday_5pm = datetime(2026, 11, 20, 17, 0, tzinfo=SHANGHAI)
    case = facts(received_at=friday_5pm)
    due = clock(case, "reply", friday_5pm, business_rules()).due_at
    # one hour on Friday, the other two on Monday from 09:00
    assert due == datetime(2026, 11, 23, 11, 0, tzinfo=SHANGHAI)
    saturday = datetime(2026, 11, 21, 12, 0, tzinfo=SHANGHAI)
    weekend = clock(case, "reply", saturday, business_rules())
    assert weekend.status == ON_TIME and weekend.remaining == 2 * H


def test_business_hours_request_received_at_night_starts_next_morning():
    night = datetime(2026, 11, 18, 23, 30, tzinfo=SHANGHAI)
    due = clock(facts(received_at=night), "reply", night, business_rules()).due_at
    assert due == datetime(2026, 11, 19, 12, 0, tzinfo=SHANGHAI)


def test_summary_gives_the_colour_at_any_later_moment():
    clocks = Rules().clocks(facts(), T0)
    due, risk = sla.summary(clocks)
    assert (due, risk) == (T0 + 3 * H, T0 + timedelta(hours=2, minutes=15))
    assert sla.status_at(due, risk, T0 + H) == ON_TIME
    assert sla.status_at(due, risk, T0 + timedelta(hours=2, minutes=20)) == AT_RISK
    assert sla.status_at(due, risk, T0 + 3 * H) == OVERDUE
    assert sla.next_status_change(due, risk, T0 + H) == risk
    assert sla.next_status_change(due, risk, T0 + timedelta(hours=2, minutes=20)) == due
    assert sla.next_status_change(due, risk, T0 + 4 * H) is None


@pytest.mark.parametrize("weekdays", [frozenset()])
def test_a_calendar_without_working_days_is_refused(weekdays):
    hours = sla.BusinessHours(time(9), time(18), weekdays, SHANGHAI)
    with pytest.raises(ValueError):
        hours.add(T0, 60)
