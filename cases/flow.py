"""The closed loop of an after-sales case: what may happen to it, and what each step records.

Plain functions over a Case, the acting user, the SLA rules and ``now``. Each change
lands in the timeline and refreshes the case's stored nearest deadline.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from cases import duty, sla
from cases.labels import (
    CASE_STATES,
    FLAGS,
    INTERVENTION_CATEGORIES,
    INTERVENTION_KINDS,
    MILESTONES,
    OUTCOME_KINDS,
    OUTCOMES,
    RESPONSIBILITIES,
    WAITING_FOR,
    state_label,
)
from models import Case, CaseCheck, Shop, User, UserError, apply_changes, db, record

TRANSITIONS = {
    "new": ("in_progress", "waiting", "resolved"),
    "in_progress": ("waiting", "resolved"),
    "waiting": ("in_progress", "waiting", "resolved"),
    "resolved": ("closed", "in_progress"),  # back to in progress: the buyer is not satisfied
    "closed": ("in_progress",),  # reopened
}


# What a person decides about a case and a marketplace may also say: once a person set one in the app, a later
# import or sync keeps the person's value, and a different one from the platform waits as a conflict
# (cases/platform.py). The platform's facts (amounts, times, its status) always follow the platform.
TRIAGE_FIELDS = ("category", "priority", "flag", "flag_note", "summary")


class CaseRuleError(UserError):
    """A change the rules do not allow; the message is for the person who tried."""


def mask_phone(phone: str | None) -> str:
    """138****5678 for a mobile number; the middle of anything else."""
    if not phone:
        return ""
    phone = phone.strip()
    if len(phone) >= 8:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return "*" * len(phone)


def same_number_case(platform: str, platform_case_id: str | None, exclude_id: int | None = None) -> Case | None:
    """Another case with this platform after-sales number (unique per platform)."""
    if not platform_case_id:
        return None
    stmt = sa.select(Case).where(Case.platform == platform, Case.platform_case_id == platform_case_id)
    if exclude_id:
        stmt = stmt.where(Case.id != exclude_id)
    return db.session.scalar(stmt.limit(1))


def next_serial(platform: str, order_no: str, kind: str) -> int:
    """The serial a case opened by hand takes: 0 for the first of its order and kind without a platform number."""
    highest = db.session.scalar(sa.select(sa.func.max(Case.duplicate_serial)).where(
        Case.platform == platform, Case.order_no == order_no, Case.kind == kind, Case.platform_case_id.is_(None)))
    return 0 if highest is None else highest + 1


def refresh_deadlines(case: Case, rules: sla.Rules, now: datetime) -> list[sla.Clock]:
    """Store the case's nearest deadline and at-risk moment, ours or the platform's (the one writer of both)."""
    clocks = rules.clocks(case, now)
    case.next_due_at, case.next_risk_at = rules.deadlines(case, now, clocks)
    return clocks


def allowed_targets(case: Case) -> tuple[str, ...]:
    return TRANSITIONS.get(case.state, ())


def create_case(values: dict, actor: User, rules: sla.Rules, now: datetime, via: str = "form") -> Case:
    """A new case. By hand ("form") a second case of an order and kind is allowed and numbered; an import
    means serial 0, so the database refuses the same row created twice."""
    case = Case(**values)
    shop = case.shop if case.shop is not None else db.session.get(Shop, case.shop_id)
    case.platform = shop.platform
    if via == "form" and not case.platform_case_id:
        case.duplicate_serial = next_serial(case.platform, case.order_no, case.kind)
    case.created_by_id = actor.id if actor else None
    case.received_at = values.get("received_at") or now
    case.pauses = []
    # what a person chose or typed on the form is theirs; a field left empty there is not
    case.triaged = [name for name in TRIAGE_FIELDS if values.get(name) not in (None, "")] if via == "form" else []
    case.platform_conflicts = []
    note_intervention(case)
    db.session.add(case)
    refresh_deadlines(case, rules, now)
    db.session.flush()
    record(actor, "case", case.id, "created", via=via, order_no=case.order_no, kind=case.kind, category=case.category)
    duty.share_out([case], actor)  # form, import, sync alike: an unassigned new case goes to whoever's turn it is
    return case


def note_intervention(case: Case) -> None:
    """Once the platform is in a case (a dispute, or waiting for 小二介入), it stays counted as intervened:
    the self-completion rate (自主完结率) counts only refunds finished without it."""
    if case.kind in INTERVENTION_KINDS or case.category in INTERVENTION_CATEGORIES or case.waiting_for == "platform":
        case.platform_intervened = True


def change_state(case: Case, target: str, actor: User, rules: sla.Rules, now: datetime, *,
                 waiting_for: str | None = None, closure: dict | None = None, note: str = "") -> None:
    if target not in CASE_STATES:
        raise CaseRuleError(_l("Unknown state."))
    if target not in allowed_targets(case):
        raise CaseRuleError(_l("A case that is %(state)s cannot go to %(target)s.",
                               state=state_label(case), target=CASE_STATES[target]))
    if target == "waiting" and waiting_for not in WAITING_FOR:
        raise CaseRuleError(_l("Say what the case is waiting for."))
    if target == "waiting" and case.state == "waiting" and waiting_for == case.waiting_for:
        raise CaseRuleError(_l("The case is already waiting for that."))
    reopening = case.state in ("resolved", "closed") and target == "in_progress"
    if reopening and not note.strip():
        raise CaseRuleError(_l("Say why the buyer is not satisfied."))
    if target == "closed":
        closure = closure or {}
        if closure.get("responsibility") not in RESPONSIBILITIES:
            raise CaseRuleError(_l("Closing needs the responsible party."))
        if not (closure.get("cause") or "").strip():
            raise CaseRuleError(_l("Closing needs the cause."))
        outcome = closure.get("outcome") or None
        if outcome is not None and (outcome not in OUTCOMES or case.kind not in OUTCOME_KINDS[outcome]):
            raise CaseRuleError(_l("That outcome does not apply to a case of this kind."))

    before = case.state
    if target == "waiting" and waiting_for in rules.pausing_waits:
        case.pauses = sla.pause_started(list(case.pauses or []), now)
    else:
        case.pauses = sla.pause_ended(list(case.pauses or []), now)
    case.state = target
    case.waiting_for = waiting_for if target == "waiting" else None
    detail = {"from": before, "to": target}
    if target == "waiting":
        detail["waiting_for"] = waiting_for
    if target == "resolved":
        case.resolved_at = now
    if target == "closed":
        case.closed_at = now
        case.responsibility = closure["responsibility"]
        case.responsible_person = (closure.get("person") or "").strip()[:64]
        case.cause = closure["cause"].strip()
        case.result = (closure.get("result") or "").strip()
        case.buyer_feedback = (closure.get("buyer_feedback") or "").strip()
        case.outcome = closure.get("outcome") or None
        case.closed_assignee_id = case.assignee_id  # the attribution rule: a case counts for its assignee at closure
        detail.update(responsibility=case.responsibility, person=case.responsible_person, cause=case.cause)
        if case.outcome:
            detail["outcome"] = case.outcome
    if reopening:
        case.reopen_count += 1
        case.resolved_at = case.closed_at = case.followed_up_at = None
        case.outcome = case.closed_assignee_id = None
        detail["reopened"] = case.reopen_count
    if note.strip():
        detail["note"] = note.strip()
    note_intervention(case)
    record(actor, "case", case.id, "state_changed", **detail)
    refresh_deadlines(case, rules, now)


def mark_milestone(case: Case, milestone: str, actor: User, rules: sla.Rules, now: datetime, detail: str = "") -> None:
    if milestone not in MILESTONES:
        raise CaseRuleError(_l("Unknown step."))
    if milestone in ("replied", "buyer_updated"):
        if case.first_reply_at is None:
            case.first_reply_at = now
        case.last_buyer_update_at = now
    elif milestone == "routed":
        if not detail.strip():
            raise CaseRuleError(_l("Say which department the case goes to."))
        case.routed_at, case.routed_to, case.department_response_at = now, detail.strip()[:64], None
    elif milestone == "department_responded":
        if case.routed_at is None:
            raise CaseRuleError(_l("The case has not been routed to a department."))
        case.department_response_at = now
    elif milestone == "return_received":
        case.return_received_at = now
        case.refunded_at = None
    elif milestone == "refunded":
        case.refunded_at = now
    elif milestone == "followed_up":
        if case.state != "closed":
            raise CaseRuleError(_l("The satisfaction follow-up comes after closing."))
        case.followed_up_at = now
    record(actor, "case", case.id, "milestone", milestone=milestone, detail=detail.strip())
    refresh_deadlines(case, rules, now)


def assign(case: Case, assignee: User | None, actor: User, rules: sla.Rules, now: datetime) -> None:
    if assignee is not None and (not assignee.active or not assignee.can("work_cases")):
        raise CaseRuleError(_l("Cases go to active colleagues who work cases."))
    if case.assignee_id == (assignee.id if assignee else None):
        raise CaseRuleError(_l("The case is already assigned so."))
    before = case.assignee.display_name if case.assignee else ""
    case.assignee = assignee
    if case.state == "new" and assignee is not None:
        case.state = "in_progress"
    record(actor, "case", case.id, "assigned", **{"from": before, "to": assignee.display_name if assignee else ""})
    refresh_deadlines(case, rules, now)


def set_flag(case: Case, flag: str | None, note: str, actor: User) -> None:
    if flag is not None and flag not in FLAGS:
        raise CaseRuleError(_l("Unknown flag colour."))
    note = note.strip()[:200]
    if (flag, note) == (case.flag, case.flag_note):
        raise CaseRuleError(_l("Nothing changed."))
    record(actor, "case", case.id, "flagged", **{"from": [case.flag, case.flag_note], "to": [flag, note]})
    case.flag, case.flag_note = flag, note
    mark_triaged(case, ("flag", "flag_note"))


def mark_triaged(case: Case, fields) -> None:
    """Remember that a person set these triage fields: imports and sync keep them from now on."""
    fields = [name for name in fields if name in TRIAGE_FIELDS]
    if fields and not set(fields) <= set(case.triaged or ()):
        case.triaged = sorted(set(case.triaged or ()) | set(fields))


def add_note(case: Case, text: str, actor: User) -> None:
    text = text.strip()
    if not text:
        raise CaseRuleError(_l("The note is empty."))
    if len(text) > 2000:
        raise CaseRuleError(_l("Keep a note under 2000 characters."))
    record(actor, "case", case.id, "noted", text=text)


def update_fields(case: Case, values: dict, actor: User | None, rules: sla.Rules, now: datetime, *,
                  by_person: bool = True, via: str = "") -> dict:
    """Apply an edit form (or, ``by_person`` False, what an import or sync brings: ``via`` says which);
    returns {field: [old, new]} of what really changed."""
    key_before = (case.platform, case.order_no, case.kind, case.platform_case_id)
    changes = apply_changes(case, values)
    if "shop_id" in changes:
        case.platform = db.session.get(Shop, case.shop_id).platform
    if (case.platform, case.order_no, case.kind, case.platform_case_id) != key_before:
        case.duplicate_serial = 0 if case.platform_case_id else next_serial(case.platform, case.order_no, case.kind)
    if "buyer_phone" in changes:  # the timeline must not leak the number either
        changes["buyer_phone"] = [mask_phone(changes["buyer_phone"][0]), mask_phone(changes["buyer_phone"][1])]
    if changes:
        if by_person:
            mark_triaged(case, changes)
        note_intervention(case)
        record(actor, "case", case.id, "updated", changes=changes, **({"via": via} if via else {}))
        refresh_deadlines(case, rules, now)
    return changes


def tick_step(case: Case, step: str, done: bool, actor: User, steps: list[str]) -> None:
    if step not in steps:
        raise CaseRuleError(_l("That step is not in this case's procedure."))
    existing = db.session.scalar(sa.select(CaseCheck).where(CaseCheck.case_id == case.id, CaseCheck.step == step))
    if done and existing is None:
        db.session.add(CaseCheck(case_id=case.id, step=step, done_by_id=actor.id))
        record(actor, "case", case.id, "step_done", step=step)
    elif not done and existing is not None:
        db.session.delete(existing)
        record(actor, "case", case.id, "step_undone", step=step)


def reveal_phone(case: Case, actor: User) -> str:
    if not actor.can("reveal_phone"):
        raise CaseRuleError(_l("Your role does not allow this."))
    record(actor, "case", case.id, "phone_revealed")
    return case.buyer_phone or ""
