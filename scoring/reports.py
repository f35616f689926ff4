"""The after-sales report (DOMAIN.md §1), weekly or monthly: cases received, after-sales cost per responsible
party, and the top causes as Pareto lists; its texts (robot markdown, mail, workbook) and sending it.

The rules, in the shop's time zone (app.config["SHOP_TZ"]), for a period of whole days (a week Monday to
Sunday, or a calendar month):

- Cases: those *received* in the period, counted by kind, problem category and platform.
- Cost per responsible party (判定责任人, recorded on closure; a case without one counts under "not closed yet"):
  - refunds: the refund amount of the cases *refunded* in the period;
  - compensation: approved or paid compensation *requested* in the period (as compensation/report.py counts
    it), under its case's party; pending and rejected requests cost nothing;
  - reships and freight: the reship and freight costs of the cases *closed* in the period (they are final
    only then; a reopened case leaves the period it had been closed in).
  Each amount is counted in the one period its own date falls in, so weeks and months add up.
- Top causes: the problem categories of the cases received in the period, and the causes of the reviews on
  the period's daily lists (the confirmed cause, else the suggested one), largest first with the cumulative
  share; the causes before the 80 % mark are the "vital few".

Every figure comes from a GROUP BY: five queries whatever the number of cases. Money is Decimal. Labels are
lazy strings, so every text renders in the language of the moment (the shop's, for what is sent). Imported
words (review causes, unknown keys) are data: escaped in markdown, autoescaped in HTML, plain string cells in
the workbook. No request in here.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

import charts
import notify
from cases.labels import CASE_CATEGORIES, CASE_KINDS, RESPONSIBILITIES
from models import CENT, PLATFORMS, Case, Compensation, Review, db, get_setting
from reviews.labels import OTHER_CAUSE
from reviews.summary import MARKDOWN, NO_MAIL_SERVER, PLAIN, Style, _secrets, redact_url, shop_language
from spreadsheets import xlsx_cell

WEEK, MONTH = "week", "month"
PERIODS = (WEEK, MONTH)
NOT_CLOSED = "not_closed"  # the party of a case with no responsibility recorded
COMMITTED = ("approved", "paid")  # compensation that costs money (compensation/report.py's "approved")
COST_KINDS = ("refunds", "compensation", "reships", "freight")
ZERO = Decimal("0.00")
MARKDOWN_LIMITS = (17, 10, 6, 3)  # rows per list, tried in turn until the robot message fits

RULES = (
    _l("Cases: received in the period (shop time), by kind, problem category and platform."),
    _l("Refunds: the refund amount of cases refunded in the period."),
    _l("Compensation: approved or paid compensation requested in the period; pending and rejected requests cost nothing."),
    _l("Reships and freight: the reship and freight costs of cases closed in the period."),
    _l("Costs count under the case's responsible party, recorded on closure; a case without one counts under “not closed yet”."),
    _l("Top causes: problem categories of the cases received, and causes (confirmed, else suggested) of the reviews on the "
       "period's daily lists; largest first, with the cumulative share. Those before the 80% mark are the few that make most of it."),
)


# --- the period --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """A week (Monday to Sunday) or a calendar month; ``end`` is its last day."""

    kind: str
    start: date
    end: date

    @property
    def previous(self) -> Period:
        return period_of(self.kind, self.start - timedelta(days=1))

    @property
    def next(self) -> Period:
        return period_of(self.kind, self.end + timedelta(days=1))


def period_of(kind: str, day: date) -> Period:
    """The week or month ``day`` is in."""
    if kind == WEEK:
        monday = day - timedelta(days=day.weekday())
        return Period(WEEK, monday, monday + timedelta(days=6))
    return Period(MONTH, day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1]))


def parse_period(kind: str | None, start: str | None, today: date) -> Period:
    """The period a page asks for (?period=week|month&start=YYYY-MM-DD); anything unreadable is this month."""
    kind = kind if kind in PERIODS else MONTH
    try:
        day = date.fromisoformat(start) if start else today
    except ValueError:
        day = today
    return period_of(kind, day)


def previous_month(today: date) -> Period:
    return period_of(MONTH, today.replace(day=1) - timedelta(days=1))


def bounds(period_start: date, period_end: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """The first moment of the first day and of the day after the last, in the shop's zone."""
    return datetime.combine(period_start, time(0), zone), datetime.combine(period_end + timedelta(days=1), time(0), zone)


