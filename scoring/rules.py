"""The monthly KPI score (DOMAIN.md §5): a rule set as data, its validation, scoring a month, splitting the bonus.

Pure functions, no request and no database: later work stores rule sets with history, computes the
figures from the data and shows the page.

A rule set
----------
A JSON-serialisable dict, so that it can be stored as a versioned row::

    {"scope": "tmall", "based_on": None, "parts": [part, ...]}

Every part has ``key`` (unique), ``name`` (the Chinese term shown to people), ``weight`` (a whole
number ≥ 0), ``kind`` (one of KINDS) and the fields of its kind. Points are whole numbers; thresholds are
decimal strings ("0.1", "40"), never floats. A tier or target is ``{"compare": ">=", "percent": "40",
"points": 20}``: each row keeps its own comparison, because the table says ≥ for DSR and > for retained
returns. Tiers are tried in order, the best first; the first one reached counts.

=========================  ===================================================  ===========================
kind                       fields                                               figure / judgement
=========================  ===================================================  ===========================
below_industry_by_margin   margin (percentage points), points                   Decimal; industry Decimal
above_industry             points                                               Decimal; industry Decimal
each_below_industry        items [{key, name, points}]                          {item: Decimal}; same industry
percentage_tiers           tiers, otherwise_points; with items: combine         Decimal, or {item: Decimal}
targets_met                targets [{key, name, compare, percent, points}]      {target: Decimal}
share_upheld               no_complaints_points, none_upheld_points,            {"complaints": n, "upheld": m}
                           tiers (< or <=), otherwise_points
judgement_levels           levels [{key, name, points}] (points may be < 0)     a level key
judgement_points           min_points, max_points                               Decimal or int
done_or_not                points                                               bool
=========================  ===================================================  ===========================

Units: figures and industry values are Decimal (an int is accepted, a float is not). Rates are
percentage numbers: Decimal("0.35") is 0.35 %, so the dispute rate's margin "0.1" is 0.1 percentage
point. A DSR rating is the platform's "高于同行业 x%" as x (negative for 低于同行业). Completion times are
in one unit, the same as the industry value's. A part whose figure or industry value is missing or not a
number scores 0 with a reason that names what is missing; scoring never raises for a missing figure.

Decisions
---------
- Complaints: exactly 50 % upheld gives ``otherwise_points`` (0): the table gives 3 only for "< 50 %",
  and the rule is kept in the data ("<" vs "<="), so a lead can change it. No complaints at all gives
  ``no_complaints_points`` (5, as "none upheld"): an agent with no complaints did no worse than one whose
  complaints were all rejected.
- DSR combines its three ratings by the lowest (``"combine": "lowest"``): the tier must be reached by
  every rating, the strict reading of "above industry by ≥ 40 %". An average would let an excellent
  logistics rating hide a poor service rating, and service is what the agents answer for.
- The weights of the Tmall table add up to 100; a rule set that does not is allowed (a shop may weight
  differently), so ``weight_warnings`` reports it while ``validate`` does not refuse it. As written in
  the table, review management can give 8 of its weight 10, so the best month totals 98.
- The bonus pool goes by the largest-remainder rule to the fen; see ``split_bonus``.
"""

from __future__ import annotations

import copy
import math
import operator
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from flask_babel import lazy_gettext as _l


def N_(text: str) -> str:  # noqa: N802 - marks a template for extraction; the page translates it
    return text

BELOW_INDUSTRY_BY_MARGIN = "below_industry_by_margin"
ABOVE_INDUSTRY = "above_industry"
EACH_BELOW_INDUSTRY = "each_below_industry"
PERCENTAGE_TIERS = "percentage_tiers"
TARGETS_MET = "targets_met"
SHARE_UPHELD = "share_upheld"
JUDGEMENT_LEVELS = "judgement_levels"
JUDGEMENT_POINTS = "judgement_points"
DONE_OR_NOT = "done_or_not"
KINDS = (BELOW_INDUSTRY_BY_MARGIN, ABOVE_INDUSTRY, EACH_BELOW_INDUSTRY, PERCENTAGE_TIERS, TARGETS_MET, SHARE_UPHELD,
         JUDGEMENT_LEVELS, JUDGEMENT_POINTS, DONE_OR_NOT)
JUDGEMENT_KINDS = (JUDGEMENT_LEVELS, JUDGEMENT_POINTS, DONE_OR_NOT)  # the lead's input rather than a figure

