"""One action on many cases of the list, all or nothing.

Each case is changed by the same flow function as its single action (so the timeline says the same), after
its own version check against the version the person saw. If any case changed meanwhile, or any rule refuses
any case, nothing is changed and the refusal names every such case and what it is now; the caller rolls back.

Closing is not offered in bulk: a closing needs the responsible party, cause, result and outcome of that one
case (flow.change_state), which are not the same for many cases at once; close them one by one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

import timeline
from cases import flow, sla
from cases.labels import CASE_STATES, state_label
from models import MAX_ID, Case, User, UserError, db

MAX_CASES = 500  # a lead's day is a few hundred cases; more at once is more likely a filter mistake
ACTIONS = ("assign", "state", "flag", "note")
TARGETS = ("in_progress", "waiting", "resolved")  # not "closed": see the module's docstring
ROW = re.compile(r"^(\d{1,19}):(\d{1,9})$")


def parse_rows(values: Iterable[str]) -> dict[int, int]:
    """{case id: version the page showed} from "id:version" values, in their order; ValueError if malformed."""
    rows = {}
    for value in values:
        found = ROW.match(value.strip())
        if found is None or int(found.group(1)) > MAX_ID:
            raise ValueError(value)
        rows[int(found.group(1))] = int(found.group(2))
    return rows


def rows_of(cases: Iterable[Case]) -> list[str]:
    return [f"{case.id}:{case.version}" for case in cases]


@dataclass
class RowRefusal:
    """Why one case stops the whole action."""

    case_id: int
    order_no: str | None
    reason: str

    def __str__(self) -> str:
        return _("%(order)s (%(ref)s): %(reason)s", order=self.order_no or "–", ref=f"#{self.case_id}", reason=self.reason)


class BulkRefused(UserError):
    def __init__(self, refusals: list[RowRefusal]):
        super().__init__(refusal_message(refusals))
        self.refusals = refusals


def refusal_message(refusals: list[RowRefusal]) -> str:
    return _("Nothing was changed. These cases stop it: %(rows)s", rows=timeline.list_text(refusals))


def changed_meanwhile(case: Case) -> RowRefusal:
    who = case.assignee.display_name if case.assignee else _("nobody")
    return RowRefusal(case.id, case.order_no, _("changed by someone else meanwhile; it is now “%(state)s”, assigned to %(who)s",
                                                state=state_label(case), who=who))


@dataclass
class Change:
    """What to do to each case: the action and its values, checked by the form."""

    action: str
    assignee: User | None = None
    target: str = ""
    waiting_for: str | None = None
    note: str = ""
    flag: str | None = None
    flag_note: str = ""

    def already(self, case: Case) -> bool:
        """A case that already is as asked is left alone rather than refusing the lot ("already assigned so")."""
        if self.action == "assign":
            return case.assignee_id == (self.assignee.id if self.assignee else None)
        if self.action == "flag":
            return (case.flag, case.flag_note) == (self.flag, self.flag_note.strip()[:200])
        return False

    def apply(self, case: Case, actor: User, rules: sla.Rules, now: datetime) -> None:
        if self.action == "assign":
            flow.assign(case, self.assignee, actor, rules, now)
        elif self.action == "state":
            if self.target not in TARGETS:
                raise flow.CaseRuleError(_l("Close cases one by one: each needs its own closing details."))
            flow.change_state(case, self.target, actor, rules, now, waiting_for=self.waiting_for, note=self.note)
        elif self.action == "flag":
            flow.set_flag(case, self.flag, self.flag_note, actor)
        elif self.action == "note":
            flow.add_note(case, self.note, actor)
        else:
            raise flow.CaseRuleError(_l("Unknown action."))

    @property
    def checks_versions(self) -> bool:
        """A note only adds to the timeline, so it never conflicts (as the single note action)."""
        return self.action != "note"

    def message(self, count: int) -> str:
        if self.action == "assign":
            if self.assignee is None:
                return _("%(count)s cases unassigned.", count=count)
            return _("%(count)s cases assigned to %(name)s.", count=count, name=self.assignee.display_name)
        if self.action == "state":
            return _("%(count)s cases moved to “%(state)s”.", count=count, state=CASE_STATES[self.target])
        if self.action == "flag":
            if self.flag is None:
                return _("Flag removed from %(count)s cases.", count=count)
            return _("%(count)s cases flagged.", count=count)
        return _("Note added to %(count)s cases.", count=count)


@dataclass
class Outcome:
    changed: list[Case] = field(default_factory=list)
    unchanged: list[Case] = field(default_factory=list)  # already as asked

    def message(self, change: Change) -> str:
        if not self.changed:
            return _("Nothing to change: the selected cases already were so.")
        text = change.message(len(self.changed))
        if self.unchanged:
            text += " " + _("%(count)s already were so and were left as they were.", count=len(self.unchanged))
        return text


def load(case_ids: Iterable[int]) -> dict[int, Case]:
    """The cases, read fresh (and locked on PostgreSQL until the commit, so no one changes them in between)."""
    ids = list(case_ids)
    stmt = (sa.select(Case).where(Case.id.in_(ids)).options(so.selectinload(Case.assignee))
            .with_for_update(of=Case).execution_options(populate_existing=True))
    return {case.id: case for case in db.session.scalars(stmt)}


def stale_rows(versions: dict[int, int]) -> list[RowRefusal]:
    """The cases whose version is no longer the one the page showed (read again, e.g. after a lost race)."""
    return _refusals(versions, load(versions), check_versions=True)


def _refusals(versions: dict[int, int], cases: dict, check_versions: bool) -> list[RowRefusal]:
    refusals = []
    for case_id, version in versions.items():
        case = cases.get(case_id)
        if case is None:
            refusals.append(RowRefusal(case_id, None, _("no longer exists")))
        elif check_versions and case.version != version:
            refusals.append(changed_meanwhile(case))
    return refusals


def apply(versions: dict[int, int], change: Change, actor: User, rules: sla.Rules, now: datetime) -> Outcome:
    """Apply ``change`` to every case of ``versions`` ({id: version seen}) or raise BulkRefused naming each case
    that stops it. Changes are made in the session only; the caller commits, or rolls back on the refusal."""
    if not versions:
        raise UserError(_l("Select at least one case."))
    if len(versions) > MAX_CASES:
        raise UserError(_l("A bulk action takes at most %(max)s cases at a time.", max=MAX_CASES))
    cases = load(versions)
    refusals = _refusals(versions, cases, change.checks_versions)
    if refusals:
        raise BulkRefused(refusals)
    outcome = Outcome()
    for case_id in versions:
        case = cases[case_id]
        if change.already(case):
            outcome.unchanged.append(case)
            continue
        try:
            change.apply(case, actor, rules, now)
        except UserError as refused:
            refusals.append(RowRefusal(case.id, case.order_no, str(refused.message)))
        else:
            outcome.changed.append(case)
    if refusals:
        raise BulkRefused(refusals)
    return outcome


def matching_rows(conditions: list, order_by, limit: int = MAX_CASES) -> tuple[int, list[str]]:
    """(how many cases the filter ``conditions`` match, "id:version" of each in list order when at most
    ``limit``, else [])."""
    rows = db.session.execute(sa.select(Case.id, Case.version).where(*conditions).order_by(*order_by).limit(limit + 1)).all()
    if len(rows) > limit:
        return db.session.scalar(sa.select(sa.func.count()).select_from(Case).where(*conditions)), []
    return len(rows), [f"{case_id}:{version}" for case_id, version in rows]
