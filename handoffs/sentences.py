"""What the timeline says about handoffs (registered with timeline.register)."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_babel import gettext as _

from handoffs.labels import HANDOFF_KINDS


def _by(d) -> str:
    """An outside party acts through a link, without an account: their name is in the event."""
    return _(" (by %(name)s, through the link)", name=d.get("by", "")) if d.get("via") == "link" else ""


def raised(event, d) -> str:
    kind = str(HANDOFF_KINDS.get(d.get("kind"), d.get("kind")))
    if event.subject_type == "case":
        return _("Handed to %(team)s: H%(id)s (%(kind)s).", team=d.get("team", ""), id=d.get("handoff"), kind=kind)
    return _("Raised (%(kind)s) for %(team)s: %(request)s", kind=kind, team=d.get("team", ""), request=d.get("request", ""))


def acknowledged(event, d) -> str:
    sentence = _("Acknowledged.")
    if d.get("expected"):
        expected = datetime.fromisoformat(d["expected"]).astimezone(current_app.config["SHOP_TZ"])
        sentence = _("Acknowledged; expected by %(time)s.", time=expected.strftime("%m-%d %H:%M"))
    return sentence + _by(d)


SENTENCES = {
    "handoff_raised": raised,
    "handoff_acknowledged": acknowledged,
    "handoff_followed_up": lambda event, d: d.get("text", "") + _by(d),
    "handoff_done": lambda event, d: _("Done: %(note)s", note=d.get("note", "")) + _by(d),
    "handoff_closed": lambda event, d: _("Confirmed and closed."),
    "handoff_sent_back": lambda event, d: _("Sent back: %(reason)s", reason=d.get("reason", "")),
    "handoff_file_added": lambda event, d: _("Added a photo or video: %(name)s", name=d.get("name", "")) + _by(d),
    "shift_accepted": lambda event, d: _("Accepted the shift handoff: %(count)s cases now theirs.", count=d.get("cases", 0)),
    "link_created": lambda event, d: _("Made a link for %(party)s.", party=d.get("party", "")),
    "link_revoked": lambda event, d: _("Revoked the link of %(party)s.", party=d.get("party", "")),
    "link_opened": lambda event, d: _("%(party)s opened the link.", party=d.get("party", "")),
}
