"""The words of the handoff sheet: kinds, states, and which team each kind goes to."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

HANDOFF_KINDS = {
    "presales": _l("Presales to aftersales"),
    "shift": _l("Shift handoff"),
    "warehouse": _l("Warehouse request"),
    "logistics": _l("Logistics request"),
    "operations": _l("Operations request"),
    "qc": _l("Quality control request"),
    "tech_support": _l("Tech support request"),
    "finance": _l("Finance request"),
    "call_centre": _l("400 call centre request"),
    "installer": _l("Installer partner request"),
}

# The team function a kind is owed by, and the kind a request to a team of that function is.
OWED_FUNCTION = {"presales": "aftersales", "shift": "aftersales", "warehouse": "warehouse", "logistics": "logistics",
                 "operations": "operations", "qc": "qc", "tech_support": "tech_support", "finance": "finance",
                 "call_centre": "call_centre", "installer": "installer"}
KIND_FOR_FUNCTION = {function: kind for kind, function in OWED_FUNCTION.items() if kind not in ("presales", "shift")}
KIND_FOR_FUNCTION["aftersales"] = "presales"
KIND_FOR_FUNCTION["presales"] = "presales"

# Hours from raising to the due time, per kind (defaults: a lead edits them on the rules page).
DEFAULT_DUE_HOURS = {"presales": 24, "shift": 16, "warehouse": 24, "logistics": 48, "operations": 24, "qc": 48,
                     "tech_support": 24, "finance": 48, "call_centre": 24, "installer": 72}

HANDOFF_STATES = {
    "open": _l("Waiting for acknowledgement"),
    "acknowledged": _l("Acknowledged"),
    "done": _l("Done, waiting for confirmation"),
    "sent_back": _l("Sent back"),
    "closed": _l("Closed"),
}
OPEN_STATES = ("open", "acknowledged", "sent_back")  # the owing side has something to do
UNFINISHED_STATES = (*OPEN_STATES, "done")          # not closed: stays on the sheet

HANDOFF_STATUSES = {"on_time": _l("on time"), "flagged": _l("not acknowledged in time"), "overdue": _l("overdue"),
                    "waiting": _l("waiting for the raiser"), "closed": _l("closed")}

TEMPLATE_LABELS = {"handoff_kind_labels": HANDOFF_KINDS, "handoff_state_labels": HANDOFF_STATES,
                   "handoff_status_labels": HANDOFF_STATUSES}
