"""The computed parts of a month's score, per agent, from the cases and reviews (DOMAIN.md §5).

The marketplace's definitions, and whom each figure counts for (written on the scoring page too):

- **Attribution.** A case counts for its assignee at closure (``Case.closed_assignee_id``, set by
  cases/flow.change_state); a refunded case that is not closed yet counts for its current assignee. An
  accepted appeal moves a case out of an agent's month (``ScoreAttribution``). A review counts for its
  assignee; its follow-up review for whoever made the contact it is credited to (reviews/worklist.py).
- **Dispute rate (退款纠纷率)** = disputes ruled against the shop / paid orders × 100. Disputes are cases of
  kind "dispute" closed in the month with outcome "upheld". The month's paid orders (entered by a lead) are
  the shop's; an agent's share of them is in proportion to the cases they closed that month, so the agents'
  rates weighted by their share give the shop's rate.
- **Self-completion rate (退款自主完结率)** = refunds completed without the platform stepping in / refunds
  completed × 100, over cases of kind refund only or return and refund refunded in the month.
- **Completion time (退款完结时长)**: the average days from the request to the refund, refund only and
  return and refund apart, over the same refunds.
- **Retained returns (退货挽回)** = return-and-refund cases closed in the month as "return withdrawn" /
  return-and-refund cases closed in the month × 100.
- **Review management**: the clear rate (reviews of the month's lists handled on their list's day / reviews
  listed) and the follow-up rate (contacted negative reviews with a follow-up review credited to the agent /
  contacted negative reviews), as the worklist defines them for a day, summed over the month.
- **Complaints (投诉维权)**: complaint cases closed in the month, and how many were upheld.
- **DSR** is the shop's: every agent of the shop gets the figures a lead entered ("高于同行业 x%").

A fixed number of queries whatever the number of agents or rows: every figure is one GROUP BY.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_babel import lazy_gettext as _l

from compensation.report import month_bounds
from models import Case, Review, ReviewContact, ScoreAttribution, ScoreMonth, db
from reviews.labels import NEGATIVE_MAX_RATING
from reviews.worklist import day_bounds
from scoring.labels import VALUE_RANGES

REFUND_KINDS = {"refund_only": "refund_only", "return_refund": "return_and_refund"}  # case kind -> rule item key
RETURN_KIND = "return_refund"
DISPUTE_KIND = "dispute"
COMPLAINT_KIND = "complaint"
HUNDRED = Decimal(100)
RATE_PLACES = {"dispute_rate": Decimal("0.001")}  # the dispute rate is a fraction of a percent
PLACES = Decimal("0.01")
DAY_SECONDS = Decimal(86400)

# The month's figures a lead enters: the industry values (行业值) and the shop's own.
INDUSTRY_FIELDS = ("dispute_rate", "self_completion_rate", "refund_only_days", "return_refund_days",
                   "dsr_description", "dsr_service", "dsr_logistics")
SHOP_FIELDS = ("paid_orders", "dsr_description", "dsr_service", "dsr_logistics", "dsr_description_vs_industry",
               "dsr_service_vs_industry", "dsr_logistics_vs_industry")
DSR_ITEMS = ("description", "service", "logistics")

# Which parts have evidence to click through to, and of what.
CASE_PARTS = ("dispute_rate", "self_completion_rate", "completion_time", "retained_returns", "complaints")
REVIEW_PARTS = ("review_management",)


def number(value) -> Decimal | None:
    """A stored decimal string as a Decimal; None when absent or not a number."""
    if value is None or value == "":
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def decimal_text(key: str, raw: str) -> str:
    """A figure typed by a lead as the decimal string stored, or ValueError with the message to show."""
    low, high, places = VALUE_RANGES[key]
    text = (raw or "").strip().replace(",", "").rstrip("%").strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValueError(str(_l("Enter a number such as 0.35."))) from None
    if not number.is_finite() or not low <= number <= high:
        raise ValueError(str(_l("From %(low)s to %(high)s.", low=low, high=high)))
    if number.as_tuple().exponent < -places:
        raise ValueError(str(_l("At most %(places)s decimal places.", places=places)) if places
                         else str(_l("A whole number.")))
    return format(number.normalize() if places else number.to_integral_value(), "f")


def percent(part: int, whole: int, places: Decimal = PLACES) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * HUNDRED / Decimal(whole)).quantize(places, ROUND_HALF_UP)


def seconds_between(start, end):
    """SQL for the seconds from ``start`` to ``end`` (naive UTC columns) on SQLite and PostgreSQL."""
    if db.engine.dialect.name == "postgresql":
        return sa.extract("epoch", end - start)
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400


OWNER = sa.case((ScoreAttribution.id.is_not(None), ScoreAttribution.to_user_id),
                else_=sa.func.coalesce(Case.closed_assignee_id, Case.assignee_id)).label("owner")


def with_owner(statement, score_month_id: int | None):
    """``statement`` over cases, joined to the month's moved attributions so that ``OWNER`` says whom each
    case counts for: a moved attribution first, then the assignee at closure, then the assignee."""
    return statement.select_from(Case).outerjoin(ScoreAttribution, sa.and_(
        ScoreAttribution.score_month_id == score_month_id, ScoreAttribution.case_id == Case.id))


@dataclass
class AgentFigures:
    """One agent's counts for a month, and the figures scored from them."""

    closed: int = 0
    disputes: int = 0
    disputes_upheld: int = 0
    returns_closed: int = 0
    returns_retained: int = 0
    complaints: int = 0
    complaints_upheld: int = 0
    refunds: int = 0
    refunds_on_own: int = 0
    refund_days: dict = field(default_factory=dict)  # rule item key -> (count, seconds)
    reviews_due: int = 0
    reviews_cleared: int = 0
    contacted_negative: int = 0
    followed_up: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.closed or self.refunds or self.reviews_due or self.contacted_negative)


