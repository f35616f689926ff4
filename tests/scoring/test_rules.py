"""The monthly KPI rules of DOMAIN.md §5: every row of the table at and around its thresholds, a worked
month for three agents, the bonus split to the fen, and the validation of a lead's edit.

Figures are percentage numbers as the module documents: Decimal("0.35") is 0.35 %.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal as D

import pytest

from scoring import rules
from scoring.rules import DEFAULT_TMALL_RULES, copy_for, score_month, score_part, split_bonus, validate, weight_warnings

PARTS = {part["key"]: part for part in DEFAULT_TMALL_RULES["parts"]}


def points(key, figure, industry=None) -> D:
    return score_part(PARTS[key], figure, industry).points


# --- the table, row by row ------------------------------------------------------------------------

@pytest.mark.parametrize(("figure", "expected"), [
    (D("0.25"), 15),   # exactly 0.1 percentage point below 0.35
    (D("0.10"), 15),   # well below
    (D("0.26"), 0),    # 0.09 below
    (D("0.35"), 0),    # equal
    (D("0.40"), 0),    # above
])
def test_dispute_rate_needs_at_least_a_tenth_of_a_point_below_industry(figure, expected):
    assert points("dispute_rate", figure, D("0.35")) == expected


@pytest.mark.parametrize(("figure", "expected"), [(D("60.00"), 0), (D("60.01"), 10), (D("59.99"), 0)])
def test_self_completion_must_be_strictly_above_industry(figure, expected):
    assert points("self_completion_rate", figure, D("60.00")) == expected


@pytest.mark.parametrize(("refund_only", "return_and_refund", "expected"), [
    (D("1.49"), D("3.99"), 5),   # both below
    (D("1.49"), D("4.00"), 2),   # return-and-refund equal: not below
    (D("1.50"), D("3.99"), 3),   # refund-only equal: not below
    (D("1.50"), D("4.00"), 0),
    (D("1.60"), D("4.10"), 0),
])
def test_each_completion_time_scores_on_its_own(refund_only, return_and_refund, expected):
    industry = {"refund_only": D("1.50"), "return_and_refund": D("4.00")}
    figure = {"refund_only": refund_only, "return_and_refund": return_and_refund}
    assert points("completion_time", figure, industry) == expected


def dsr(description, service=D(50), logistics=D(50)):
    return {"description": description, "service": service, "logistics": logistics}


@pytest.mark.parametrize(("figure", "expected"), [
    (dsr(D(40)), 20), (dsr(D("39.99")), 15), (dsr(D(30)), 15), (dsr(D("29.99")), 10),
    (dsr(D(20)), 10), (dsr(D("19.99")), 0), (dsr(D(-5)), 0),
    (dsr(D(45), D(41), D("39.99")), 15),   # one of three below the tier decides
    (dsr(D(50), D("19.99"), D(60)), 0),
])
def test_dsr_tiers_are_reached_by_the_lowest_of_the_three(figure, expected):
    assert points("dsr", figure) == expected


def test_dsr_reason_names_the_lowest_rating():
    score = score_part(PARTS["dsr"], dsr(D(45), D("35.5"), D(41)), None)
    assert score.reason == "DSR (the lowest of 3: 服务态度) 35.5% reaches the tier >= 30%: 15 points."


@pytest.mark.parametrize(("figure", "expected"), [
    (D("20.01"), 15), (D(20), 10), (D("10.01"), 10), (D(10), 5), (D("5.01"), 5), (D(5), 0), (D(0), 0), (D(100), 15),
])
def test_retained_returns_need_strictly_more_than_each_tier(figure, expected):
    assert points("retained_returns", figure) == expected


@pytest.mark.parametrize(("clear_rate", "follow_up_rate", "expected"), [
    (D(80), D(50), 8), (D("79.99"), D(50), 3), (D(80), D("49.99"), 5), (D("79.99"), D("49.99"), 0), (D(100), D(100), 8),
])
def test_review_management_targets(clear_rate, follow_up_rate, expected):
    assert points("review_management", {"clear_rate": clear_rate, "follow_up_rate": follow_up_rate}) == expected


@pytest.mark.parametrize(("complaints", "upheld", "expected"), [
    (0, 0, 5),            # no complaints at all: as good as none upheld
    (3, 0, 5),            # none upheld
    (10000, 4999, 3),     # 49.99 %
    (2, 1, 0),            # exactly 50 %: "< 50 %" is not met
    (10000, 5001, 0),     # 50.01 %
    (4, 4, 0),            # all upheld
    (3, 1, 3),            # 33.33 %
])
def test_complaints_by_the_share_upheld(complaints, upheld, expected):
    assert points("complaints", {"complaints": complaints, "upheld": upheld}) == expected


def test_complaint_reasons_show_the_share():
    assert (score_part(PARTS["complaints"], {"complaints": 2, "upheld": 1}).reason
            == "1 of 2 complaints upheld (50.00%), no tier reached (the last one is < 50%): 0 points.")
    assert score_part(PARTS["complaints"], {"complaints": 0, "upheld": 0}).reason == "No complaints this month: 5 points."


@pytest.mark.parametrize("counts", [{"complaints": 2, "upheld": 3}, {"complaints": -1, "upheld": 0},
                                    {"complaints": D("2.5"), "upheld": 1}])
def test_impossible_complaint_counts_score_zero_with_a_reason(counts):
    score = score_part(PARTS["complaints"], counts)
    assert score.points == 0 and "not valid" in score.reason


@pytest.mark.parametrize(("level", "expected"), [("active", 5), ("passive", 2), ("uncooperative", -2), ("lazy", 0)])
def test_teamwork_levels(level, expected):
    assert points("teamwork", level) == expected


@pytest.mark.parametrize(("judged", "expected"), [
    (0, 0), (10, 10), (D("7.5"), D("7.5")), (11, 0), (-1, 0),   # outside 0–10 is refused, not clamped
])
def test_execution_is_the_leads_points_within_bounds(judged, expected):
    assert points("execution", judged) == expected


def test_execution_outside_its_range_says_so():
    assert score_part(PARTS["execution"], 11).reason == "执行力 11 is outside 0 to 10: 0 points."


@pytest.mark.parametrize(("done", "expected"), [(True, 5), (False, 0)])
def test_attendance_done_or_not(done, expected):
    assert points("attendance", done) == expected


# --- missing figures: 0 with a reason, never an exception ------------------------------------------

def test_missing_values_score_zero_and_say_what_is_missing():
    assert score_part(PARTS["dispute_rate"], D("0.2"), None).reason == "No industry value entered for 退款纠纷率."
    assert score_part(PARTS["dispute_rate"], None, D("0.3")).reason == "No figure entered for 退款纠纷率."
    assert score_part(PARTS["execution"], None).reason == "No judgement entered for 执行力."
    assert score_part(PARTS["attendance"], None).reason == "No judgement entered for 考勤."
    assert score_part(PARTS["complaints"], None).reason == "No figure entered for 投诉维权."
    partial = score_part(PARTS["completion_time"], {"refund_only": D(1)}, {"refund_only": D(2)})
    assert partial.points == 2
    assert partial.reason == ("退款完结时长 (仅退款) 1 is below the industry value 2: 2 points. "
                              "No figure entered for 退款完结时长 (退货退款).")
    assert score_part(PARTS["dsr"], {"description": D(50), "service": D(50)}).reason == "No figure entered for DSR (物流服务)."


def test_a_float_is_not_a_figure():
    score = score_part(PARTS["self_completion_rate"], 60.5, D(60))
    assert score.points == 0 and score.reason == "The figure for 退款自主完结率 is not a number: 60.5."


def test_an_empty_month_scores_zero_without_raising():
    month = score_month(DEFAULT_TMALL_RULES, {}, {}, {})
    assert month.total == 0 and set(month.parts) == set(PARTS)
    assert all(part.points == 0 for part in month.parts.values())


def test_reason_sentences_let_the_page_translate_the_fixed_part():
    score = score_part(PARTS["dispute_rate"], D("0.25"), D("0.35"))
    assert score.reason == ("退款纠纷率 0.25% is 0.10 percentage points below the industry value 0.35% "
                            "(at least 0.1 needed): 15 points.")
    (template, values), = score.sentences
    assert template == rules.MARGIN_MET and template % values == score.reason


# --- a worked month ---------------------------------------------------------------------------------

INDUSTRY = {
    "dispute_rate": D("0.30"),
    "self_completion_rate": D("60.00"),
    "completion_time": {"refund_only": D("1.50"), "return_and_refund": D("4.00")},   # days
}
FIGURES = {
    "wang": {
        "dispute_rate": D("0.18"),                                  # 0.12 below 0.30         → 15
        "self_completion_rate": D("65.20"),                         # above 60.00             → 10
        "completion_time": {"refund_only": D("1.20"),               # below 1.50              →  2
                            "return_and_refund": D("4.50")},        # not below 4.00          →  0
        "dsr": dsr(D(42), D("35.5"), D(38)),                        # lowest 35.5 ≥ 30        → 15
        "retained_returns": D("22.5"),                              # > 20                    → 15
        "review_management": {"clear_rate": D(85),                  # ≥ 80                    →  5
                              "follow_up_rate": D(40)},             # < 50                    →  0
        "complaints": {"complaints": 3, "upheld": 0},               # none upheld             →  5
    },
    "li": {
        "dispute_rate": D("0.25"),                                  # only 0.05 below         →  0
        "self_completion_rate": D("60.00"),                         # equal, not above        →  0
        "completion_time": {"refund_only": D("1.40"),               # below                   →  2
                            "return_and_refund": D("3.20")},        # below                   →  3
        "dsr": dsr(D(45), D(41), D(40)),                            # lowest exactly 40       → 20
        "retained_returns": D(10),                                  # not > 10, but > 5       →  5
        "review_management": {"clear_rate": D(80),                  # exactly 80              →  5
                              "follow_up_rate": D(50)},             # exactly 50              →  3
        "complaints": {"complaints": 4, "upheld": 1},               # 25 % < 50 %             →  3
    },
    "zhao": {
        "dispute_rate": D("0.40"),                                  # above industry          →  0
        "self_completion_rate": D(55),                              #                         →  0
        "completion_time": {"refund_only": D(2), "return_and_refund": D(5)},  #               →  0
        "dsr": dsr(D("19.99"), D(25), D(30)),                       # lowest 19.99 < 20       →  0
        # no retained-returns figure this month                                               →  0
        "review_management": {"clear_rate": D(60), "follow_up_rate": D(20)},  #               →  0
        "complaints": {"complaints": 2, "upheld": 2},               # all upheld              →  0
    },
}
JUDGEMENTS = {
    "wang": {"execution": 8, "teamwork": "active", "attendance": True},              # 8 + 5 + 5
    "li": {"execution": 7, "teamwork": "passive", "attendance": True},               # 7 + 2 + 5
    "zhao": {"execution": 0, "teamwork": "uncooperative", "attendance": False},      # 0 − 2 + 0
}
# wang: 15 + 10 + 2 + 15 + 15 + 5 + 8 + 5 + 5 + 5 = 85
# li:    0 +  0 + 5 + 20 +  5 + 8 + 7 + 3 + 2 + 5 = 55
# zhao:  0 +  0 + 0 +  0 +  0 + 0 + 0 + 0 − 2 + 0 = −2
EXPECTED_TOTALS = {"wang": D(85), "li": D(55), "zhao": D(-2)}


def test_worked_month_for_three_agents():
    months = {agent: score_month(DEFAULT_TMALL_RULES, FIGURES[agent], INDUSTRY, JUDGEMENTS[agent]) for agent in FIGURES}
    assert {agent: month.total for agent, month in months.items()} == EXPECTED_TOTALS
    assert {key: part.points for key, part in months["li"].parts.items()} == {
        "dispute_rate": 0, "self_completion_rate": 0, "completion_time": 5, "dsr": 20, "retained_returns": 5,
        "review_management": 8, "execution": 7, "complaints": 3, "teamwork": 2, "attendance": 5,
    }
    assert months["zhao"].parts["retained_returns"].reason == "No figure entered for 退货挽回."


def test_worked_month_bonus_split():
    # Positive totals 85 + 55 = 140; zhao (−2) is left out of the sum.
    # wang: 10,000.00 × 85/140 = 6,071.428571… → 607,142 fen, remainder .857
    # li:   10,000.00 × 55/140 = 3,928.571428… → 392,857 fen, remainder .143
    # 999,999 fen handed out; the last fen goes to the larger remainder, wang's.
    shares = split_bonus(D("10000.00"), EXPECTED_TOTALS)
    assert shares == {"wang": D("6071.43"), "li": D("3928.57"), "zhao": D("0.00")}
    assert sum(shares.values()) == D("10000.00")
    assert all(share.as_tuple().exponent == -2 for share in shares.values())


# --- the bonus split --------------------------------------------------------------------------------

def test_a_total_at_or_below_zero_does_not_reduce_the_others():
    with_them = split_bonus(D("999.99"), {"a": D(30), "b": D(70), "c": D(0), "d": D(-5)})
    without = split_bonus(D("999.99"), {"a": D(30), "b": D(70)})
    assert with_them == {**without, "c": D("0.00"), "d": D("0.00")}
    # a: 99,999 fen × 30/100 = 29,999.7 fen, b: 69,999.3 fen; one fen left goes to a (remainder .7 > .3)
    assert without == {"a": D("300.00"), "b": D("699.99")}


def test_ties_go_to_the_smaller_agent_key():
    assert split_bonus(D("100.00"), {"c": D(1), "a": D(1), "b": D(1)}) == {"a": D("33.34"), "b": D("33.33"), "c": D("33.33")}
    assert split_bonus(D("0.01"), {2: D(50), 1: D(50)}) == {1: D("0.01"), 2: D("0.00")}


def test_shares_always_sum_to_the_pool():
    totals = {f"agent{n}": D(n * 7 % 13) + D("0.37") for n in range(1, 30)}
    for pool in (D("0.00"), D("0.01"), D("1234.56"), D("10000.00")):
        assert sum(split_bonus(pool, totals).values()) == pool


def test_nobody_above_zero_leaves_the_pool_unspent():
    assert split_bonus(D("5000.00"), {"a": D(0), "b": D(-2)}) == {"a": D("0.00"), "b": D("0.00")}
    assert split_bonus(D("5000.00"), {}) == {}


@pytest.mark.parametrize("pool", [D("-1.00"), D("10.001"), 10.0])
def test_a_pool_that_is_not_whole_fen_is_refused(pool):
    with pytest.raises(ValueError):
        split_bonus(pool, {"a": D(1)})


# --- the rule set as data and its validation --------------------------------------------------------

def test_defaults_hold_the_table_and_validate_cleanly():
    assert validate(DEFAULT_TMALL_RULES) == [] and weight_warnings(DEFAULT_TMALL_RULES) == []
    assert {key: part["weight"] for key, part in PARTS.items()} == {
        "dispute_rate": 15, "self_completion_rate": 10, "completion_time": 5, "dsr": 20, "retained_returns": 15,
        "review_management": 10, "execution": 10, "complaints": 5, "teamwork": 5, "attendance": 5,
    }
    assert json.loads(json.dumps(DEFAULT_TMALL_RULES)) == DEFAULT_TMALL_RULES


def no_floats(value) -> bool:
    if isinstance(value, dict):
        return all(no_floats(item) for item in value.values())
    if isinstance(value, list):
        return all(no_floats(item) for item in value)
    return not isinstance(value, float)


def test_no_floats_in_the_rules():
    assert no_floats(DEFAULT_TMALL_RULES)


def test_copy_for_is_a_deep_editable_copy():
    before = copy.deepcopy(DEFAULT_TMALL_RULES)
    jd = copy_for("jd_pop")
    assert jd["scope"] == "jd_pop" and jd["based_on"] == "tmall" and jd["parts"] == DEFAULT_TMALL_RULES["parts"]
    jd["parts"][0]["weight"] = 30
    jd["parts"][3]["tiers"][0]["percent"] = "35"
    jd["parts"][8]["levels"].append({"key": "leader", "name": "带头", "points": 5})
    assert DEFAULT_TMALL_RULES == before
    assert validate(jd) == [] and weight_warnings(jd) == ["The weights add up to 115, not 100."]


def edited(part_key, /, **changes):
    rule_set = copy_for("shop:1")
    part = next(part for part in rule_set["parts"] if part["key"] == part_key)
    part.update(changes)
    return rule_set


@pytest.mark.parametrize(("rule_set", "expected"), [
    ({"parts": []}, ["The rule set has no parts."]),
    ("not a rule set", ["The rule set has no parts."]),
    (edited("dispute_rate", weight=-1),
     ["Part dispute_rate: the weight must be a whole number, 0 or more."]),
    (edited("dispute_rate", weight=D("15")),
     ["Part dispute_rate: the weight must be a whole number, 0 or more."]),
    (edited("dispute_rate", points=16),
     ["Part dispute_rate: points gives 16 points, more than the weight 15."]),
    (edited("dispute_rate", margin=0.1),
     ["Part dispute_rate: margin must be a decimal number such as 0.1."]),
    (edited("dispute_rate", margin="abc"),
     ["Part dispute_rate: margin must be a decimal number such as 0.1."]),
    (edited("dispute_rate", kind="lottery"), ["Part dispute_rate: unknown kind lottery."]),
    (edited("attendance", key="dispute_rate"), ["Two parts have the key dispute_rate."]),
    (edited("attendance", name=" "), ["Part attendance has no name."]),
    (edited("attendance", points=-5), ["Part attendance: points cannot be negative."]),
    (edited("attendance", points=5.0), ["Part attendance: points must be a whole number of points."]),
    (edited("dsr", tiers=[{"compare": ">=", "percent": "20", "points": 10}, {"compare": ">=", "percent": "40", "points": 20}]),
     ["Part dsr: the tiers must go from the best to the worst: each threshold past the one before and never more "
      "points than the tier before."]),
    (edited("retained_returns", tiers=[{"compare": ">", "percent": "20", "points": 5}, {"compare": ">", "percent": "10", "points": 10}]),
     ["Part retained_returns: the tiers must go from the best to the worst: each threshold past the one before and never "
      "more points than the tier before."]),
    (edited("dsr", tiers=[{"compare": "<", "percent": "40", "points": 20}]),
     ["Part dsr: the comparison < is not allowed in tiers."]),
    (edited("dsr", tiers=[{"compare": ">=", "percent": "40", "points": 25}]),
     ["Part dsr: tiers gives 25 points, more than the weight 20."]),
    (edited("dsr", combine="average"), ["Part dsr: unknown way average to combine the items."]),
    (edited("completion_time", items=[{"key": "refund_only", "name": "仅退款", "points": 3},
                                      {"key": "return_and_refund", "name": "退货退款", "points": 3}]),
     ["Part completion_time: items gives 6 points, more than the weight 5."]),
    (edited("completion_time", items=[{"key": "refund_only", "name": "仅退款", "points": 2},
                                      {"key": "refund_only", "name": "退货退款", "points": 3}]),
     ["Part completion_time: items has the key refund_only twice."]),
    (edited("review_management", targets=[]), ["Part review_management: targets needs at least one entry."]),
    (edited("complaints", tiers=[{"compare": "<", "percent": "50", "points": 3}, {"compare": "<", "percent": "20", "points": 4}]),
     ["Part complaints: the tiers must go from the best to the worst: each threshold past the one before and never more "
      "points than the tier before."]),
    (edited("complaints", no_complaints_points=6),
     ["Part complaints: no_complaints_points gives 6 points, more than the weight 5."]),
    (edited("teamwork", levels=[{"key": "active", "name": "积极", "points": 6}]),
     ["Part teamwork: levels gives 6 points, more than the weight 5."]),
    (edited("execution", min_points=8, max_points=4), ["Part execution: the lowest points are above the highest."]),
    (edited("execution", max_points=12), ["Part execution: max_points gives 12 points, more than the weight 10."]),
])
def test_broken_edits_are_refused_with_a_message(rule_set, expected):
    assert validate(rule_set) == expected


def test_negative_points_are_allowed_for_judgement_levels_only():
    assert validate(edited("teamwork", levels=[{"key": "active", "name": "积极", "points": 5},
                                               {"key": "hostile", "name": "对抗", "points": -5}])) == []


def test_messages_are_plain_strings():
    assert all(type(message) is str for message in validate(edited("dispute_rate", weight=-1, kind="x")))


def test_weights_that_do_not_add_up_to_100_warn_but_validate():
    rule_set = edited("attendance", weight=0, points=0)
    assert validate(rule_set) == []
    assert weight_warnings(rule_set) == ["The weights add up to 95, not 100."]
