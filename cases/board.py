"""What the board, the list view and the export show: one filter, parsed once, applied in SQL; the cards; the overdue count."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta
from typing import ClassVar

import sqlalchemy as sa
import sqlalchemy.orm as so

from cases import flow, search, sla
from cases.labels import CASE_KINDS, CASE_STATES, FLAGS, PRIORITIES
from models import PERMISSIONS, PLATFORMS, Case, SlaPolicy, TimelineEvent, User, UTCDateTime, db

SCOPES = ("mine", "team", "unassigned")
CLOCK_FILTERS = ("at_risk", "overdue")
BOARD_COLUMNS = ("new", "in_progress", "waiting", "resolved", "closed")
# The board's closed column: recently closed only, long enough that a missed 72 h satisfaction
# follow-up stays in sight for four days before the case leaves the board.
CLOSED_SHOWN_FOR = timedelta(days=7)
SEARCH_MAX = 64


def agent_options() -> list[tuple[str, str]]:
    """(id as text, display name) of the active people who work cases: the agent filter's choices and what it accepts."""
    people = db.session.execute(built_once(("agents",), lambda: sa.select(User.id, User.display_name)
                                           .where(User.active, User.role.in_(sorted(PERMISSIONS["work_cases"])))
                                           .order_by(User.display_name, User.id))).all()
    return [(str(user_id), name) for user_id, name in people]


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
    assignee: str = ""  # one agent's id, as text (the "whose" scope narrows to me, my team or nobody)

    # (id as text, display name) of the people the agent filter offers: read when first needed, then kept
    _agents: ClassVar[tuple | None] = None

    @property
    def agents(self) -> tuple:
        if self._agents is None:
            self._agents = tuple(agent_options())
        return self._agents

    @classmethod
    def from_args(cls, args, agents: list[tuple[str, str]] | None = None) -> CaseFilter:
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
        assignee = (args.get("assignee") or "").strip()
        if assignee and agents is None:
            agents = agent_options()
        values["assignee"] = assignee if assignee.isdigit() and assignee in dict(agents or ()) else ""
        made = cls(**values)
        if agents is not None:
            made._agents = tuple(agents)
        return made

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
        if self.assignee:
            conditions.append(Case.assignee_id == int(self.assignee))
        if self.q:
            conditions.append(search.condition(self.q))
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
    stmt = built_once(("counts",), lambda: _counts_statement(())) if not case_filter.active else \
        _counts_statement(case_filter.where(user, now))
    counts = dict.fromkeys(BOARD_COLUMNS, 0)
    counts.update({state: n for state, n in session.execute(stmt, {"closed_since": now - CLOSED_SHOWN_FOR}).all()})
    return counts


def _counts_statement(conditions):
    open_counts = (sa.select(Case.state, sa.func.count().label("n"))
                   .where(Case.state.in_(OPEN_STATES), *conditions).group_by(Case.state))
    closed_count = (sa.select(sa.literal("closed").label("state"), sa.func.count().label("n"))
                    .where(Case.state == "closed", Case.closed_at >= sa.bindparam("closed_since"), *conditions))
    return sa.union_all(open_counts, closed_count)


# Statements that depend on no request, built once per process: building a select and working out its
# cache key cost about a millisecond each, more than running it. Keyed by what shapes them.
_BUILT: dict = {}


def built_once(key: tuple, build):
    statement = _BUILT.get(key)
    if statement is None:
        statement = _BUILT[key] = build()
    return statement


def deadline_order():
    """Soonest deadline first, ours or the platform's (``next_due_at`` holds the earlier, see sla.summary);
    cases with no running clock last; then oldest first. Written as NULLS LAST, not ``IS NULL`` first, so a
    column is read in the order of ix_cases_state_due_order with no sort (SQLite 3.30+ and PostgreSQL)."""
    return (Case.next_due_at.asc().nulls_last(), Case.received_at, Case.id)


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


