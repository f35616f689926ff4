"""The daily monitor (DOMAIN.md §5 "monitored every day"): today, this week and this month against the
industry values, and the trends of the last 30 days and the last 12 months. Rules only, no request.

Everything is read from the per-day counts (models.DailyFigure, kept by scoring/rollups.py) and the months'
entered values (ScoreMonth): two queries whatever the number of cases. The marketplace's definitions, as the
page states them:

- **Dispute rate** = disputes ruled against the shop (kind "dispute", outcome "upheld"), on the day they were
  closed / paid orders × 100. Paid orders are entered per month; a part of a month counts the month's paid
  orders × its days / the days of the month (today: 1 day; this week and this month: the days so far).
- **Self-completion rate** = refunds (refund only, return and refund) completed without the platform stepping
  in / refunds completed × 100, on the day of the refund.
- **Completion time**: average days from the request to the refund, refund only and return and refund apart.
- **Return rate** = return-and-refund cases received / paid orders (as above) × 100; **retained returns** =
  those closed as "return withdrawn" / return-and-refund cases closed × 100.
- **Review handling**: the day's lists as the worklist counts them (reviews/worklist.py): listed, handled on
  the list's day (clear rate), contacted negative reviews with a follow-up review (follow-up rate).
- **Complaints**: complaint cases closed, and how many were upheld.
- **DSR**: the shop's ratings a lead entered for the month, against the industry's.

Industry values are a shop's: with all shops together the page compares nothing.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

import charts
from models import DailyFigure, ScoreMonth, Shop, db
from scoring.figures import DAY_SECONDS, DSR_ITEMS, HUNDRED, PLACES, RATE_PLACES, number, percent
from scoring.rollups import COUNTERS

TREND_DAYS = 30
TREND_MONTHS = 12
LOWER_IS_BETTER = ("dispute_rate", "refund_only_days", "return_refund_days", "return_rate")
HIGHER_IS_BETTER = ("self_completion_rate",)
SPAN_LABELS = {"today": _l("Today"), "week": _l("This week"), "month": _l("This month")}
FIGURE_LABELS = {
    "dispute_rate": _l("Dispute rate (%)"),
    "self_completion_rate": _l("Self-completion rate (%)"),
    "refund_only_days": _l("Refund only: days to complete"),
    "return_refund_days": _l("Return and refund: days to complete"),
    "return_rate": _l("Return rate (%)"),
    "retained_share": _l("Retained returns (%)"),
    "clear_rate": _l("Review clear rate (%)"),
    "follow_up_rate": _l("Follow-up rate (%)"),
    "complaints_closed": _l("Complaints closed"),
    "complaints_upheld": _l("Complaints upheld"),
    "disputes_upheld": _l("Disputes ruled against the shop"),
    "returns_received": _l("Returns received"),
}
DSR_LABELS = {"description": _l("Item as described"), "service": _l("Service"), "logistics": _l("Logistics")}
# The trend charts: figures that share a scale share a chart.
CHARTS = (
    ("orders", _l("Dispute rate and return rate (%)"), ("dispute_rate", "return_rate")),
    ("rates", _l("Self-completion, clear and follow-up rates (%)"), ("self_completion_rate", "clear_rate", "follow_up_rate")),
    ("times", _l("Completion time (days)"), ("refund_only_days", "return_refund_days")),
    ("counts", _l("Disputes, complaints and returns (count)"),
     ("disputes_upheld", "complaints_closed", "complaints_upheld", "returns_received")),
)


@dataclass(frozen=True)
class Span:
    """Days first..last (shop dates, both included)."""

    key: str
    label: str
    first: date
    last: date


def month_key(day: date) -> str:
    return day.strftime("%Y-%m")


def first_of_month(day: date, months_back: int = 0) -> date:
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def last_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def spans(today: date) -> list[Span]:
    """Today, this week (from Monday) and this month (from the 1st), up to today."""
    return [Span("today", str(SPAN_LABELS["today"]), today, today),
            Span("week", str(SPAN_LABELS["week"]), today - timedelta(days=today.weekday()), today),
            Span("month", str(SPAN_LABELS["month"]), today.replace(day=1), today)]


def next_day_starts(today: date, zone: tzinfo) -> datetime:
    """When "today" becomes yesterday: the monitor's figures change then with no data change."""
    return datetime.combine(today + timedelta(days=1), time(0), zone)


# --- the figures of a span ------------------------------------------------------------------------------------

def prorated_orders(first: date, last: date, paid: dict[str, Decimal | None]) -> Decimal | None:
    """The paid orders of first..last: each day counts its month's paid orders / the days of that month.
    None when a month of the span has none entered."""
    total, day = Decimal(0), first
    while day <= last:
        month_orders = paid.get(month_key(day))
        if month_orders is None:
            return None
        month_end = last_of_month(day)
        days = (min(last, month_end) - day).days + 1
        total += month_orders * days / calendar.monthrange(day.year, day.month)[1]
        day = month_end + timedelta(days=1)
    return total