COMPARISONS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt}
HIGHER_IS_BETTER = (">=", ">")
LOWER_IS_BETTER = ("<", "<=")
COMBINATIONS = ("lowest",)
FEN = Decimal("0.01")

DEFAULT_TMALL_RULES: dict = {
    "scope": "tmall",
    "based_on": None,
    "parts": [
        {"key": "dispute_rate", "name": "退款纠纷率", "weight": 15, "kind": BELOW_INDUSTRY_BY_MARGIN,
         "margin": "0.1", "points": 15},
        {"key": "self_completion_rate", "name": "退款自主完结率", "weight": 10, "kind": ABOVE_INDUSTRY, "points": 10},
        {"key": "completion_time", "name": "退款完结时长", "weight": 5, "kind": EACH_BELOW_INDUSTRY,
         "items": [{"key": "refund_only", "name": "仅退款", "points": 2},
                   {"key": "return_and_refund", "name": "退货退款", "points": 3}]},
        {"key": "dsr", "name": "DSR", "weight": 20, "kind": PERCENTAGE_TIERS, "combine": "lowest",
         "items": [{"key": "description", "name": "描述相符"}, {"key": "service", "name": "服务态度"},
                   {"key": "logistics", "name": "物流服务"}],
         "tiers": [{"compare": ">=", "percent": "40", "points": 20}, {"compare": ">=", "percent": "30", "points": 15},
                   {"compare": ">=", "percent": "20", "points": 10}],
         "otherwise_points": 0},
        {"key": "retained_returns", "name": "退货挽回", "weight": 15, "kind": PERCENTAGE_TIERS,
         "tiers": [{"compare": ">", "percent": "20", "points": 15}, {"compare": ">", "percent": "10", "points": 10},
                   {"compare": ">", "percent": "5", "points": 5}],
         "otherwise_points": 0},
        {"key": "review_management", "name": "评价管理", "weight": 10, "kind": TARGETS_MET,
         "targets": [{"key": "clear_rate", "name": "日清率", "compare": ">=", "percent": "80", "points": 5},
                     {"key": "follow_up_rate", "name": "追评率", "compare": ">=", "percent": "50", "points": 3}]},
        {"key": "execution", "name": "执行力", "weight": 10, "kind": JUDGEMENT_POINTS, "min_points": 0, "max_points": 10},
        {"key": "complaints", "name": "投诉维权", "weight": 5, "kind": SHARE_UPHELD,
         "no_complaints_points": 5, "none_upheld_points": 5,
         "tiers": [{"compare": "<", "percent": "50", "points": 3}], "otherwise_points": 0},
        {"key": "teamwork", "name": "团队协作", "weight": 5, "kind": JUDGEMENT_LEVELS,
         "levels": [{"key": "active", "name": "积极", "points": 5}, {"key": "passive", "name": "被动", "points": 2},
                    {"key": "uncooperative", "name": "不配合", "points": -2}]},
        {"key": "attendance", "name": "考勤", "weight": 5, "kind": DONE_OR_NOT, "points": 5},
    ],
}


def copy_for(scope: str) -> dict:
    """An editable deep copy of the Tmall defaults for another platform or shop (e.g. "jd_pop", "shop:12").

    A JD POP or Douyin shop starts from the table as it is, never from invented weights.
    """
    rules = copy.deepcopy(DEFAULT_TMALL_RULES)
    rules["scope"] = str(scope)
    rules["based_on"] = DEFAULT_TMALL_RULES["scope"]
    return rules


# --- validation -----------------------------------------------------------------------------------

NO_PARTS = _l("The rule set has no parts.")
NOT_A_PART = _l("Part %(number)s is not a part with a key, a name, a weight and a kind.")
DUPLICATE_KEY = _l("Two parts have the key %(key)s.")
NO_NAME = _l("Part %(part)s has no name.")
BAD_WEIGHT = _l("Part %(part)s: the weight must be a whole number, 0 or more.")
UNKNOWN_KIND = _l("Part %(part)s: unknown kind %(kind)s.")
BAD_POINTS = _l("Part %(part)s: %(field)s must be a whole number of points.")
NEGATIVE_POINTS = _l("Part %(part)s: %(field)s cannot be negative.")
ABOVE_WEIGHT = _l("Part %(part)s: %(field)s gives %(points)s points, more than the weight %(weight)s.")
BAD_THRESHOLD = _l("Part %(part)s: %(field)s must be a decimal number such as 0.1.")
EMPTY_LIST = _l("Part %(part)s: %(field)s needs at least one entry.")
BAD_ENTRY = _l("Part %(part)s: every entry of %(field)s needs a key and a name.")
DUPLICATE_ENTRY = _l("Part %(part)s: %(field)s has the key %(key)s twice.")
BAD_COMPARISON = _l("Part %(part)s: the comparison %(compare)s is not allowed in %(field)s.")
TIERS_UNORDERED = _l("Part %(part)s: the tiers must go from the best to the worst: each threshold past the one "
                     "before and never more points than the tier before.")