@dataclass
class MonthData:
    """Everything the score of one shop's month is computed from."""

    agents: dict[int, AgentFigures]
    shop_closed: int
    paid_orders: Decimal | None
    industry: dict
    shop_figures: dict


def _refund_scope(shop_id: int, start: datetime, end: datetime):
    return (Case.shop_id == shop_id, Case.kind.in_(tuple(REFUND_KINDS)), Case.refunded_at >= start, Case.refunded_at < end)


def _closed_scope(shop_id: int, start: datetime, end: datetime):
    return (Case.shop_id == shop_id, Case.state == "closed", Case.closed_at >= start, Case.closed_at < end)


def _count_if(condition):
    return sa.func.sum(sa.case((condition, 1), else_=0))


def month_data(score_month: ScoreMonth, zone: tzinfo, only_users: set[int] | None = None) -> MonthData:
    """The counts per agent for the month of ``score_month``: five queries whatever the data's size."""
    start, end = month_bounds(score_month.month, zone)
    owner = OWNER
    agents: dict[int, AgentFigures] = defaultdict(AgentFigures)

    closed_rows = db.session.execute(with_owner(
        sa.select(owner, sa.func.count(),
                  _count_if(Case.kind == DISPUTE_KIND),
                  _count_if(sa.and_(Case.kind == DISPUTE_KIND, Case.outcome == "upheld")),
                  _count_if(Case.kind == RETURN_KIND),
                  _count_if(sa.and_(Case.kind == RETURN_KIND, Case.outcome == "retained")),
                  _count_if(Case.kind == COMPLAINT_KIND),
                  _count_if(sa.and_(Case.kind == COMPLAINT_KIND, Case.outcome == "upheld")))
        .where(*_closed_scope(score_month.shop_id, start, end)).group_by(owner), score_month.id))
    shop_closed = 0
    for user_id, closed, disputes, upheld, returns, retained, complaints, complaints_upheld in closed_rows:
        shop_closed += closed
        if user_id is None:
            continue
        figures = agents[user_id]
        figures.closed, figures.disputes, figures.disputes_upheld = closed, disputes or 0, upheld or 0
        figures.returns_closed, figures.returns_retained = returns or 0, retained or 0
        figures.complaints, figures.complaints_upheld = complaints or 0, complaints_upheld or 0

    refund_rows = db.session.execute(with_owner(
        sa.select(owner, Case.kind, sa.func.count(), _count_if(Case.platform_intervened.is_(False)),
                  sa.func.sum(seconds_between(Case.received_at, Case.refunded_at)))
        .where(*_refund_scope(score_month.shop_id, start, end)).group_by(owner, Case.kind), score_month.id))
    for user_id, kind, count, on_own, seconds in refund_rows:
        if user_id is None:
            continue
        figures = agents[user_id]
        figures.refunds += count
        figures.refunds_on_own += on_own or 0
        figures.refund_days[REFUND_KINDS[kind]] = (count, Decimal(str(seconds or 0)))

    first, last = start.astimezone(zone).date(), (end.astimezone(zone) - timedelta(days=1)).date()
    _review_counts(agents, score_month.shop_id, first, last, zone)
    if only_users is not None:
        agents = {user_id: figures for user_id, figures in agents.items() if user_id in only_users}
    shop = score_month.shop_figures or {}
    return MonthData(dict(agents), shop_closed, number(shop.get("paid_orders")), dict(score_month.industry or {}), dict(shop))