# --- the figures ---------------------------------------------------------------------------------------------

def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT)


def _counted(counts: dict[str, int], labels: dict) -> list[dict]:
    """Rows {key, label, count}, largest first; ties in the label table's order, unknown keys after."""
    order = {key: position for position, key in enumerate(labels)}
    keys = sorted(counts, key=lambda key: (-counts[key], order.get(key, len(order)), key))
    return [{"key": key, "label": labels.get(key, key), "count": counts[key]} for key in keys]


def _pareto(items: list[tuple[str, int | Decimal]]) -> list[dict]:
    return [{"label": label, "value": value, "cumulative": share} for label, value, share in charts.pareto_order(items)]


def party_label(party: str):
    return _l("not closed yet") if party == NOT_CLOSED else RESPONSIBILITIES.get(party, party)


def report(period_start: date, period_end: date, zone: tzinfo) -> dict:
    """The report of the days ``period_start`` to ``period_end`` (both included); see the module's rules."""
    start, end = bounds(period_start, period_end, zone)
    received = db.session.execute(
        sa.select(Case.kind, Case.category, Case.platform, sa.func.count())
        .where(Case.received_at >= start, Case.received_at < end).group_by(Case.kind, Case.category, Case.platform)).all()
    refunds = db.session.execute(
        sa.select(Case.responsibility, sa.func.sum(Case.refund_amount))
        .where(Case.refunded_at >= start, Case.refunded_at < end).group_by(Case.responsibility)).all()
    compensation = db.session.execute(
        sa.select(Case.responsibility, sa.func.sum(Compensation.amount)).join(Case, Case.id == Compensation.case_id)
        .where(Compensation.created_at >= start, Compensation.created_at < end, Compensation.status.in_(COMMITTED))
        .group_by(Case.responsibility)).all()
    closed = db.session.execute(
        sa.select(Case.responsibility, sa.func.sum(Case.reship_cost), sa.func.sum(Case.freight_cost))
        .where(Case.closed_at >= start, Case.closed_at < end).group_by(Case.responsibility)).all()
    review_cause = sa.func.coalesce(Review.cause, Review.suggested_cause)
    causes = db.session.execute(
        sa.select(review_cause, sa.func.count())
        .where(Review.list_date >= period_start, Review.list_date <= period_end).group_by(review_cause)).all()

    by_kind: dict[str, int] = {}
    by_category: dict[str, int] = {}
    by_platform: dict[str, int] = {}
    for kind, category, platform, count in received:
        by_kind[kind] = by_kind.get(kind, 0) + count
        by_category[category] = by_category.get(category, 0) + count
        by_platform[platform] = by_platform.get(platform, 0) + count

    costs: dict[str, dict[str, Decimal]] = {}

    def add(party: str | None, kind: str, amount) -> None:
        row = costs.setdefault(party or NOT_CLOSED, dict.fromkeys(COST_KINDS, ZERO))
        row[kind] += _money(amount)

    for party, amount in refunds:
        add(party, "refunds", amount)
    for party, amount in compensation:
        add(party, "compensation", amount)
    for party, reships, freight in closed:
        add(party, "reships", reships)
        add(party, "freight", freight)
    parties = [*RESPONSIBILITIES, NOT_CLOSED]
    cost_rows = [{"party": party, "label": party_label(party), **costs[party], "total": sum(costs[party].values(), ZERO)}
                 for party in sorted(costs, key=lambda party: (parties.index(party) if party in parties else len(parties), party))
                 if any(costs[party].values())]
    totals = {kind: sum((row[kind] for row in cost_rows), ZERO) for kind in (*COST_KINDS, "total")}

    cause_counts: dict[str, int] = {}
    for cause, count in causes:
        cause_counts[cause or OTHER_CAUSE] = cause_counts.get(cause or OTHER_CAUSE, 0) + count
    return {
        "start": period_start.isoformat(),
        "end": period_end.isoformat(),
        "received": sum(by_kind.values()),
        "by_kind": _counted(by_kind, CASE_KINDS),
        "by_category": _counted(by_category, CASE_CATEGORIES),
        "by_platform": _counted(by_platform, PLATFORMS),
        "costs": cost_rows,
        "cost_totals": totals,
        "top_categories": _pareto([(row["label"], row["count"]) for row in _counted(by_category, CASE_CATEGORIES)]),
        "top_causes": _pareto(sorted(cause_counts.items())),
        "cost_pareto": _pareto([(row["label"], row["total"]) for row in cost_rows]),
    }