UNKNOWN_COMBINATION = _l("Part %(part)s: unknown way %(combine)s to combine the items.")
MIN_ABOVE_MAX = _l("Part %(part)s: the lowest points are above the highest.")
WEIGHTS_NOT_100 = _l("The weights add up to %(total)s, not 100.")


def _message(template, **values) -> str:
    """The translated template filled in: a plain str, so no value ever sits inside a lazy string."""
    return str(template) % values if values else str(template)


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _decimal(value) -> Decimal | None:
    """A finite Decimal from a Decimal, an int or a decimal string; None for anything else (floats included)."""
    if isinstance(value, bool) or isinstance(value, float):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def validate(rule_set) -> list[str]:
    """What is wrong with a lead's edit of a rule set, as messages to show; an empty list means it can be saved.

    Whether the weights add up to 100 is a warning (``weight_warnings``), not an error.
    """
    parts = rule_set.get("parts") if isinstance(rule_set, Mapping) else None
    if not isinstance(parts, list) or not parts:
        return [_message(NO_PARTS)]
    errors: list[str] = []
    seen: set[str] = set()
    for number, part in enumerate(parts, start=1):
        if not isinstance(part, Mapping) or not isinstance(part.get("key"), str) or not part["key"].strip():
            errors.append(_message(NOT_A_PART, number=number))
            continue
        key = part["key"]
        if key in seen:
            errors.append(_message(DUPLICATE_KEY, key=key))
        seen.add(key)
        if not isinstance(part.get("name"), str) or not part["name"].strip():
            errors.append(_message(NO_NAME, part=key))
        weight = part.get("weight")
        if not _is_whole(weight) or weight < 0:
            errors.append(_message(BAD_WEIGHT, part=key))
            weight = None
        kind = part.get("kind")
        if kind not in KINDS:
            errors.append(_message(UNKNOWN_KIND, part=key, kind=kind))
            continue
        errors.extend(_PartChecker(part, weight).check())
    return errors


def weight_warnings(rule_set) -> list[str]:
    """Advice that does not stop a save: the Tmall table's weights add up to 100, a shop's may not."""
    parts = rule_set.get("parts") if isinstance(rule_set, Mapping) else None
    weights = [part.get("weight") for part in parts or [] if isinstance(part, Mapping)]
    if weights and all(_is_whole(weight) for weight in weights) and sum(weights) != 100:
        return [_message(WEIGHTS_NOT_100, total=sum(weights))]
    return []