def _review_counts(agents: dict, shop_id: int, first: date, last: date, zone: tzinfo) -> None:
    """The month's lists: listed and cleared on the day per assignee; contacted negative reviews and the
    follow-ups credited per contact maker. Three queries."""
    in_month = (Review.shop_id == shop_id, Review.list_date >= first, Review.list_date <= last)
    # Handled on the list's day: handled_at within that day in shop time, one condition per day of the month
    # (the day's bounds in UTC depend on the zone), so the database still does the counting.
    same_day = []
    day = first
    while day <= last:
        day_start, day_end = day_bounds(day, zone)
        same_day.append(sa.and_(Review.list_date == day, Review.handled_at >= day_start, Review.handled_at < day_end))
        day += timedelta(days=1)
    cleared = _count_if(sa.and_(Review.state == "handled", sa.or_(*same_day)))
    for assignee_id, due, cleared_count in db.session.execute(
            sa.select(Review.assignee_id, sa.func.count(), cleared).where(*in_month).group_by(Review.assignee_id)):
        if assignee_id is not None:
            agents[assignee_id].reviews_due += due
            agents[assignee_id].reviews_cleared += cleared_count or 0
    any_contact = so.aliased(ReviewContact)  # apart from the credited contact the follow-up query joins
    contacted = sa.exists().where(any_contact.review_id == Review.id)
    negative = (*in_month, Review.rating <= NEGATIVE_MAX_RATING, contacted)
    for assignee_id, count in db.session.execute(sa.select(Review.assignee_id, sa.func.count()).where(*negative)
                                                 .group_by(Review.assignee_id)):
        if assignee_id is not None:
            agents[assignee_id].contacted_negative += count
    credited = sa.func.coalesce(ReviewContact.user_id, Review.assignee_id)
    for user_id, count in db.session.execute(
            sa.select(credited, sa.func.count()).select_from(Review)
            .join(ReviewContact, ReviewContact.id == Review.follow_up_contact_id)
            .where(*negative).group_by(credited)):
        if user_id is not None:
            agents[user_id].followed_up += count


