"""What the timeline says about reviews, the day's lists and the summaries (registered with timeline.register)."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from reviews.labels import CHANNELS, CONTACT_OUTCOMES, OUTCOMES
from timeline import changes_text, sentences_text

FIELD_LABELS = {
    "rating": _l("Rating"), "text": _l("Review text"), "product": _l("Product"), "sku": _l("SKU"),
    "picture_count": _l("Pictures"),
}


def _label(table: dict, key) -> str:
    return str(table.get(key, key or ""))


def _local(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(current_app.config["SHOP_TZ"]).strftime("%m-%d %H:%M")


def contacted(event, d) -> str:
    sentence = _("Contacted the buyer by %(channel)s at %(time)s: %(outcome)s.", channel=_label(CHANNELS, d.get("channel")),
                 time=_local(d.get("at")), outcome=_label(CONTACT_OUTCOMES, d.get("outcome")))
    return sentences_text(sentence, d.get("note"))


def handled(event, d) -> str:
    sentence = _("Handled: %(outcome)s.", outcome=_label(OUTCOMES, d.get("outcome")))
    return sentences_text(sentence, _("Reply: %(text)s", text=d["reply"]) if d.get("reply") else "", d.get("note"),
                          _("(flagged: it offers something for the review)") if d.get("flagged") else "")


def followed_up(event, d) -> str:
    sentence = _("Follow-up review at %(time)s: %(text)s", time=_local(d.get("at")), text=d.get("text", ""))
    return sentences_text(sentence, _("(credited to %(name)s's contact)", name=d["credited"]) if d.get("credited") else "")


def summary_sent(event, d) -> str:
    return _("Summary of %(day)s sent by %(channel)s to %(target)s.", day=d.get("day", ""), channel=d.get("channel", ""),
             target=d.get("target", ""))


SENTENCES = {
    "review_imported": lambda event, d: (_("Arrived from the platform (sync).") if d.get("via") == "sync"
                                         else _("Imported from %(file)s.", file=d.get("file", ""))),
    "review_updated": lambda event, d: _("Changed by an import: %(changes)s.", changes=changes_text(d.get("changes", {}))),
    "review_list_formed": lambda event, d: _("The list of %(day)s formed with %(count)s reviews.", day=d.get("day", ""),
                                             count=d.get("count", 0)),
    "review_assigned": lambda event, d: _("Assigned: %(before)s → %(after)s.", before=d.get("before") or "–",
                                          after=d.get("after") or "–"),
    "review_contacted": contacted,
    "review_followed_up": followed_up,
    "review_cause_set": lambda event, d: (_("Cause corrected: %(before)s → %(after)s.", before=d.get("before", ""), after=d.get("after", ""))
                                          if d.get("corrected") else _("Cause confirmed: %(cause)s.", cause=d.get("after", ""))),
    "review_handled": handled,
    "review_reopened": lambda event, d: _("Reopened."),
    "review_case_linked": lambda event, d: _("Linked to case #%(id)s.", id=d.get("case")),
    "case_review_linked": lambda event, d: _("Linked to review R%(id)s (%(rating)s stars).", id=d.get("review"), rating=d.get("rating")),
    "review_summary_created": lambda event, d: _("Summary of %(day)s made.", day=d.get("day", "")),
    "review_summary_sent": summary_sent,
    "review_summary_resend": lambda event, d: _("Summary of %(day)s: sending again by %(channel)s.", day=d.get("day", ""),
                                                channel=d.get("channel", "")),
    "review_summary_failed": lambda event, d: _("Summary of %(day)s not sent by %(channel)s: %(error)s", day=d.get("day", ""),
                                                channel=d.get("channel", ""), error=d.get("error", "")),
}