class _PartChecker:
    """The checks of one part's own fields, by kind; collects messages instead of stopping at the first."""

    def __init__(self, part: Mapping, weight: int | None):
        self.part, self.key, self.weight, self.errors = part, part["key"], weight, []

    def check(self) -> list[str]:
        getattr(self, "check_" + self.part["kind"])()
        return self.errors

    def error(self, template, **values) -> None:
        self.errors.append(_message(template, part=self.key, **values))

    def points(self, value, field_name: str, negative_allowed: bool = False) -> int | None:
        if not _is_whole(value):
            self.error(BAD_POINTS, field=field_name)
            return None
        if value < 0 and not negative_allowed:
            self.error(NEGATIVE_POINTS, field=field_name)
            return None
        return value

    def at_most_weight(self, points: int | None, field_name: str) -> None:
        if points is not None and self.weight is not None and points > self.weight:
            self.error(ABOVE_WEIGHT, field=field_name, points=points, weight=self.weight)

    def threshold(self, value, field_name: str) -> Decimal | None:
        number = _decimal(value)
        if number is None or isinstance(value, Decimal):  # stored rule sets hold strings, so JSON can carry them
            self.error(BAD_THRESHOLD, field=field_name)
            return None
        return number

    def entries(self, field_name: str, with_name: bool = True) -> list[Mapping]:
        entries = self.part.get(field_name)
        if not isinstance(entries, list) or not entries:
            self.error(EMPTY_LIST, field=field_name)
            return []
        keys: set[str] = set()
        for entry in entries:
            if (not isinstance(entry, Mapping) or not isinstance(entry.get("key"), str) or not entry["key"].strip()
                    or (with_name and (not isinstance(entry.get("name"), str) or not entry["name"].strip()))):
                self.error(BAD_ENTRY, field=field_name)
                return []
            if entry["key"] in keys:
                self.error(DUPLICATE_ENTRY, field=field_name, key=entry["key"])
            keys.add(entry["key"])
        return entries

    def tiers(self, field_name: str, allowed: tuple[str, ...]) -> list[int | None]:
        """Check a tier list (best first) and return its points."""
        tiers = self.part.get(field_name)
        if not isinstance(tiers, list) or not tiers or not all(isinstance(tier, Mapping) for tier in tiers):
            self.error(EMPTY_LIST, field=field_name)
            return []
        thresholds, points = [], []
        for tier in tiers:
            if tier.get("compare") not in allowed:
                self.error(BAD_COMPARISON, compare=tier.get("compare"), field=field_name)
            thresholds.append(self.threshold(tier.get("percent"), field_name))
            points.append(self.points(tier.get("points"), field_name))
        if None not in thresholds and None not in points:
            step = (lambda a, b: a > b) if allowed == HIGHER_IS_BETTER else (lambda a, b: a < b)
            if not all(step(a, b) and pa >= pb for a, b, pa, pb in zip(thresholds, thresholds[1:], points, points[1:],
                                                                        strict=False)):
                self.error(TIERS_UNORDERED)
        for value in points:
            self.at_most_weight(value, field_name)
        return points

    def check_below_industry_by_margin(self) -> None:
        margin = self.threshold(self.part.get("margin"), "margin")
        if margin is not None and margin < 0:
            self.error(BAD_THRESHOLD, field="margin")
        self.at_most_weight(self.points(self.part.get("points"), "points"), "points")

    def check_above_industry(self) -> None:
        self.at_most_weight(self.points(self.part.get("points"), "points"), "points")

    def check_done_or_not(self) -> None:
        self.at_most_weight(self.points(self.part.get("points"), "points"), "points")

    def check_each_below_industry(self) -> None:
        points = [self.points(item.get("points"), "items") for item in self.entries("items")]
        if None not in points:
            self.at_most_weight(sum(points), "items")

    def check_targets_met(self) -> None:
        targets = self.entries("targets")
        points = []
        for target in targets:
            if target.get("compare") not in HIGHER_IS_BETTER:
                self.error(BAD_COMPARISON, compare=target.get("compare"), field="targets")
            self.threshold(target.get("percent"), "targets")
            points.append(self.points(target.get("points"), "targets"))
        if targets and None not in points:
            self.at_most_weight(sum(points), "targets")

    def check_percentage_tiers(self) -> None:
        tier_points = self.tiers("tiers", HIGHER_IS_BETTER)
        self.otherwise(tier_points)
        if "items" in self.part:
            self.entries("items")
            if self.part.get("combine") not in COMBINATIONS:
                self.error(UNKNOWN_COMBINATION, combine=self.part.get("combine"))

    def check_share_upheld(self) -> None:
        tier_points = self.tiers("tiers", LOWER_IS_BETTER)
        self.otherwise(tier_points)
        for field_name in ("no_complaints_points", "none_upheld_points"):
            self.at_most_weight(self.points(self.part.get(field_name), field_name), field_name)

    def otherwise(self, tier_points: list[int | None]) -> None:
        otherwise = self.points(self.part.get("otherwise_points"), "otherwise_points")
        if otherwise is not None and tier_points and tier_points[-1] is not None and otherwise > tier_points[-1]:
            self.error(TIERS_UNORDERED)

    def check_judgement_levels(self) -> None:
        for level in self.entries("levels"):
            self.at_most_weight(self.points(level.get("points"), "levels", negative_allowed=True), "levels")

    def check_judgement_points(self) -> None:
        low = self.points(self.part.get("min_points"), "min_points")
        high = self.points(self.part.get("max_points"), "max_points")
        self.at_most_weight(high, "max_points")
        if low is not None and high is not None and low > high:
            self.error(MIN_ABOVE_MAX)


# --- scoring --------------------------------------------------------------------------------------

# The reasons' fixed parts, in English; the page translates them (hence each PartScore keeps its sentences).
MISSING_FIGURE = N_("No figure entered for %(name)s.")
MISSING_INDUSTRY = N_("No industry value entered for %(name)s.")
MISSING_JUDGEMENT = N_("No judgement entered for %(name)s.")
NOT_A_NUMBER = N_("The figure for %(name)s is not a number: %(value)s.")
UNKNOWN_KIND_REASON = N_("%(name)s has an unknown kind %(kind)s.")
MARGIN_MET = N_("%(name)s %(figure)s%% is %(gap)s percentage points below the industry value %(industry)s%% "
              "(at least %(margin)s needed): %(points)s points.")