def report_charts(figures: dict) -> dict:
    """The report's Pareto charts (charts.pareto_chart geometry): top categories, review causes, cost per party."""
    return {name: charts.pareto_chart([(row["label"], row["value"]) for row in figures[name]])
            for name in ("top_categories", "top_causes", "cost_pareto")}


# --- the texts: robot markdown, mail, workbook ----------------------------------------------------------------

def is_month(figures: dict) -> bool:
    start, end = date.fromisoformat(figures["start"]), date.fromisoformat(figures["end"])
    return period_of(MONTH, start) == Period(MONTH, start, end)


def title(figures: dict) -> str:
    if is_month(figures):
        return _("After-sales report %(month)s", month=figures["start"][:7])
    return _("After-sales report %(start)s – %(end)s", start=figures["start"], end=figures["end"])


def percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def _counts_line(rows: list[dict], limit: int, data) -> str:
    shown = [f"{data(str(row['label']))} {row['count']}" for row in rows[:limit]]
    if len(rows) > limit:
        shown.append(_("… and %(count)s more", count=len(rows) - limit))
    return " · ".join(shown)


def report_blocks(figures: dict, limit: int, style: Style) -> list[list[str]]:
    """The report as blocks of lines, lists cut to ``limit`` rows with "and K more"."""
    data, strong = style.data, style.strong
    blocks = [[f"{style.heading}{data(title(figures))}"],
              [_("%(count)s cases received", count=strong(str(figures["received"])))]]
    for heading, rows in ((_("By kind"), figures["by_kind"]), (_("By problem category"), figures["by_category"]),
                          (_("By platform"), figures["by_platform"])):
        if rows:
            blocks.append([f"{strong(heading)}: {_counts_line(rows, limit, data)}"])
    totals = figures["cost_totals"]
    lines = [strong(_("Cost per responsible party: ¥%(total)s", total=totals["total"]))]
    for row in figures["costs"]:
        lines.append("- " + _("%(party)s: ¥%(total)s (refunds %(refunds)s · compensation %(compensation)s · reships "
                              "%(reships)s · freight %(freight)s)", party=data(str(row["label"])), total=row["total"],
                              refunds=row["refunds"], compensation=row["compensation"], reships=row["reships"],
                              freight=row["freight"]))
    blocks.append(lines)
    for heading, rows in ((_("Top problem categories"), figures["top_categories"]),
                          (_("Top review causes"), figures["top_causes"])):
        if rows:
            shown = [f"{data(str(row['label']))} {row['value']} ({percent(row['cumulative'])})" for row in rows[:limit]]
            blocks.append([f"{strong(heading)}: " + " · ".join(shown)])
    if style is PLAIN:  # the mail states the rules; the robot message stays short
        blocks.append([_("Rules: %(rules)s", rules=" ".join(str(rule) for rule in RULES))])
    return blocks


def report_text(figures: dict, limit: int, style: Style) -> str:
    return "\n\n".join("\n".join(block) for block in report_blocks(figures, limit, style)) + "\n"


def markdown(figures: dict) -> str:
    """One robot message in the shop's language, lists shortened until it fits 4,096 bytes."""
    with shop_language():
        return notify.fitting(lambda limit: report_text(figures, limit, MARKDOWN), MARKDOWN_LIMITS)


def mail(figures: dict) -> tuple[str, str, str]:
    """(subject, plain text, HTML): the HTML is the page's own tables, autoescaped, without the charts
    (mail readers drop SVG) and without links."""
    with shop_language():
        subject = _("%(title)s: %(count)s cases, cost ¥%(total)s", title=title(figures), count=figures["received"],
                    total=figures["cost_totals"]["total"])
        text = report_text(figures, 100, PLAIN)
        html = render_template("scoring/report_mail.html", report=figures, rules=RULES, subject=subject, for_mail=True,
                               lang=current_app.config["BABEL_DEFAULT_LOCALE"])
    return subject, text, html


