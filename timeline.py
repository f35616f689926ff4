"""Timeline events as sentences a person reads, in the reader's language."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import (
    CASE_CATEGORIES,
    CASE_KINDS,
    CASE_STATES,
    COMPENSATION_REASONS,
    FLAGS,
    PAYOUTS,
    PRIORITIES,
    RESPONSIBILITIES,
    ROLES,
    WAITING_FOR,
    TimelineEvent,
)

FIELD_LABELS = {
    "shop_id": _l("Shop"), "order_no": _l("Order number"), "platform_case_id": _l("Platform after-sales number"),
    "buyer_nick": _l("Buyer nickname"), "buyer_phone": _l("Buyer phone"), "kind": _l("Kind"),
    "category": _l("Problem category"), "priority": _l("Priority"), "assignee_id": _l("Assignee"),
    "order_amount": _l("Order amount (yuan)"), "refund_amount": _l("Refund amount (yuan)"), "summary": _l("What the buyer says"),
    "flag": _l("Flag"), "flag_note": _l("Flag note"), "platform_deadline_at": _l("Platform deadline"),
    "platform_deadline_note": _l("What the platform will do then"),
    "username": _l("Username"), "display_name": _l("Name"), "role": _l("Role"), "team_id": _l("Team"),
    "compensation_limit": _l("Compensation limit"), "active": _l("Status"), "password": _l("Password"),
    "name": _l("Team name"), "function": _l("Function"),
}
VALUE_LABELS = {"kind": CASE_KINDS, "category": CASE_CATEGORIES, "priority": PRIORITIES, "flag": FLAGS, "role": ROLES}


def _value(field: str, value) -> str:
    if value is None or value == "":
        return "–"
    labels = VALUE_LABELS.get(field)
    if labels is not None:
        return str(labels.get(value, value))
    if value is True:
        return _("yes")
    if value is False:
        return _("no")
    return str(value)


def changes_text(changes: dict) -> str:
    parts = []
    for field, pair in changes.items():
        old, new = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
        parts.append(f"{FIELD_LABELS.get(field, field)}: {_value(field, old)} → {_value(field, new)}")
    return "; ".join(parts)


def describe(event: TimelineEvent) -> str:
    """One sentence for the event (who and when are shown beside it)."""
    from caseflow import MILESTONES

    d = event.detail or {}
    action = event.action
    if action == "created":
        if event.subject_type == "case":
            return _("Created the case (%(kind)s, %(category)s) from %(via)s.",
                     kind=str(CASE_KINDS.get(d.get("kind"), d.get("kind"))),
                     category=str(CASE_CATEGORIES.get(d.get("category"), d.get("category"))),
                     via={"import": _("an import"), "demo data": _("demo data")}.get(d.get("via"), _("the form")))
        return _("Created.")
    if action == "updated":
        return _("Changed %(changes)s.", changes=changes_text(d.get("changes", {})))
    if action == "state_changed":
        target = d.get("to")
        if target == "waiting":
            text = str(WAITING_FOR.get(d.get("waiting_for"), d.get("waiting_for")))
        else:
            text = str(CASE_STATES.get(target, target))
        sentence = _("Moved to: %(state)s.", state=text)
        if d.get("reopened"):
            sentence = _("Reopened (time %(count)s): the buyer is not satisfied.", count=d["reopened"])
        if target == "closed":
            sentence += " " + _("Cause: %(cause)s. Responsible: %(party)s %(person)s.", cause=d.get("cause", ""),
                                party=str(RESPONSIBILITIES.get(d.get("responsibility"), "")), person=d.get("person", ""))
        if d.get("note"):
            sentence += " " + d["note"]
        return sentence
    if action == "milestone":
        label = str(MILESTONES.get(d.get("milestone"), d.get("milestone")))
        return f"{label}{(': ' + d['detail']) if d.get('detail') else ''}."
    if action == "assigned":
        return _("Assigned to %(name)s.", name=d.get("to") or _("nobody"))
    if action == "flagged":
        flag, note = (d.get("to") or [None, ""])[:2]
        return _("Flag: %(flag)s %(note)s", flag=_value("flag", flag), note=note or "")
    if action == "noted":
        return d.get("text", "")
    if action == "step_done":
        return _("Done: %(step)s", step=_(d.get("step", "")))
    if action == "step_undone":
        return _("Not done after all: %(step)s", step=_(d.get("step", "")))
    if action == "phone_revealed":
        return _("Looked at the buyer's full phone number.")
    if action == "evidence_added":
        return _("Added evidence: %(name)s", name=d.get("name", ""))
    if action == "compensation_requested":
        return _("Asked for compensation of ¥%(amount)s (%(reason)s).", amount=d.get("amount"),
                 reason=str(COMPENSATION_REASONS.get(d.get("reason"), d.get("reason"))))
    if action == "compensation_decided":
        if d.get("auto"):
            return _("¥%(amount)s approved at once: within the requester's limit.", amount=d.get("amount"))
        sentence = (_("Approved the compensation of ¥%(amount)s.", amount=d.get("amount")) if d.get("decision") == "approved"
                    else _("Rejected the compensation of ¥%(amount)s.", amount=d.get("amount")))
        return f"{sentence} {d.get('note') or ''}".strip()
    if action == "compensation_forwarded":
        return _("Forwarded the compensation of ¥%(amount)s to the managers.", amount=d.get("amount"))
    if action == "compensation_paid":
        return _("Paid the compensation of ¥%(amount)s (%(channel)s %(reference)s).", amount=d.get("amount"),
                 channel=str(PAYOUTS.get(d.get("channel"), d.get("channel"))), reference=d.get("reference", ""))
    if action == "refund_set":
        sentence = _("Refund set to ¥%(amount)s (proposed ¥%(proposed)s after deducting ¥%(deducted)s).",
                     amount=d.get("to"), proposed=d.get("proposed"), deducted=d.get("deducted"))
        return f"{sentence} {d.get('reason') or ''}".strip()
    if action == "limit_changed":
        return _("Compensation limit of %(name)s: %(old)s → %(new)s.", name=d.get("name", ""),
                 old=d.get("from") if d.get("from") is not None else _("no limit"),
                 new=d.get("to") if d.get("to") is not None else _("no limit"))
    if action == "budget_set":
        return _("Budget for %(month)s: ¥%(amount)s.", month=d.get("month", ""), amount=d.get("to"))
    if action == "imported":
        return _("Imported %(file)s: %(created)s created, %(updated)s updated.", file=d.get("file", ""),
                 created=d.get("created", 0), updated=d.get("updated", 0))
    if action == "mapping_saved":
        return _("Saved the column mapping of %(platform)s.", platform=d.get("platform", ""))
    if action == "mapping_forgotten":
        return _("Went back to the standard column names of %(platform)s.", platform=d.get("platform", ""))
    if action == "phones_exported":
        return _("Exported %(count)s full phone numbers.", count=d.get("count", 0))
    if action == "password_changed":
        return _("Changed their password.")
    return action