MARGIN_MISSED = N_("%(name)s %(figure)s%% is not at least %(margin)s percentage points below the industry value "
                 "%(industry)s%%: %(points)s points.")
ABOVE_MET = N_("%(name)s %(figure)s%% is above the industry value %(industry)s%%: %(points)s points.")
ABOVE_MISSED = N_("%(name)s %(figure)s%% is not above the industry value %(industry)s%%: %(points)s points.")
BELOW_MET = N_("%(name)s %(figure)s is below the industry value %(industry)s: %(points)s points.")
BELOW_MISSED = N_("%(name)s %(figure)s is not below the industry value %(industry)s: %(points)s points.")
TIER_MET = N_("%(name)s %(figure)s%% reaches the tier %(tier)s: %(points)s points.")
TIER_MISSED = N_("%(name)s %(figure)s%% reaches no tier (the last one is %(tier)s): %(points)s points.")
# The lowest of several items decides: the same sentences with the item named, whole, so each translates as one.
TIER_MET_LOWEST = N_("%(name)s (the lowest of %(count)s: %(item)s) %(figure)s%% reaches the tier %(tier)s: %(points)s points.")
TIER_MISSED_LOWEST = N_("%(name)s (the lowest of %(count)s: %(item)s) %(figure)s%% reaches no tier (the last one is %(tier)s): "
                        "%(points)s points.")
TARGET_MET = N_("%(name)s %(figure)s%% meets the target %(target)s: %(points)s points.")
TARGET_MISSED = N_("%(name)s %(figure)s%% misses the target %(target)s: %(points)s points.")
NO_COMPLAINTS = N_("No complaints this month: %(points)s points.")
NONE_UPHELD = N_("None of the %(complaints)s complaints upheld: %(points)s points.")
SHARE_TIER_MET = N_("%(upheld)s of %(complaints)s complaints upheld (%(share)s%%), tier %(tier)s: %(points)s points.")
SHARE_TIER_MISSED = N_("%(upheld)s of %(complaints)s complaints upheld (%(share)s%%), no tier reached (the last one is "
                     "%(tier)s): %(points)s points.")
BAD_COUNTS = N_("The complaint counts for %(name)s are not valid: %(upheld)s upheld of %(complaints)s.")
LEVEL_JUDGED = N_("%(name)s judged %(level)s: %(points)s points.")
UNKNOWN_LEVEL = N_("%(name)s has no level %(level)s: %(points)s points.")
JUDGED_POINTS = N_("%(name)s by the lead's judgement: %(points)s points.")
OUT_OF_RANGE = N_("%(name)s %(value)s is outside %(low)s to %(high)s: %(points)s points.")
DONE = N_("%(name)s done: %(points)s points.")
NOT_DONE = N_("%(name)s not done: %(points)s points.")

ZERO = Decimal(0)


@dataclass(frozen=True)
class PartScore:
    """One part's points and why, as an English sentence with the numbers.

    ``sentences`` holds the reason's pieces as (fixed English template, values), so the page can
    translate the fixed part and fill in the same values.
    """

    points: Decimal
    reason: str
    sentences: tuple[tuple[str, dict], ...] = ()


@dataclass(frozen=True)
class MonthScore:
    parts: dict[str, PartScore] = field(default_factory=dict)
    total: Decimal = ZERO


def _text(value) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _sentence(template: str, **values) -> tuple[str, dict]:
    return template, {name: _text(value) for name, value in values.items()}


def _score(points, *sentences: tuple[str, dict]) -> PartScore:
    return PartScore(Decimal(points), " ".join(template % values for template, values in sentences), tuple(sentences))


