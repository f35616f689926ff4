"""The words of marketplace sync: a run's outcome and a connection's health."""

from flask_babel import lazy_gettext as _l

OUTCOMES = {
    "running": _l("Running"),
    "ok": _l("Done"),
    "retry": _l("Failed, will retry"),
    "stopped": _l("Stopped"),
}

HEALTH = {
    "ok": _l("Syncing"),
    "paused": _l("Paused"),
    "stopped": _l("Stopped"),
    "token_expired": _l("Token expired"),
    "token_expiring": _l("Token expires soon"),
    "cannot_sync": _l("Platform not supported"),
}

KIND_LABELS = {"cases": _l("After-sales"), "reviews": _l("Reviews")}

TEMPLATE_LABELS = {"sync_outcomes": OUTCOMES, "sync_health": HEALTH, "sync_kinds": KIND_LABELS}
