"""What the board, the list view and the export show: one filter, parsed once, applied in SQL; the cards; the overdue count."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from cases import flow, sla
from cases.labels import CASE_KINDS, CASE_STATES, FLAGS, PRIORITIES
from models import PLATFORMS, Case, SlaPolicy, User, db

SCOPES = ("mine", "team", "unassigned")
CLOCK_FILTERS = ("at_risk", "overdue")
BOARD_COLUMNS = ("new", "in_progress", "waiting", "resolved", "closed")
# The board's closed column: recently closed only, long enough that a missed 72 h satisfaction
# follow-up stays in sight for four days before the case leaves the board.
CLOSED_SHOWN_FOR = timedelta(days=7)
SEARCH_MAX = 64


@dataclass
class CaseFilter:
    scope: str = ""
    platform: str = ""
    kind: str = ""
    priority: str = ""
    clock: str = ""
    flag: str = ""
    state: str = ""
    q: str = ""

    @classmethod
    def from_args(cls, args) -> CaseFilter:
        """Read the query string; anything unknown is ignored rather than refused."""
        allowed = {
            "scope": SCOPES, "platform": tuple(PLATFORMS), "kind": tuple(CASE_KINDS),
            "priority": tuple(str(p) for p in PRIORITIES), "clock": CLOCK_FILTERS,
            "flag": (*FLAGS, "any"), "state": tuple(CASE_STATES),
        }
        values = {}
        for name, options in allowed.items():
            value = (args.get(name) or "").strip()
            values[name] = value if value in options else ""
        values["q"] = (args.get("q") or "").strip()[:SEARCH_MAX]
        return cls(**values)

    def to_args(self) -> dict:
        return {name: value for name, value in asdict(self).items() if value}

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def where(self, user: User, now: datetime) -> list:
        """SQL conditions for this filter, as seen by ``user`` at ``now``."""
        conditions = []
        if self.scope == "mine":
            conditions.append(Case.assignee_id == user.id)
        elif self.scope == "team":
            team_members = sa.select(User.id).where(User.team_id == user.team_id)
            conditions.append(Case.assignee_id.in_(team_members) if user.team_id else sa.false())
        elif self.scope == "unassigned":
            conditions.append(Case.assignee_id.is_(None))
        if self.platform:
            conditions.append(Case.platform == self.platform)
        if self.kind:
            conditions.append(Case.kind == self.kind)
        if self.priority:
            conditions.append(Case.priority == int(self.priority))
        if self.clock == "overdue":
            conditions.append(Case.next_due_at <= now)
        elif self.clock == "at_risk":  # at risk or already overdue: everything that needs action now
            conditions.append(Case.next_risk_at <= now)
        if self.flag == "any":
            conditions.append(Case.flag.is_not(None))
        elif self.flag:
            conditions.append(Case.flag == self.flag)
        if self.state:
            conditions.append(Case.state == self.state)
        if self.q:
            # Order numbers are matched from their start (index-friendly); nicknames exactly or by prefix.
            pattern = self.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            conditions.append(sa.or_(Case.order_no.like(pattern, escape="\\"),
                                     Case.buyer_nick.like(pattern, escape="\\"),
                                     Case.platform_case_id == self.q))
        return conditions


OPEN_STATES = tuple(state for state in BOARD_COLUMNS if state != "closed")


def visible_states_condition(now: datetime):
    """Open cases, and closed ones only while recently closed.

    Written so both halves use an index (state, then state + closed_at): most of a
    shop's cases are closed long ago and must not be scanned on every board render.
    """
    return sa.or_(Case.state.in_(OPEN_STATES), sa.and_(Case.state == "closed", Case.closed_at >= now - CLOSED_SHOWN_FOR))


def column_counts(case_filter: CaseFilter, user: User, now: datetime, session) -> dict:
    """Cases per board column, in one statement: the open states, then the recently closed."""
    conditions = case_filter.where(user, now)
    open_counts = (sa.select(Case.state, sa.func.count().label("n"))
                   .where(Case.state.in_(OPEN_STATES), *conditions).group_by(Case.state))
    closed_count = (sa.select(sa.literal("closed").label("state"), sa.func.count().label("n"))
                    .where(Case.state == "closed", Case.closed_at >= now - CLOSED_SHOWN_FOR, *conditions))
    counts = dict.fromkeys(BOARD_COLUMNS, 0)
    counts.update({state: n for state, n in session.execute(sa.union_all(open_counts, closed_count)).all()})
    return counts


def deadline_order():
    """Soonest deadline first; cases with no running clock last; then oldest first."""
    return (Case.next_due_at.is_(None), Case.next_due_at, Case.received_at, Case.id)


def with_card_relations(stmt):
    """What a card shows: its shop and assignee in the same query; long texts it does not show stay unloaded."""
    return stmt.options(so.joinedload(Case.shop), so.joinedload(Case.assignee),
                        so.defer(Case.summary), so.defer(Case.cause), so.defer(Case.result), so.defer(Case.buyer_feedback))


def column_cases(state: str, case_filter: CaseFilter, user: User, now: datetime, limit: int):
    stmt = sa.select(Case).where(Case.state == state, *case_filter.where(user, now))
    if state == "closed":  # walks ix_cases_state_closed_at backwards from the newest
        stmt = stmt.where(Case.closed_at >= now - CLOSED_SHOWN_FOR).order_by(Case.closed_at.desc())
    else:
        stmt = stmt.order_by(*deadline_order())
    return with_card_relations(stmt.limit(limit))


def list_statement(case_filter: CaseFilter, user: User, now: datetime):
    """Every case the filter matches (closed ones too), soonest deadline first."""
    return with_card_relations(sa.select(Case).where(*case_filter.where(user, now)).order_by(*deadline_order()))


def card_view(case: Case, rules: sla.Rules, now: datetime) -> dict:
    """What a card shows: the case, its nearest running clock, its colour, when that colour changes."""
    clocks = rules.clocks(case, now)
    return {
        "case": case,
        "clock": sla.nearest(clocks),
        "status": sla.status_at(case.next_due_at, case.next_risk_at, now) or "none",
        "changes_at": sla.next_status_change(case.next_due_at, case.next_risk_at, now),
        "targets": flow.allowed_targets(case),
    }


def overdue_for(user: User, now: datetime) -> tuple[int, datetime | None]:
    """(cases of ``user`` past a deadline, the next deadline still to come), as the board shows them.

    A closed case whose follow-up was missed long ago does not count for ever.
    """
    mine = (Case.assignee_id == user.id, Case.next_due_at.is_not(None), visible_states_condition(now))
    overdue = db.session.scalar(sa.select(sa.func.count()).where(*mine, Case.next_due_at <= now)) or 0
    next_due = db.session.scalar(sa.select(sa.func.min(Case.next_due_at)).where(*mine, Case.next_due_at > now))
    return overdue, next_due


def sla_overrides() -> list[SlaPolicy]:
    return db.session.scalars(sa.select(SlaPolicy).order_by(SlaPolicy.clock, SlaPolicy.kind, SlaPolicy.priority)).all()


def recompute_open_cases(rules: sla.Rules, now: datetime) -> int:
    """After a rule change every running clock is measured again (in batches, one transaction)."""
    count = 0
    stmt = sa.select(Case).where(visible_states_condition(now) | (Case.next_due_at.is_not(None))).execution_options(yield_per=500)
    for case in db.session.scalars(stmt):
        flow.refresh_deadlines(case, rules, now)
        count += 1
    return count