def _number(value) -> Decimal | None:
    """A figure as a Decimal: Decimal or int, never a float (a float's binary error would move a threshold)."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return None
    number = Decimal(value)
    return number if number.is_finite() else None


def _missing_or_not_a_number(name: str, value, template: str = MISSING_FIGURE) -> PartScore | None:
    if value is None:
        return _score(0, _sentence(template, name=name))
    if _number(value) is None:
        return _score(0, _sentence(NOT_A_NUMBER, name=name, value=value))
    return None


def _tier_label(tier: Mapping) -> str:
    return f"{tier['compare']} {tier['percent']}%"


def _first_tier(tiers: list, value) -> Mapping | None:
    """The first tier reached (tiers go best first); percentages compared exactly (Decimal or Fraction)."""
    for tier in tiers:
        threshold = Decimal(tier["percent"])
        if COMPARISONS[tier["compare"]](value, Fraction(threshold) if isinstance(value, Fraction) else threshold):
            return tier
    return None


def score_part(part: Mapping, figure, industry=None) -> PartScore:
    """Score one part of a valid rule set. ``figure`` is the lead's judgement for the judgement kinds.

    A missing or non-numeric figure or industry value gives 0 points and says what is missing.
    """
    scorer = _SCORERS.get(part.get("kind"))
    if scorer is None:
        return _score(0, _sentence(UNKNOWN_KIND_REASON, name=part.get("name", part.get("key")), kind=part.get("kind")))
    return scorer(part, figure, industry)


def _below_industry_by_margin(part, figure, industry) -> PartScore:
    name = part["name"]
    problem = _missing_or_not_a_number(name, figure) or _missing_or_not_a_number(name, industry, MISSING_INDUSTRY)
    if problem:
        return problem
    figure, industry, margin = _number(figure), _number(industry), Decimal(part["margin"])
    if figure <= industry - margin:
        return _score(part["points"], _sentence(MARGIN_MET, name=name, figure=figure, gap=industry - figure,
                                                industry=industry, margin=margin, points=part["points"]))
    return _score(0, _sentence(MARGIN_MISSED, name=name, figure=figure, margin=margin, industry=industry, points=0))


def _above_industry(part, figure, industry) -> PartScore:
    name = part["name"]
    problem = _missing_or_not_a_number(name, figure) or _missing_or_not_a_number(name, industry, MISSING_INDUSTRY)
    if problem:
        return problem
    figure, industry = _number(figure), _number(industry)
    if figure > industry:
        return _score(part["points"], _sentence(ABOVE_MET, name=name, figure=figure, industry=industry,
                                                points=part["points"]))
    return _score(0, _sentence(ABOVE_MISSED, name=name, figure=figure, industry=industry, points=0))


def _item(mapping, key):
    return mapping.get(key) if isinstance(mapping, Mapping) else None


def _each_below_industry(part, figure, industry) -> PartScore:
    """Each item scores on its own: a missing item costs that item's points only."""
    total, sentences = 0, []
    for item in part["items"]:
        name = f"{part['name']} ({item['name']})"
        value, reference = _item(figure, item["key"]), _item(industry, item["key"])
        problem = _missing_or_not_a_number(name, value) or _missing_or_not_a_number(name, reference, MISSING_INDUSTRY)
        if problem:
            sentences.extend(problem.sentences)
        elif _number(value) < _number(reference):
            total += item["points"]
            sentences.append(_sentence(BELOW_MET, name=name, figure=_number(value), industry=_number(reference),
                                       points=item["points"]))
        else:
            sentences.append(_sentence(BELOW_MISSED, name=name, figure=_number(value), industry=_number(reference),
                                       points=0))
    return _score(total, *sentences)


def _percentage_tiers(part, figure, industry) -> PartScore:
    name = part["name"]
    if "items" in part:
        # Every item must reach the tier ("combine": "lowest"), so the lowest item decides.
        values = []
        for item in part["items"]:
            problem = _missing_or_not_a_number(f"{name} ({item['name']})", _item(figure, item["key"]))
            if problem:
                return problem
            values.append((_number(_item(figure, item["key"])), item["name"]))
        value, lowest_item = min(values, key=lambda pair: pair[0])  # on a tie, the first in the rule's order
        met, missed, lowest = TIER_MET_LOWEST, TIER_MISSED_LOWEST, {"count": len(values), "item": lowest_item}
    else:
        problem = _missing_or_not_a_number(name, figure)
        if problem:
            return problem
        value = _number(figure)
        met, missed, lowest = TIER_MET, TIER_MISSED, {}
    tier = _first_tier(part["tiers"], value)
    if tier:
        return _score(tier["points"], _sentence(met, name=name, figure=value, tier=_tier_label(tier),
                                                points=tier["points"], **lowest))
    return _score(part["otherwise_points"], _sentence(missed, name=name, figure=value,
                                                      tier=_tier_label(part["tiers"][-1]),
                                                      points=part["otherwise_points"], **lowest))


