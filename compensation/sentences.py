"""What the timeline says about compensation, refunds, limits and budgets (registered with timeline.register)."""

from __future__ import annotations

from flask_babel import gettext as _

import timeline
from compensation.labels import COMPENSATION_REASONS, PAYOUTS


def requested(event, d) -> str:
    return _("Asked for compensation of ¥%(amount)s (%(reason)s).", amount=d.get("amount"),
             reason=str(COMPENSATION_REASONS.get(d.get("reason"), d.get("reason"))))


def decided(event, d) -> str:
    if d.get("auto"):
        return _("¥%(amount)s approved at once: within the requester's limit.", amount=d.get("amount"))
    sentence = (_("Approved the compensation of ¥%(amount)s.", amount=d.get("amount")) if d.get("decision") == "approved"
                else _("Rejected the compensation of ¥%(amount)s.", amount=d.get("amount")))
    over = d.get("over_order")
    confirmed = (_("Confirmed paying back ¥%(excess)s more than the buyer paid (¥%(total)s of ¥%(paid)s): %(reason)s",
                   excess=over.get("excess"), total=over.get("total"), paid=over.get("paid"), reason=over.get("reason", ""))
                 if over else "")
    return timeline.sentences_text(sentence, confirmed, d.get("note") or "").strip()


def held(event, d) -> str:
    return _("¥%(amount)s not approved at once: it would pay back ¥%(total)s on this order, more than the buyer paid "
             "(¥%(paid)s). It waits for a lead.", amount=d.get("amount"), total=d.get("total"), paid=d.get("paid"))


def refund_set(event, d) -> str:
    sentence = _("Refund set to ¥%(amount)s (proposed ¥%(proposed)s after deducting ¥%(deducted)s).",
                 amount=d.get("to"), proposed=d.get("proposed"), deducted=d.get("deducted"))
    return f"{sentence} {d.get('reason') or ''}".strip()


def limit_changed(event, d) -> str:
    return _("Compensation limit of %(name)s: %(old)s → %(new)s.", name=d.get("name", ""),
             old=d.get("from") if d.get("from") is not None else _("no limit"),
             new=d.get("to") if d.get("to") is not None else _("no limit"))


SENTENCES = {
    "compensation_requested": requested,
    "compensation_decided": decided,
    "compensation_held": held,
    "compensation_forwarded": lambda event, d: _("Forwarded the compensation of ¥%(amount)s to the managers.", amount=d.get("amount")),
    "compensation_paid": lambda event, d: _("Paid the compensation of ¥%(amount)s (%(channel)s %(reference)s).", amount=d.get("amount"),
                                            channel=str(PAYOUTS.get(d.get("channel"), d.get("channel"))), reference=d.get("reference", "")),
    "refund_set": refund_set,
    "limit_changed": limit_changed,
    "compensation_seen": lambda event, d: _("Saw the decision on their compensation request."),
    "budget_set": lambda event, d: _("Budget for %(month)s: ¥%(amount)s.", month=d.get("month", ""), amount=d.get("to")),
}
