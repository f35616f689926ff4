"""What a marketplace reports about a case (a row of its export today, a record of its API with sync),
applied as the matching manual step would be, without undoing what a person decided.

One report is our field values (``Case`` attribute names) as the platform has them, with its status as
``platform_status`` (our key, platforms/statuses.py) and ``platform_status_text`` (its words). The rules:

- the platform's facts (order, amounts, times, its deadline, its status) follow the platform;
- a triage field a person set in the app (flow.TRIAGE_FIELDS) is kept; a different platform value is
  recorded as a conflict on the case, shown until a person takes it or keeps theirs;
- a new platform status writes "平台：…" in the timeline and moves the case and its clocks (STEPS): a refund
  that succeeded or closed resolves the case and stops the platform's clock (closing still needs the cause
  and the responsible party); the platform's intervention raises the flag; a refusal or a shipped return
  moves the case to waiting for the one who must act. A case a person already resolved or closed is not
  moved back by a platform status: the difference is a conflict instead.

``changes_of`` says what a report would change (the import's preview), ``apply`` does it (the confirm and
sync): the two share every decision, so the preview never promises what the import does not do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l

from cases import flow, sla
from cases.labels import CASE_STATES
from cases.sentences import FIELD_LABELS, conflict_text
from models import Case, User, record
from platforms import statuses

PLATFORM_FIELDS = ("platform_status", "platform_status_text", "platform_goods_status", "platform_intervention")
DONE_STATES = ("resolved", "closed")


@dataclass(frozen=True)
class Step:
    """How a new platform status moves a case: to a state (and what it waits for), a milestone, a flag."""

    state: str | None = None
    waiting_for: str | None = None
    refunded: bool = False
    flag: bool = False


STEPS = {
    statuses.WAITING_SELLER: Step(),
    statuses.WAITING_RETURN: Step("waiting", "buyer"),
    statuses.RETURN_SHIPPED: Step("waiting", "warehouse"),
    statuses.SELLER_REFUSED: Step("waiting", "buyer"),
    statuses.WAITING_BUYER: Step("waiting", "buyer"),
    statuses.REFUNDING: Step(),
    statuses.RESHIPPED: Step("waiting", "buyer"),
    statuses.INTERVENING: Step(flag=True),
    statuses.REFUNDED: Step("resolved", refunded=True),
    statuses.CLOSED: Step("resolved"),
    statuses.COMPLETED: Step("resolved"),
}
INTERVENTION_FLAG = "red"


@dataclass
class Outcome:
    """What a report changes on one case: plain field changes, new conflicts, whether its status moves."""

    changes: dict = field(default_factory=dict)      # attribute -> (old, new)
    conflicts: list = field(default_factory=list)    # new or changed conflict entries

    def __bool__(self) -> bool:
        return bool(self.changes or self.conflicts)


def _conflict_value(value):
    return value.isoformat() if isinstance(value, datetime) else (str(value) if value is not None else None)


def _open_conflicts(case: Case) -> dict:
    return {item["field"]: item for item in (getattr(case, "platform_conflicts", None) or [])}


def changes_of(case: Case, report: dict) -> Outcome:
    """What applying ``report`` to ``case`` would change; writes nothing."""
    outcome = Outcome()
    triaged = set(getattr(case, "triaged", None) or ())  # a stand-in record of a test may have neither
    conflicts = _open_conflicts(case)
    for name, new in report.items():
        old = getattr(case, name)
        if old == new:
            continue
        if name in triaged:
            if _conflict_value(new) != (conflicts.get(name) or {}).get("platform"):
                outcome.conflicts.append({"field": name, "platform": _conflict_value(new), "ours": _conflict_value(old)})
            continue
        outcome.changes[name] = (old, new)
    status = report.get("platform_status")
    if "platform_status" in outcome.changes and status is not None and case.state in DONE_STATES:
        step = STEPS.get(status, Step())
        if step.state not in (None, "resolved") and conflicts.get("state", {}).get("platform") != status:
            outcome.conflicts.append({"field": "state", "platform": status, "ours": case.state})
    return outcome


def apply(case: Case, report: dict, actor: User | None, rules: sla.Rules, now: datetime, *, via: str) -> Outcome:
    """Apply a report to a stored case in the current transaction (the caller commits)."""
    outcome = changes_of(case, report)
    if not outcome:
        return outcome
    before = case.platform_status
    plain = {name: new for name, (old, new) in outcome.changes.items() if name not in PLATFORM_FIELDS}
    if plain:
        flow.update_fields(case, plain, actor, rules, now, by_person=False, via=via)
    for name in PLATFORM_FIELDS:
        if name in outcome.changes:
            setattr(case, name, outcome.changes[name][1])
    if "platform_status" in outcome.changes or "platform_status_text" in outcome.changes:
        record(actor, "case", case.id, "platform_status", via=via, text=case.platform_status_text,
               **{"from": before, "to": case.platform_status})
    if outcome.conflicts:
        stamped = [dict(item, at=now.isoformat()) for item in outcome.conflicts]
        names = {item["field"] for item in stamped}
        case.platform_conflicts = [item for item in (case.platform_conflicts or []) if item["field"] not in names] + stamped
        record(actor, "case", case.id, "platform_conflict", via=via, conflicts=outcome.conflicts)
    if "platform_status" in outcome.changes:
        take_step(case, case.platform_status, rules, now)
    else:
        flow.refresh_deadlines(case, rules, now)
    return outcome


def take_step(case: Case, status: str | None, rules: sla.Rules, now: datetime) -> None:
    """Move a case as the manual step that matches the platform's new status would (no actor: the platform)."""
    step = STEPS.get(status)
    if step is None:
        flow.refresh_deadlines(case, rules, now)
        return
    if step.refunded and case.refunded_at is None:
        case.refunded_at = now
        record(None, "case", case.id, "milestone", milestone="refunded", via="platform")
    if status == statuses.INTERVENING:
        case.platform_intervened = True
        if case.flag != INTERVENTION_FLAG and (case.flag is None or "flag" not in (case.triaged or ())):
            record(None, "case", case.id, "flagged", via="platform",
                   **{"from": [case.flag, case.flag_note], "to": [INTERVENTION_FLAG, case.flag_note]})
            case.flag = INTERVENTION_FLAG
    moving = step.state is not None and case.state not in DONE_STATES
    if moving and (case.state, case.waiting_for) != (step.state, step.waiting_for) \
            and step.state in flow.allowed_targets(case):
        flow.change_state(case, step.state, None, rules, now, waiting_for=step.waiting_for)  # refreshes the deadlines
    else:
        flow.refresh_deadlines(case, rules, now)