def _targets_met(part, figure, industry) -> PartScore:
    total, sentences = 0, []
    for target in part["targets"]:
        name = f"{part['name']} ({target['name']})"
        value = _item(figure, target["key"])
        problem = _missing_or_not_a_number(name, value)
        if problem:
            sentences.extend(problem.sentences)
        elif _first_tier([target], _number(value)):
            total += target["points"]
            sentences.append(_sentence(TARGET_MET, name=name, figure=_number(value), target=_tier_label(target),
                                       points=target["points"]))
        else:
            sentences.append(_sentence(TARGET_MISSED, name=name, figure=_number(value), target=_tier_label(target),
                                       points=0))
    return _score(total, *sentences)


def _share_upheld(part, figure, industry) -> PartScore:
    name = part["name"]
    if not isinstance(figure, Mapping) or figure.get("complaints") is None:
        return _score(0, _sentence(MISSING_FIGURE, name=name))
    complaints, upheld = figure.get("complaints"), figure.get("upheld", 0)
    if not (_is_whole(complaints) and _is_whole(upheld) and 0 <= upheld <= complaints):
        return _score(0, _sentence(BAD_COUNTS, name=name, upheld=upheld, complaints=complaints))
    if complaints == 0:
        return _score(part["no_complaints_points"], _sentence(NO_COMPLAINTS, points=part["no_complaints_points"]))
    if upheld == 0:
        return _score(part["none_upheld_points"], _sentence(NONE_UPHELD, complaints=complaints,
                                                            points=part["none_upheld_points"]))
    share = Fraction(upheld * 100, complaints)  # exact, so 50 % is 50 % and not 49.999…
    shown = (Decimal(upheld * 100) / Decimal(complaints)).quantize(FEN)
    tier = _first_tier(part["tiers"], share)
    if tier:
        return _score(tier["points"], _sentence(SHARE_TIER_MET, upheld=upheld, complaints=complaints, share=shown,
                                                tier=_tier_label(tier), points=tier["points"]))
    return _score(part["otherwise_points"], _sentence(SHARE_TIER_MISSED, upheld=upheld, complaints=complaints,
                                                      share=shown, tier=_tier_label(part["tiers"][-1]),
                                                      points=part["otherwise_points"]))


def _judgement_levels(part, judgement, industry) -> PartScore:
    name = part["name"]
    if judgement is None:
        return _score(0, _sentence(MISSING_JUDGEMENT, name=name))
    for level in part["levels"]:
        if level["key"] == judgement:
            return _score(level["points"], _sentence(LEVEL_JUDGED, name=name, level=level["name"],
                                                     points=level["points"]))
    return _score(0, _sentence(UNKNOWN_LEVEL, name=name, level=judgement, points=0))


def _judgement_points(part, judgement, industry) -> PartScore:
    """The lead's points, refused (0) outside the part's range rather than clamped: an out-of-range entry is a typo."""
    name = part["name"]
    problem = _missing_or_not_a_number(name, judgement, MISSING_JUDGEMENT)
    if problem:
        return problem
    points = _number(judgement)
    if not part["min_points"] <= points <= part["max_points"]:
        return _score(0, _sentence(OUT_OF_RANGE, name=name, value=points, low=part["min_points"],
                                   high=part["max_points"], points=0))
    return _score(points, _sentence(JUDGED_POINTS, name=name, points=points))


def _done_or_not(part, judgement, industry) -> PartScore:
    name = part["name"]
    if judgement is None:
        return _score(0, _sentence(MISSING_JUDGEMENT, name=name))
    if judgement is True:
        return _score(part["points"], _sentence(DONE, name=name, points=part["points"]))
    return _score(0, _sentence(NOT_DONE, name=name, points=0))


_SCORERS = {
    BELOW_INDUSTRY_BY_MARGIN: _below_industry_by_margin,
    ABOVE_INDUSTRY: _above_industry,
    EACH_BELOW_INDUSTRY: _each_below_industry,
    PERCENTAGE_TIERS: _percentage_tiers,
    TARGETS_MET: _targets_met,
    SHARE_UPHELD: _share_upheld,
    JUDGEMENT_LEVELS: _judgement_levels,
    JUDGEMENT_POINTS: _judgement_points,
    DONE_OR_NOT: _done_or_not,
}


def score_month(rule_set: Mapping, figures: Mapping, industry: Mapping, judgements: Mapping) -> MonthScore:
    """One agent's month: every part of the rule set scored, and the total (which may be below 0).

    ``figures`` and ``industry`` are keyed by part key, ``judgements`` too (for the judgement kinds);
    a key that is absent scores 0 with its reason.
    """
    parts = {}
    for part in rule_set["parts"]:
        given = judgements if part["kind"] in JUDGEMENT_KINDS else figures
        parts[part["key"]] = score_part(part, given.get(part["key"]), industry.get(part["key"]))
    return MonthScore(parts=parts, total=sum((score.points for score in parts.values()), ZERO))


