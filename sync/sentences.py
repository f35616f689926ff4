"""The timeline's sentences for a shop's connection and its sync runs (subject "shop")."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from sync.labels import OUTCOMES


def synced(event, d) -> str:
    sentence = _("Synced: %(created)s created, %(updated)s updated, %(skipped)s skipped.",
                 created=d.get("created", 0), updated=d.get("updated", 0), skipped=d.get("skipped", 0))
    if d.get("outcome") not in (None, "ok"):
        sentence += " " + _("%(outcome)s: %(error)s", outcome=str(OUTCOMES.get(d["outcome"], d["outcome"])),
                            error=d.get("error", ""))
    return sentence


def connection_changed(event, d) -> str:
    return _("Changed the connection: %(fields)s.", fields="、".join(d.get("fields", [])))


FIELD_LABELS = {"sync_minutes": _l("Sync every (minutes)"), "sync_promo_minutes": _l("In big-promotion mode, every (minutes)")}

SENTENCES = {
    "shop_connected": lambda event, d: _("Connected the shop to its platform."),
    "shop_connection_changed": connection_changed,
    "sync_requested": lambda event, d: _("Asked for a sync now."),
    "synced": synced,
    "sync_stopped": lambda event, d: _("Sync stopped: %(reason)s", reason=d.get("reason", "")),
}