# --- the board's cards: one narrow SELECT per column, no ORM entities --------------------------
# What a card shows and what its clocks need (sla.CaseFacts), and nothing else: a board render reads
# about 100 of these rows, and loading whole Case entities (with their shop) cost more than the SQL.
CARD_COLUMNS = (
    Case.id, Case.version, Case.updated_at, Case.state, Case.kind, Case.category, Case.priority, Case.platform, Case.order_no,
    Case.buyer_nick, Case.order_amount, Case.refund_amount, Case.waiting_for, Case.flag, Case.flag_note,
    Case.assignee_id, Case.platform_deadline_at, Case.next_due_at, Case.next_risk_at,
    Case.received_at, Case.first_reply_at, Case.last_buyer_update_at, Case.routed_at, Case.department_response_at,
    Case.return_received_at, Case.refunded_at, Case.closed_at, Case.followed_up_at, Case.pauses,
    Case.platform_status, Case.platform_status_text, Case.platform_conflicts,
)


# What a card's cached HTML is keyed by (blueprints/cases.board_card), with what orders a column: read for
# every card of every render, so a card whose HTML is reused costs these few columns and nothing more.
CARD_KEY_COLUMNS = (Case.id, Case.version, Case.updated_at, Case.state, Case.next_due_at, Case.next_risk_at,
                    Case.received_at, Case.closed_at)


def board_card_keys(case_filter: CaseFilter, user: User, now: datetime, limit: int, session) -> dict[str, list]:
    """{column: its first ``limit`` rows of CARD_KEY_COLUMNS and assignee_name, in the column's order}, in one
    statement (five ordered, limited selects glued with UNION ALL; built once when no filter is set)."""
    if case_filter.active:
        stmt = _card_keys_statement(case_filter.where(user, now), limit)
    else:
        stmt = built_once(("card_keys", limit), lambda: _card_keys_statement((), limit))
    columns: dict[str, list] = {state: [] for state in BOARD_COLUMNS}
    for row in session.execute(stmt, {"closed_since": now - CLOSED_SHOWN_FOR}):
        columns[row.state].append(row)
    for state, rows in columns.items():  # each part was ordered; a union keeps no order, so order again (<= limit rows)
        if state == "closed":
            rows.sort(key=lambda row: (row.closed_at, row.id), reverse=True)
        else:
            rows.sort(key=lambda row: (row.next_due_at is None, row.next_due_at or now, row.received_at, row.id))
    return columns


def _card_keys_statement(conditions, limit: int):
    parts = []
    for state in BOARD_COLUMNS:
        part = (sa.select(*CARD_KEY_COLUMNS, User.display_name.label("assignee_name"))
                .outerjoin(User, User.id == Case.assignee_id).where(Case.state == state, *conditions))
        if state == "closed":  # walks ix_cases_state_closed_at backwards from the newest
            part = part.where(Case.closed_at >= sa.bindparam("closed_since")).order_by(Case.closed_at.desc(), Case.id.desc())
        else:  # walks ix_cases_state_due_order
            part = part.order_by(*deadline_order())
        parts.append(sa.select(part.limit(limit).subquery()))
    return sa.union_all(*parts)


def card_rows(ids: list[int], session) -> dict[int, object]:
    """{id: row of CARD_COLUMNS and assignee_name} for the cards that must be drawn again (one statement)."""
    if not ids:
        return {}
    stmt = built_once(("card_rows",), lambda: sa.select(*CARD_COLUMNS, User.display_name.label("assignee_name"))
                      .outerjoin(User, User.id == Case.assignee_id).where(Case.id.in_(sa.bindparam("ids", expanding=True))))
    return {row.id: row for row in session.execute(stmt, {"ids": ids})}


def countdown_valid_until(clock: sla.Clock | None, now: datetime) -> datetime | None:
    """Until when a card's countdown text (whole minutes, templating.format_duration) stays the same.

    Conservative: with business hours a paused-by-calendar clock changes more slowly than this.
    """
    if clock is None or clock.due_at is None or clock.status == sla.PAUSED:
        return None
    seconds = clock.remaining.total_seconds()
    step = seconds % 60 if seconds > 0 else 60 - (-seconds % 60)
    return now + timedelta(seconds=max(step, 0.001))


def card_view(case: Case, rules: sla.Rules, now: datetime) -> dict:
    """What a card shows: the case, its nearest running clock, its colour, when that colour changes."""
    clocks = rules.clocks(case, now)
    return {
        "case": case,
        "clock": sla.nearest(clocks),
        "status": sla.status_at(case.next_due_at, case.next_risk_at, now) or "none",
        "changes_at": sla.next_status_change(case.next_due_at, case.next_risk_at, now),
        "platform": rules.platform_clock(case, now),
        "targets": flow.allowed_targets(case),
    }