# --- the bonus pool --------------------------------------------------------------------------------

def split_bonus(pool: Decimal, totals: Mapping) -> dict:
    """Each agent's share of the month's bonus pool, in proportion to their totals, to the fen.

    - A total ≤ 0 gets 0.00 and is left out of the sum, so it does not reduce anyone else's share.
    - Every share is first rounded down to the fen; the fen left over go one each to the largest
      remainders (ties: the smaller agent key first), so the shares add up to the pool exactly.
    - When no total is above 0, everyone gets 0.00 and the pool stays unspent.

    ``pool`` must be a Decimal of whole fen, 0 or more, and every total a Decimal or an int (ValueError
    otherwise); agent keys must sort against each other (ids, or names).
    """
    pool = _number(pool)
    if pool is None or pool < 0 or pool != pool.quantize(FEN):
        raise ValueError("the bonus pool must be an amount of whole fen, 0 or more")
    if any(_number(total) is None for total in totals.values()):
        raise ValueError("every total must be a Decimal or an int")
    shares = {agent: Decimal("0.00") for agent in totals}
    scoring = {agent: Fraction(total) for agent, total in totals.items() if total > 0}
    if not scoring:
        return shares
    pool_fen = int(pool * 100)
    whole = sum(scoring.values())
    exact = {agent: pool_fen * total / whole for agent, total in scoring.items()}
    fen = {agent: math.floor(value) for agent, value in exact.items()}
    left_over = pool_fen - sum(fen.values())
    for agent in sorted(scoring, key=lambda agent: (fen[agent] - exact[agent], agent))[:left_over]:
        fen[agent] += 1
    for agent, amount in fen.items():
        shares[agent] = Decimal(amount).scaleb(-2)
    return shares


# --- the lead's edit of a rule set ------------------------------------------------------------------------

SCALAR_FIELDS = ("weight", "margin", "points", "otherwise_points", "no_complaints_points", "none_upheld_points",
                 "min_points", "max_points")
LIST_FIELDS = {"items": ("points",), "tiers": ("percent", "points"), "targets": ("percent", "points"), "levels": ("points",)}
DECIMAL_FIELDS = ("margin", "percent")  # kept as decimal strings; every other field is whole points


@dataclass(frozen=True)
class EditableField:
    """One number of a rule set as the rules page shows it: ``name`` is its form field name."""

    name: str
    part: str
    field: str
    value: str
    entry: str = ""  # the tier, item, target or level it belongs to, as shown
    compare: str = ""


def editable_fields(rule_set: Mapping) -> list[EditableField]:
    """Every number a lead may change (weights, thresholds, points), in the rule set's order."""
    found = []
    for part in rule_set["parts"]:
        for name in SCALAR_FIELDS:
            if name in part:
                found.append(EditableField(f"{part['key']}.{name}", part["key"], name, _text(part[name])))
        for list_name, names in LIST_FIELDS.items():
            for index, entry in enumerate(part.get(list_name) or []):
                shown = entry.get("name") or f"{entry.get('compare', '')} {entry.get('percent', '')}".strip()
                for name in names:
                    if name in entry:
                        found.append(EditableField(f"{part['key']}.{list_name}.{index}.{name}", part["key"], name,
                                                   _text(entry[name]), shown, entry.get("compare", "")))
    return found


def with_edits(rule_set: Mapping, values: Mapping[str, str]) -> tuple[dict, list[str]]:
    """A copy of ``rule_set`` with the submitted numbers put in; messages for numbers that are not numbers.
    Whether the result is a valid rule set is ``validate``'s to say."""
    edited = copy.deepcopy(dict(rule_set))
    parts = {part["key"]: part for part in edited["parts"]}
    errors = []
    for field_ in editable_fields(rule_set):
        raw = (values.get(field_.name) or "").strip()
        target = parts[field_.part]
        path = field_.name.split(".")[1:]
        if len(path) == 3:
            target = target[path[0]][int(path[1])]
        if field_.field in DECIMAL_FIELDS:
            number = _decimal(raw)
            if number is None:
                errors.append(_message(BAD_THRESHOLD, part=field_.part, field=field_.field))
                continue
            target[field_.field] = format(number, "f")
        else:
            try:
                target[field_.field] = int(raw)
            except ValueError:
                errors.append(_message(BAD_POINTS, part=field_.part, field=field_.field))
    return edited, errors
