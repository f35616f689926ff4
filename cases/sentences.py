"""What the timeline says about cases, imports and exports (registered with timeline.register)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cases.labels import CASE_CATEGORIES, CASE_KINDS, CASE_STATES, FLAGS, MILESTONES, PRIORITIES, RESPONSIBILITIES, WAITING_FOR
from cases.procedures import text_of
from platforms.statuses import STATUSES as PLATFORM_STATUSES
from timeline import sentences_text, value_text

FIELD_LABELS = {
    "shop_id": _l("Shop"), "order_no": _l("Order number"), "platform_case_id": _l("Platform after-sales number"),
    "buyer_nick": _l("Buyer nickname"), "buyer_phone": _l("Buyer phone"), "kind": _l("Kind"),
    "category": _l("Problem category"), "priority": _l("Priority"), "assignee_id": _l("Assignee"),
    "order_amount": _l("Order amount (yuan)"), "refund_amount": _l("Refund amount (yuan)"), "summary": _l("What the buyer says"),
    "flag": _l("Flag"), "flag_note": _l("Flag note"), "platform_deadline_at": _l("Platform deadline"),
    "platform_deadline_note": _l("What the platform will do then"),
}
VALUE_LABELS = {"kind": CASE_KINDS, "category": CASE_CATEGORIES, "priority": PRIORITIES, "flag": FLAGS}


def created(event, d) -> str:
    return _("Created the case (%(kind)s, %(category)s) from %(via)s.",
             kind=str(CASE_KINDS.get(d.get("kind"), d.get("kind"))),
             category=str(CASE_CATEGORIES.get(d.get("category"), d.get("category"))),
             via={"import": _("an import"), "sync": _("the platform (sync)"), "demo data": _("demo data")}
             .get(d.get("via"), _("the form")))


def state_changed(event, d) -> str:
    target = d.get("to")
    if target == "waiting":
        text = str(WAITING_FOR.get(d.get("waiting_for"), d.get("waiting_for")))
    else:
        text = str(CASE_STATES.get(target, target))
    sentence = _("Moved to: %(state)s.", state=text)
    if d.get("reopened"):
        sentence = _("Reopened (time %(count)s): the buyer is not satisfied.", count=d["reopened"])
    closure = ""
    if target == "closed":
        closure = _("Cause: %(cause)s. Responsible: %(party)s %(person)s.", cause=d.get("cause", ""),
                    party=str(RESPONSIBILITIES.get(d.get("responsibility"), "")), person=d.get("person", ""))
    return sentences_text(sentence, closure, d.get("note"))


def milestone(event, d) -> str:
    label = str(MILESTONES.get(d.get("milestone"), d.get("milestone")))
    if d.get("detail"):
        return _("%(milestone)s: %(detail)s.", milestone=label, detail=d["detail"])
    return _("%(milestone)s.", milestone=label)


def flagged(event, d) -> str:
    flag, note = (d.get("to") or [None, ""])[:2]
    return _("Flag: %(flag)s %(note)s", flag=value_text("flag", flag), note=note or "")


def conflict_text(name: str, stored) -> str:
    """A value of a platform conflict (cases/platform.py) in words: the platform's status for ``state``."""
    if name == "state":
        return str(PLATFORM_STATUSES.get(stored, CASE_STATES.get(stored, stored)))
    if name == "priority" and stored not in (None, ""):
        stored = int(stored)
    return value_text(name, stored)


def platform_status(event, d) -> str:
    words = str(PLATFORM_STATUSES[d["to"]]) if d.get("to") in PLATFORM_STATUSES else (d.get("text") or "–")
    return _("Platform: %(status)s", status=words)


def platform_conflict(event, d) -> str:
    parts = [_("%(field)s: platform %(platform)s, this case %(ours)s",
               field=str(FIELD_LABELS.get(item.get("field"), _("State"))),
               platform=conflict_text(item.get("field"), item.get("platform")),
               ours=conflict_text(item.get("field"), item.get("ours")))
             for item in d.get("conflicts", [])]
    return _("The platform says otherwise; the case keeps what a person set (%(parts)s).", parts="；".join(parts))


def platform_conflict_settled(event, d) -> str:
    field = str(FIELD_LABELS.get(d.get("field"), _("State")))
    if d.get("took_platform"):
        return _("Took the platform's %(field)s: %(value)s.", field=field, value=conflict_text(d.get("field"), d.get("platform")))
    return _("Kept this case's %(field)s (the platform said %(value)s).", field=field,
             value=conflict_text(d.get("field"), d.get("platform")))


SENTENCES = {
    "platform_status": platform_status,
    "platform_conflict": platform_conflict,
    "platform_conflict_settled": platform_conflict_settled,
    "case.created": created,
    "state_changed": state_changed,
    "milestone": milestone,
    "assigned": lambda event, d: (_("Assigned to %(name)s in turn (new cases shared among the people on duty).", name=d.get("to") or _("nobody"))
                                  if d.get("rule") == "round_robin" else _("Assigned to %(name)s.", name=d.get("to") or _("nobody"))),
    "flagged": flagged,
    "noted": lambda event, d: d.get("text", ""),
    "step_done": lambda event, d: _("Done: %(step)s", step=text_of(d.get("step", ""))),
    "step_undone": lambda event, d: _("Not done after all: %(step)s", step=text_of(d.get("step", ""))),
    "phone_revealed": lambda event, d: _("Looked at the buyer's full phone number."),
    "evidence_added": lambda event, d: _("Added evidence: %(name)s", name=d.get("name", "")),
    "imported": lambda event, d: _("Imported %(file)s: %(created)s created, %(updated)s updated.", file=d.get("file", ""),
                                   created=d.get("created", 0), updated=d.get("updated", 0)),
    "mapping_saved": lambda event, d: _("Saved the column mapping of %(platform)s.", platform=d.get("platform", "")),
    "mapping_forgotten": lambda event, d: _("Went back to the standard column names of %(platform)s.", platform=d.get("platform", "")),
    "phones_exported": lambda event, d: _("Exported %(count)s full phone numbers.", count=d.get("count", 0)),
}