def _per_orders(count: int, orders: Decimal | None, places: Decimal) -> Decimal | None:
    if not orders:
        return None
    return (Decimal(count) * HUNDRED / orders).quantize(places, ROUND_HALF_UP)


def _days(seconds: int, count: int) -> Decimal | None:
    return (Decimal(seconds) / DAY_SECONDS / count).quantize(PLACES, ROUND_HALF_UP) if count else None


def figures_of(counts: dict[str, int], orders: Decimal | None) -> dict:
    """The monitor's figures from summed counts and the span's (prorated) paid orders; None: nothing to divide by."""
    refunds = counts["refund_only_done"] + counts["return_refund_done"]
    return {
        "dispute_rate": _per_orders(counts["disputes_upheld"], orders, RATE_PLACES["dispute_rate"]),
        "self_completion_rate": percent(counts["refunds_self_completed"], refunds),
        "refund_only_days": _days(counts["refund_only_seconds"], counts["refund_only_done"]),
        "return_refund_days": _days(counts["return_refund_seconds"], counts["return_refund_done"]),
        "return_rate": _per_orders(counts["returns_received"], orders, PLACES),
        "retained_share": percent(counts["returns_retained"], counts["returns_closed"]),
        "clear_rate": percent(counts["reviews_handled_same_day"], counts["reviews_due"]),
        "follow_up_rate": percent(counts["reviews_followed_up"], counts["reviews_contacted_negative"]),
        "complaints_closed": counts["complaints_closed"],
        "complaints_upheld": counts["complaints_upheld"],
        "complaints_upheld_share": percent(counts["complaints_upheld"], counts["complaints_closed"]),
        "disputes_upheld": counts["disputes_upheld"],
        "returns_received": counts["returns_received"],
    }


def compare(key: str, value: Decimal | None, industry: Decimal | None) -> str | None:
    """"better", "worse" or "level" against the industry value; None when either is missing."""
    if value is None or industry is None:
        return None
    if value == industry:
        return "level"
    return "better" if (value < industry) == (key in LOWER_IS_BETTER) else "worse"


@dataclass
class SpanFigures:
    span: Span
    counts: dict
    orders: Decimal | None
    figures: dict
    verdicts: dict = field(default_factory=dict)  # figure key -> better/worse/level (a shop's monitor only)


# --- reading the counts --------------------------------------------------------------------------------------

def daily_counts(shop_id: int | None, first: date, last: date) -> dict[date, dict[str, int]]:
    """{day: counts} of one shop or all shops (summed in SQL), first..last; days without a row are absent."""
    columns = [getattr(DailyFigure, name) for name in COUNTERS]
    in_range = (DailyFigure.day >= first, DailyFigure.day <= last)
    if shop_id is None:
        statement = (sa.select(DailyFigure.day, *(sa.func.sum(column).label(column.key) for column in columns))
                     .where(*in_range).group_by(DailyFigure.day))
    else:
        statement = sa.select(DailyFigure.day, *columns).where(DailyFigure.shop_id == shop_id, *in_range)
    return {row.day: {name: int(getattr(row, name) or 0) for name in COUNTERS} for row in db.session.execute(statement)}


def summed(by_day: dict[date, dict[str, int]], first: date, last: date) -> dict[str, int]:
    total = dict.fromkeys(COUNTERS, 0)
    for day, counts in by_day.items():
        if first <= day <= last:
            for name in COUNTERS:
                total[name] += counts[name]
    return total


@dataclass
class MonthValues:
    """The months' entered values: paid orders (summed over the shops for all shops), one shop's industry
    values and DSR."""

    paid: dict[str, Decimal | None]
    industry: dict[str, dict]
    shop_figures: dict[str, dict]


def month_values(shop_id: int | None, active_shop_ids: Iterable[int], months: list[str]) -> MonthValues:
    """One query. For all shops, a month's paid orders are known when every active shop has entered them."""
    statement = sa.select(ScoreMonth.shop_id, ScoreMonth.month, ScoreMonth.industry, ScoreMonth.shop_figures).where(
        ScoreMonth.month.in_(months))
    if shop_id is not None:
        statement = statement.where(ScoreMonth.shop_id == shop_id)
    rows = db.session.execute(statement).all()
    wanted = {shop_id} if shop_id is not None else set(active_shop_ids)
    paid: dict[str, Decimal | None] = {}
    for month in months:
        entered = {row.shop_id: number((row.shop_figures or {}).get("paid_orders")) for row in rows if row.month == month}
        values = [entered.get(one) for one in wanted]
        paid[month] = sum(values, Decimal(0)) if values and None not in values else None
    if shop_id is None:
        return MonthValues(paid, {}, {})
    return MonthValues(paid, {row.month: dict(row.industry or {}) for row in rows},
                       {row.month: dict(row.shop_figures or {}) for row in rows})