def created(case: Case, actor: User | None, rules: sla.Rules, now: datetime, *, via: str) -> None:
    """A case made from a report: its first platform status takes its step as a later one would."""
    if case.platform_status is not None or case.platform_status_text:
        record(actor, "case", case.id, "platform_status", via=via, text=case.platform_status_text,
               **{"from": None, "to": case.platform_status})
        take_step(case, case.platform_status, rules, now)


def settle_conflict(case: Case, name: str, take_platform: bool, actor: User, rules: sla.Rules, now: datetime) -> None:
    """A person decides a conflict: take the platform's value (a field) or keep the case as it is."""
    conflicts = _open_conflicts(case)
    item = conflicts.get(name)
    if item is None:
        raise flow.CaseRuleError(_l("This difference was already settled."))
    case.platform_conflicts = [other for other in case.platform_conflicts if other["field"] != name]
    record(actor, "case", case.id, "platform_conflict_settled", field=name, took_platform=take_platform,
           platform=item["platform"], ours=item["ours"])
    if take_platform and name != "state":
        flow.update_fields(case, {name: conflict_value(name, item["platform"])}, actor, rules, now)


def conflict_value(name: str, stored):
    """A conflict's stored platform value back as the field's type."""
    if stored is None:
        return None
    if name == "priority":
        return int(stored)
    return stored


def conflict_rows(case: Case) -> list[dict]:
    """The case's open conflicts as its page shows them: which field, what the platform says, what the case has."""
    rows = []
    for item in case.platform_conflicts or []:
        name = item["field"]
        platform_words = conflict_text(name, item["platform"])
        ours = CASE_STATES.get(case.state, case.state) if name == "state" else conflict_text(name, getattr(case, name))
        rows.append({"field": name, "label": FIELD_LABELS.get(name, _l("State")), "platform": platform_words,
                     "ours": str(ours), "can_take": name != "state", "at": item.get("at")})
    return rows