def part_inputs(data: MonthData, user_id: int) -> tuple[dict, dict, dict]:
    """The figures, industry values and what is behind them (for the page) for one agent, keyed by part."""
    agent = data.agents.get(user_id, AgentFigures())
    figures: dict = {}
    basis: dict = {}
    if agent.closed and data.paid_orders:
        share = data.paid_orders * agent.closed / data.shop_closed
        figures["dispute_rate"] = (Decimal(agent.disputes_upheld) * HUNDRED / share).quantize(RATE_PLACES["dispute_rate"],
                                                                                               ROUND_HALF_UP)
        basis["dispute_rate"] = {"upheld": agent.disputes_upheld, "disputes": agent.disputes, "closed": agent.closed,
                                 "shop_closed": data.shop_closed, "orders": str(share.quantize(PLACES, ROUND_HALF_UP))}
    else:
        basis["dispute_rate"] = {"upheld": agent.disputes_upheld, "disputes": agent.disputes, "closed": agent.closed,
                                 "shop_closed": data.shop_closed, "orders": None}
    figures["self_completion_rate"] = percent(agent.refunds_on_own, agent.refunds)
    basis["self_completion_rate"] = {"on_own": agent.refunds_on_own, "refunds": agent.refunds}
    times = {}
    for key, (count, seconds) in agent.refund_days.items():
        times[key] = (seconds / DAY_SECONDS / count).quantize(PLACES, ROUND_HALF_UP)
    figures["completion_time"] = times
    basis["completion_time"] = {key: agent.refund_days.get(key, (0, 0))[0] for key in REFUND_KINDS.values()}
    figures["retained_returns"] = percent(agent.returns_retained, agent.returns_closed)
    basis["retained_returns"] = {"retained": agent.returns_retained, "returns": agent.returns_closed}
    figures["review_management"] = {key: value for key, value in (
        ("clear_rate", percent(agent.reviews_cleared, agent.reviews_due)),
        ("follow_up_rate", percent(agent.followed_up, agent.contacted_negative))) if value is not None}
    basis["review_management"] = {"cleared": agent.reviews_cleared, "due": agent.reviews_due,
                                  "followed_up": agent.followed_up, "contacted": agent.contacted_negative}
    figures["complaints"] = {"complaints": agent.complaints, "upheld": agent.complaints_upheld}
    basis["complaints"] = dict(figures["complaints"])
    dsr = {item: number(data.shop_figures.get(f"dsr_{item}_vs_industry")) for item in DSR_ITEMS}
    figures["dsr"] = {item: value for item, value in dsr.items() if value is not None}
    basis["dsr"] = {item: data.shop_figures.get(f"dsr_{item}") for item in DSR_ITEMS}
    figures = {key: value for key, value in figures.items() if value is not None}
    return figures, industry_inputs(data.industry), basis


def industry_inputs(industry: dict) -> dict:
    """The industry values in the shape each part's rule reads."""
    return {
        "dispute_rate": number(industry.get("dispute_rate")),
        "self_completion_rate": number(industry.get("self_completion_rate")),
        "completion_time": {"refund_only": number(industry.get("refund_only_days")),
                            "return_and_refund": number(industry.get("return_refund_days"))},
    }


# --- the evidence behind a figure -------------------------------------------------------------------------------

def evidence(score_month: ScoreMonth, zone: tzinfo, user_ids: set[int] | None = None) -> dict:
    """The ids of the cases and reviews behind each agent's figures: {user_id: {part: [ids]}}. A fixed number
    of queries; frozen with a published month so the click-through shows what was scored."""
    start, end = month_bounds(score_month.month, zone)
    owner = OWNER
    found: dict = defaultdict(lambda: defaultdict(list))

    def keep(user_id, part, item_id):
        if user_id is not None and (user_ids is None or user_id in user_ids):
            found[user_id][part].append(item_id)

    for user_id, case_id, kind in db.session.execute(with_owner(
            sa.select(owner, Case.id, Case.kind).where(*_closed_scope(score_month.shop_id, start, end),
                                                      Case.kind.in_((DISPUTE_KIND, RETURN_KIND, COMPLAINT_KIND)))
            .order_by(Case.closed_at, Case.id), score_month.id)):
        keep(user_id, {DISPUTE_KIND: "dispute_rate", RETURN_KIND: "retained_returns",
                       COMPLAINT_KIND: "complaints"}[kind], case_id)
    for user_id, case_id in db.session.execute(with_owner(
            sa.select(owner, Case.id).where(*_refund_scope(score_month.shop_id, start, end))
            .order_by(Case.refunded_at, Case.id), score_month.id)):
        keep(user_id, "self_completion_rate", case_id)
        keep(user_id, "completion_time", case_id)
    first, last = start.astimezone(zone).date(), (end.astimezone(zone) - timedelta(days=1)).date()
    for user_id, review_id in db.session.execute(
            sa.select(Review.assignee_id, Review.id).where(Review.shop_id == score_month.shop_id, Review.list_date >= first,
                                                           Review.list_date <= last).order_by(Review.list_date, Review.id)):
        keep(user_id, "review_management", review_id)
    return {user_id: dict(parts) for user_id, parts in found.items()}
