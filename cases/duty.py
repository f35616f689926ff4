"""Who is on duty, and new unassigned cases shared among them in turn (the round-robin a lead switches on).

Whose turn it is needs no stored pointer: the next case goes to the person on duty with the fewest open
cases, and among equals to the one whose newest open case is oldest, then the lowest id. That is counted
inside the transaction that creates the case, so one import deals its cases out in turn (3 people, 10
cases: 4, 3, 3), and two imports running at once have no shared counter to race on: at worst both give
their first case to the same person, and the following cases even that out. Someone who comes on duty with
an empty queue gets the next cases until they carry as many as the others.

An automatic assignment leaves the case "new" (nobody has started it) and is recorded with no actor and
``rule: round_robin`` in the timeline. Cases already waiting when the rule is switched on stay as they are.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

import timeline
from cases.labels import CASE_STATES
from models import PERMISSIONS, Case, User, UserError, db, get_setting, record

WORKLOAD_STATES = tuple(state for state in CASE_STATES if state != "closed")
ROUND_ROBIN = "round_robin"

timeline.register({}, field_labels={"on_duty": _l("On duty")})


class DutyError(UserError):
    """A duty switch the rules do not allow."""


def works_cases():
    """The SQL condition for people who can take cases."""
    return sa.and_(User.active, User.role.in_(sorted(PERMISSIONS["work_cases"])))


def may_switch(actor: User, person: User) -> bool:
    """Anyone who works cases switches themself; someone who sets the case rules switches others, a lead only
    those of their own team."""
    if actor.id == person.id:
        return actor.can("work_cases")
    if not actor.can("manage_case_rules"):
        return False
    return actor.role != "lead" or (actor.team_id is not None and actor.team_id == person.team_id)


def set_on_duty(person: User, on: bool, actor: User) -> bool:
    """Switch ``person`` on or off duty; True when it changed. Recorded in the timeline (who switched whom)."""
    if not may_switch(actor, person):
        raise DutyError(_l("Only a lead switches a colleague of their own team on or off duty."))
    if on and not (person.active and person.can("work_cases")):
        raise DutyError(_l("Only active colleagues who work cases can be on duty."))
    if person.on_duty == on:
        return False
    record(actor, "user", person.id, "updated", changes={"on_duty": [person.on_duty, on]})
    person.on_duty = on
    return True


def roster(viewer: User) -> list[User]:
    """Whose duty ``viewer`` may switch, themself first, then by name."""
    stmt = sa.select(User).where(works_cases()).order_by(User.display_name, User.id)
    if not viewer.can("manage_case_rules"):
        stmt = stmt.where(User.id == viewer.id)
    elif viewer.role == "lead":
        stmt = stmt.where(sa.or_(User.id == viewer.id, User.team_id == viewer.team_id) if viewer.team_id else User.id == viewer.id)
    people = list(db.session.scalars(stmt))
    return sorted(people, key=lambda person: person.id != viewer.id)


def _turn_order(session) -> list[list]:
    """[open cases, newest open case id, person] of everyone on duty (one statement over the open cases only)."""
    people = list(session.scalars(sa.select(User).where(User.on_duty, works_cases()).order_by(User.id)))
    if not people:
        return []
    load = {row.assignee_id: (row.open, row.newest) for row in session.execute(
        sa.select(Case.assignee_id, sa.func.count().label("open"), sa.func.max(Case.id).label("newest"))
        .where(Case.state.in_(WORKLOAD_STATES), Case.assignee_id.in_([person.id for person in people]))
        .group_by(Case.assignee_id))}
    return [[*load.get(person.id, (0, 0)), person] for person in people]


def _take_turn(order: list) -> User:
    entry = min(order, key=lambda item: (item[0], item[1], item[2].id))
    return entry[2]


def next_agent(session) -> User | None:
    """Whose turn it is: the person on duty with the fewest open cases, then the oldest newest case, then the lowest id."""
    order = _turn_order(session)
    return _take_turn(order) if order else None


def share_out(cases: Iterable[Case], actor: User | None = None) -> list[Case]:
    """Give each new unassigned case of ``cases`` to whoever's turn it is, when the lead switched the rule on.

    ``actor`` (who created the cases) is not the one who assigns: the timeline says the rule did. Returns the
    cases assigned; with nobody on duty they stay unassigned.
    """
    waiting = [case for case in cases if case.assignee_id is None and case.assignee is None and case.state == "new"]
    if not waiting or not get_setting("round_robin_new_cases"):
        return []
    order = _turn_order(db.session)
    if not order:
        return []
    by_id = {item[2].id: item for item in order}
    for case in sorted(waiting, key=lambda item: (item.received_at, item.id or 0)):
        person = _take_turn(order)
        case.assignee = person
        entry = by_id[person.id]
        entry[0] += 1
        entry[1] = max(entry[1], case.id or 0)
        record(None, "case", case.id, "assigned", **{"from": "", "to": person.display_name, "rule": ROUND_ROBIN})
    return waiting