def write_xlsx(figures: dict, handle) -> None:
    """The report as a workbook, one sheet per table; texts are plain string cells, neutralised like every export."""
    workbook = Workbook(write_only=True)

    def sheet(name: str, header: list[str], rows: list[list], widths: tuple[int, ...]) -> None:
        target = workbook.create_sheet(title=name[:31])
        for position, width in enumerate(widths, start=1):
            target.column_dimensions[get_column_letter(position)].width = width
        target.append([xlsx_cell(target, text, bold=True) for text in header])
        for row in rows:
            cells = [xlsx_cell(target, value if isinstance(value, (int, float, Decimal)) else str(value)) for value in row]
            for cell, value in zip(cells, row, strict=True):
                if isinstance(value, float):
                    cell.number_format = "0%"
            target.append(cells)

    totals = figures["cost_totals"]
    sheet(_("Overview"), [_("Figure"), _("Value")], [
        [_("Report"), title(figures)], [_("From"), figures["start"]], [_("To"), figures["end"]],
        [_("Cases received"), figures["received"]],
        *[[label, totals[kind]] for kind, label in cost_labels().items()],
        [_("Total cost"), totals["total"]],
        [], *[[_("Rule"), str(rule)] for rule in RULES],
    ], (24, 100))
    for name, rows, column in ((_("By kind"), figures["by_kind"], _("Kind")),
                               (_("By problem category"), figures["by_category"], _("Problem category")),
                               (_("By platform"), figures["by_platform"], _("Platform"))):
        sheet(name, [column, _("Cases")], [[row["label"], row["count"]] for row in rows], (30, 10))
    sheet(_("Cost per party"), [_("Responsible party"), *cost_labels().values(), _("Total")],
          [[row["label"], *[row[kind] for kind in COST_KINDS], row["total"]] for row in figures["costs"]]
          + [[_("Total"), *[totals[kind] for kind in COST_KINDS], totals["total"]]], (22, 12, 14, 12, 12, 12))
    for name, rows, column, unit in ((_("Top problem categories"), figures["top_categories"], _("Problem category"), _("Cases")),
                                     (_("Top review causes"), figures["top_causes"], _("Cause"), _("Reviews"))):
        sheet(name, [column, unit, _("Cumulative share")], [[row["label"], row["value"], row["cumulative"]] for row in rows],
              (30, 10, 16))
    workbook.save(handle)


def cost_labels() -> dict:
    return {"refunds": _("Refunds"), "compensation": _("Compensation"), "reships": _("Reships"), "freight": _("Freight")}


# --- sending -------------------------------------------------------------------------------------------------

def send(figures: dict, now: datetime, smtp: notify.SmtpSettings | None) -> dict:
    """Send the report to the manager's addresses (setting scoring_report_emails) and to every robot of the
    review summary (review_summary_robots). Returns {"sent": [target], "failed": [[target, error]]}; one
    channel's failure does not stop the others. Errors name the target without its key and mask secrets."""
    emails = list(get_setting("scoring_report_emails") or [])
    robots = list(get_setting("review_summary_robots") or [])
    sent, failed = [], []
    if emails:
        target = ", ".join(emails)[:500]
        try:
            if smtp is None:
                raise notify.NotifyError(NO_MAIL_SERVER)
            subject, text, html = mail(figures)
            notify.send_mail(smtp, to=emails, subject=subject, text=text, html=html)
        except notify.NotifyError as error:
            failed.append([target, _masked(error, None, smtp)])
        else:
            sent.append(target)
    message = markdown(figures)
    with shop_language():
        robot_title = title(figures)
    for robot in robots:
        target = redact_url(robot.get("url", ""))
        try:
            notify.send_robot(robot.get("kind", ""), robot.get("url", ""), title=robot_title, markdown=message,
                              secret=robot.get("secret") or "", now=now)
        except notify.NotifyError as error:
            failed.append([target, _masked(error, robot, smtp)])
        else:
            sent.append(target)
    return {"sent": sent, "failed": failed}


def _masked(error: notify.NotifyError, robot: dict | None, smtp: notify.SmtpSettings | None) -> str:
    message = str(error.message)
    for secret in _secrets(robot, smtp):
        message = message.replace(secret, "***")
    return message[:300]