def overdue_for(user: User, now: datetime) -> tuple[int, datetime | None]:
    """(cases of ``user`` past a deadline, the next deadline still to come), as the board shows them.

    A closed case whose follow-up was missed long ago does not count for ever.
    """
    # The very filter the counter's link opens (the board, mine, overdue) over the cases the board shows.
    overdue_filter = CaseFilter(scope="mine", clock="overdue")
    overdue = db.session.scalar(sa.select(sa.func.count()).select_from(Case)
                                .where(*overdue_filter.where(user, now), visible_states_condition(now))) or 0
    mine = (Case.assignee_id == user.id, Case.next_due_at.is_not(None), visible_states_condition(now))
    next_due = db.session.scalar(sa.select(sa.func.min(Case.next_due_at)).where(*mine, Case.next_due_at > now))
    return overdue, next_due


def newest_assignment_to(user: User) -> tuple[int, int, str, bool] | None:
    """The newest assignment among ``user``'s open cases: (timeline event id, case id, order number,
    made by someone else), or None. Only a case's latest assignment counts; the event id only grows, so the
    header announces each one once (live.News)."""
    latest = (sa.select(sa.func.max(TimelineEvent.id))
              .where(TimelineEvent.subject_type == "case", TimelineEvent.subject_id == Case.id,
                     TimelineEvent.action == "assigned")
              .correlate(Case).scalar_subquery())
    row = db.session.execute(
        sa.select(TimelineEvent.id, Case.id, Case.order_no, TimelineEvent.actor_id)
        .select_from(Case).join(TimelineEvent, TimelineEvent.id == latest)
        .where(Case.assignee_id == user.id, Case.state.in_(OPEN_STATES))
        .order_by(TimelineEvent.id.desc()).limit(1)
    ).first()
    if row is None:
        return None
    event_id, case_id, order_no, actor_id = row
    return event_id, case_id, order_no, actor_id != user.id


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


# --- the lead's workload panel ---------------------------------------------------------------

@dataclass
class Workload:
    """One person's share of the open cases (or the unassigned ones, ``user`` None)."""

    user: User | None
    open: int = 0
    at_risk: int = 0  # at risk, not yet overdue
    overdue: int = 0


def workload(case_filter: CaseFilter, user: User, now: datetime, session) -> tuple[list[Workload], datetime | None]:
    """Open, at-risk and overdue cases per person who works cases (everyone, with none too), and the unassigned,
    under the board's filter but for whose cases they are; and the next moment a count can change with no write.

    Two statements whatever the data: the counts grouped by assignee, and the people."""
    team_view = replace(case_filter, scope="", assignee="")
    conditions = (Case.state.in_(OPEN_STATES), *team_view.where(user, now))
    overdue = sa.case((Case.next_due_at <= now, 1), else_=0)
    at_risk = sa.case((sa.and_(Case.next_risk_at <= now, sa.or_(Case.next_due_at.is_(None), Case.next_due_at > now)), 1), else_=0)
    counts = {row.assignee_id: row for row in session.execute(
        sa.select(Case.assignee_id, sa.func.count().label("open"), sa.func.sum(at_risk).label("at_risk"),
                  sa.func.sum(overdue).label("overdue"), sa.func.min(sa.case((Case.next_risk_at > now, Case.next_risk_at)), type_=UTCDateTime).label("next_risk"),
                  sa.func.min(sa.case((Case.next_due_at > now, Case.next_due_at)), type_=UTCDateTime).label("next_due"))
        .where(*conditions).group_by(Case.assignee_id))}
    people = session.scalars(sa.select(User).where(User.active, User.role.in_(PERMISSIONS["work_cases"]))
                             .order_by(User.display_name)).all()
    rows = []
    for person in [None, *people]:
        found = counts.get(person.id if person else None)
        rows.append(Workload(person, found.open, int(found.at_risk or 0), int(found.overdue or 0)) if found else Workload(person))
    changes = [moment for row in counts.values() for moment in (row.next_risk, row.next_due) if moment is not None]
    return rows, (min(changes) if changes else None)
