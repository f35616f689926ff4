"""The words of the case area: kinds, categories, states, clocks. Keys are stored; labels are shown."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from platforms.statuses import STATUSES as PLATFORM_STATUSES

CASE_KINDS = {
    "refund_only": _l("Refund only"),
    "return_refund": _l("Return and refund"),
    "exchange": _l("Exchange"),
    "reship": _l("Reship"),
    "compensation": _l("Compensation"),
    "install_repair": _l("Install or repair"),
    "complaint": _l("Complaint"),
    "dispute": _l("Platform dispute"),
    "inquiry": _l("Inquiry"),
}

CASE_CATEGORIES = {
    "install": _l("Install / uninstall"),
    "missing_whole": _l("Missing item: whole product"),
    "missing_accessory": _l("Missing item: accessory"),
    "extra_item": _l("Extra item shipped"),
    "wrong_whole": _l("Wrong item: whole product"),
    "wrong_accessory": _l("Wrong item: accessory"),
    "damaged_on_arrival": _l("Damaged or scratched on arrival"),
    "fault_in_use": _l("Scratch or fault in use"),
    "size_differs": _l("Size differs from the page"),
    "function_not_expected": _l("Function not as expected"),
    "service": _l("Service experience"),
    "logistics": _l("Logistics: delay, stuck, lost"),
    "bad_review_threat": _l("Bad-review threat"),
    "seven_day_return": _l("7-day no-reason return"),
    "payment_refund": _l("Payment or refund not received"),
    "platform_dispute": _l("Platform intervention dispute"),
    "other": _l("Other"),
}

CASE_STATES = {
    "new": _l("New"),
    "in_progress": _l("In progress"),
    "waiting": _l("Waiting"),
    "resolved": _l("Resolved, awaiting buyer"),
    "closed": _l("Closed"),
}

WAITING_FOR = {
    "buyer": _l("Waiting for the buyer"),
    "warehouse": _l("Waiting for the warehouse"),
    "platform": _l("Waiting for platform intervention"),
    "third_party": _l("Waiting for a third party"),
}

PRIORITIES = {0: _l("P0 urgent"), 1: _l("P1 high"), 2: _l("P2 normal"), 3: _l("P3 low")}

FLAGS = {"red": _l("Red"), "yellow": _l("Yellow"), "green": _l("Green"), "blue": _l("Blue"), "purple": _l("Purple")}

RESPONSIBILITIES = {
    "production": _l("Production"),
    "warehouse": _l("Warehouse"),
    "courier": _l("Courier"),
    "purchasing": _l("Purchasing"),
    "operations": _l("Operations"),
    "customer_service": _l("Customer service"),
    "order_clerk": _l("Order clerk"),
    "none": _l("None (goodwill)"),
}

# How a case ended, where the monthly score needs to know (scoring/figures.py): set when it is closed.
OUTCOMES = {
    "retained": _l("Return withdrawn: the buyer kept the item"),
    "upheld": _l("Ruled against the shop (complaint or dispute upheld)"),
    "not_upheld": _l("Ruled for the shop (complaint or dispute not upheld)"),
}
# The kinds an outcome applies to: a return can be retained; a complaint or dispute is ruled on.
OUTCOME_KINDS = {"retained": ("return_refund", "exchange"), "upheld": ("complaint", "dispute"),
                 "not_upheld": ("complaint", "dispute")}
# A case of these kinds or this category has the platform in it from the start.
INTERVENTION_KINDS = ("dispute",)
INTERVENTION_CATEGORIES = ("platform_dispute",)


CLOCK_LABELS = {
    "reply": _l("Reply"), "no_response": _l("Department response"), "progress": _l("Progress update"),
    "refund": _l("Refund after return"), "abnormal": _l("Abnormal order"), "courier": _l("Courier answer"),
    "dispute": _l("Dispute answer"), "satisfaction": _l("Satisfaction follow-up"),
}

# What the button says for a move, where the target state's name alone would not.
STATE_ACTION_LABELS = {
    "new>in_progress": _l("Start"),
    "new>resolved": _l("Resolved at once"),
    "in_progress>resolved": _l("Resolved: tell the buyer"),
    "waiting>in_progress": _l("Resume"),
    "waiting>resolved": _l("Resolved: tell the buyer"),
    "resolved>closed": _l("Buyer confirmed: close"),
    "resolved>in_progress": _l("Buyer not satisfied: reopen"),
    "closed>in_progress": _l("Reopen"),
}

MILESTONES = {
    "replied": _l("First reply sent to the buyer"),
    "buyer_updated": _l("Progress update sent to the buyer"),
    "routed": _l("Routed to a department"),
    "department_responded": _l("Department responded"),
    "return_received": _l("Return received by the warehouse"),
    "refunded": _l("Refund done"),
    "followed_up": _l("Satisfaction follow-up done"),
}

CLOCK_STATUS_LABELS = {
    "on_time": _l("on time"), "at_risk": _l("at risk"), "overdue": _l("overdue"), "paused": _l("paused"),
    "met": _l("done in time"), "missed": _l("done late"),
}


def outcome_choices(case) -> list[str]:
    """The outcomes a closing can record for this case's kind."""
    return [key for key, kinds in OUTCOME_KINDS.items() if case.kind in kinds]


def state_label(case) -> str:
    """A case's state as a person says it: a waiting case says what it waits for."""
    if case.state == "waiting" and case.waiting_for:
        return str(WAITING_FOR.get(case.waiting_for, case.waiting_for))
    return str(CASE_STATES.get(case.state, case.state))


# The tables (and the one function) templates reach by name, registered with templating.register_labels.
TEMPLATE_LABELS = {
    "kind_labels": CASE_KINDS, "category_labels": CASE_CATEGORIES, "priority_labels": {str(key): label for key, label in PRIORITIES.items()},
    "state_labels": CASE_STATES, "waiting_labels": WAITING_FOR, "flag_labels": FLAGS,
    "responsibility_labels": RESPONSIBILITIES, "clock_labels": CLOCK_LABELS, "outcome_labels": OUTCOMES,
    "state_action_labels": STATE_ACTION_LABELS, "clock_status_labels": CLOCK_STATUS_LABELS, "milestone_labels": MILESTONES,
    "case_state_label": state_label, "outcome_choices": outcome_choices,
    "platform_status_labels": PLATFORM_STATUSES,
}