# --- the monitor ------------------------------------------------------------------------------------------------

@dataclass
class Monitor:
    shop: Shop | None  # None: all shops
    today: date
    spans: list[SpanFigures]
    industry: dict  # this month's industry values as Decimals (a shop's monitor only)
    paid_orders_missing: bool  # this month's paid orders are not entered
    days: list[tuple[str, dict]]  # the last TREND_DAYS days' figures, oldest first ("MM-DD", figures)
    months: list[tuple[str, dict]]  # the last TREND_MONTHS months' figures (this one so far), oldest first
    dsr: list[dict]  # a shop's months with DSR entered: {month, items: {item: (shop, industry, vs)}}
    day_charts: list[dict] = field(default_factory=list)
    month_charts: list[dict] = field(default_factory=list)
    dsr_chart: dict | None = None


def monitor(shop: Shop | None, active_shops: list[Shop], today: date) -> Monitor:
    """The monitor of ``shop`` (None: all shops together) on ``today`` (a shop date): two queries."""
    shop_id = shop.id if shop is not None else None
    first_month = first_of_month(today, TREND_MONTHS - 1)
    month_starts = [first_of_month(today, back) for back in range(TREND_MONTHS - 1, -1, -1)]
    by_day = daily_counts(shop_id, first_month, today)
    values = month_values(shop_id, [one.id for one in active_shops], [month_key(start) for start in month_starts])

    this_month = month_key(today)
    industry = {key: number(value) for key, value in values.industry.get(this_month, {}).items()}
    span_figures = []
    for span in spans(today):
        counts = summed(by_day, span.first, span.last)
        orders = prorated_orders(span.first, span.last, values.paid)
        result = SpanFigures(span, counts, orders, figures_of(counts, orders))
        if shop is not None:
            result.verdicts = {key: compare(key, result.figures.get(key), industry.get(key))
                               for key in (*LOWER_IS_BETTER, *HIGHER_IS_BETTER)}
        span_figures.append(result)

    days = []
    for back in range(TREND_DAYS - 1, -1, -1):
        day = today - timedelta(days=back)
        days.append((day.strftime("%m-%d"), figures_of(summed(by_day, day, day), prorated_orders(day, day, values.paid))))
    months = []
    for start in month_starts:
        end = min(today, last_of_month(start))
        months.append((month_key(start), figures_of(summed(by_day, start, end), prorated_orders(start, end, values.paid))))

    dsr = dsr_months(values, [month_key(start) for start in month_starts]) if shop is not None else []
    result = Monitor(shop, today, span_figures, industry, values.paid.get(this_month) is None, days, months, dsr)
    # the day of the month only: 30 full dates do not fit under the chart (the table has them)
    result.day_charts = trend_charts([label[3:] for label, _ in days], [figures for _, figures in days])
    result.month_charts = trend_charts([month[5:] for month, _ in months], [figures for _, figures in months])
    result.dsr_chart = dsr_chart(dsr)
    return result


def dsr_months(values: MonthValues, months: list[str]) -> list[dict]:
    """The months a lead entered a DSR for: the shop's rating, the industry's and "vs industry %" per item."""
    found = []
    for month in months:
        shop_figures, industry = values.shop_figures.get(month, {}), values.industry.get(month, {})
        items = {item: (number(shop_figures.get(f"dsr_{item}")), number(industry.get(f"dsr_{item}")),
                        number(shop_figures.get(f"dsr_{item}_vs_industry"))) for item in DSR_ITEMS}
        if any(value is not None for triple in items.values() for value in triple):
            found.append({"month": month, "items": items})
    return found


# --- charts: the same numbers as the tables after them ------------------------------------------------------------

def trend_charts(labels: list[str], rows: list[dict]) -> list[dict]:
    """One line chart per group of CHARTS. A gap (nothing to divide by) is drawn at 0; the table shows "—"."""
    found = []
    for key, title, names in CHARTS:
        series = {str(FIGURE_LABELS[name]): [row[name] or 0 for row in rows]
                  for name in names if any(row[name] is not None for row in rows)}
        if series:
            found.append({"key": key, "title": str(title), "names": names, "chart": charts.line_chart(labels, series)})
    return found


def dsr_chart(dsr: list[dict]) -> dict | None:
    """The shop's DSR against the industry (%) by month; below the industry is drawn at 0, the table has it."""
    if len(dsr) < 2:
        return None
    series = {str(DSR_LABELS[item]): [max(Decimal(0), month["items"][item][2] or 0) for month in dsr] for item in DSR_ITEMS}
    return charts.line_chart([month["month"][5:] for month in dsr], series)
