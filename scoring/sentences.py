"""What the timeline says about scoring months, appeals and rule sets (registered with timeline.register)."""

from __future__ import annotations

from flask_babel import gettext as _

from models import PLATFORMS
from scoring.rules import DEFAULT_TMALL_RULES
from timeline import changes_text, list_text, sentences_text


def _part_name(key) -> str:
    """An appeal records the part's key; the reader sees its name (from the default rules: keys do not change)."""
    return next((part["name"] for part in DEFAULT_TMALL_RULES["parts"] if part["key"] == key), key or "")


def _appeal(d) -> str:
    return _("appeal #%(number)s", number=d.get("appeal"))


def accepted(event, d) -> str:
    sentence = _("Accepted %(appeal)s of %(month)s: %(answer)s", appeal=_appeal(d), month=d.get("month"), answer=d.get("answer", ""))
    moved = ""
    if d.get("case"):
        moved = (_("Case #%(case)s now counts for %(name)s.", case=d["case"], name=d["moved_to"]) if d.get("moved_to")
                 else _("Case #%(case)s no longer counts for the agent.", case=d["case"]))
    totals = list_text(f"{old} → {new}" for old, new in (d.get("totals") or {}).values())
    return sentences_text(sentence, moved, _("Total: %(totals)s.", totals=totals) if totals else "")


SENTENCES = {
    "rule_set.rules_saved": lambda event, d: _("Saved version %(number)s of the scoring rules for %(scope)s: %(note)s",
                                               number=d.get("number"), scope=str(PLATFORMS.get(d.get("scope"), d.get("scope"))),
                                               note=d.get("note", "")),
    "score_month.values_saved": lambda event, d: _("Entered the figures of %(month)s: %(changes)s.", month=d.get("month"),
                                                   changes=changes_text(d.get("changes", {}))),
    "score_month.judged": lambda event, d: _("Judged %(part)s of %(agent)s for %(month)s: %(value)s (%(justification)s).",
                                             part=d.get("part"), agent=d.get("agent"), month=d.get("month"),
                                             value=d.get("value"), justification=d.get("justification", "")),
    "score_month.published": lambda event, d: _("Published the scores of %(month)s.", month=d.get("month")),
    "score_month.reopened": lambda event, d: _("Reopened %(month)s: %(reason)s", month=d.get("month"), reason=d.get("reason", "")),
    "score_month.acknowledged": lambda event, d: _("Acknowledged the score of %(month)s.", month=d.get("month")),
    "score_month.appealed": lambda event, d: _("Appealed %(part)s of %(month)s (%(appeal)s): %(comment)s", part=_part_name(d.get("part")),
                                               month=d.get("month"), appeal=_appeal(d), comment=d.get("comment", "")),
    "score_month.appeal_accepted": accepted,
    "score_month.appeal_rejected": lambda event, d: _("Rejected %(appeal)s of %(month)s: %(answer)s", appeal=_appeal(d),
                                                      month=d.get("month"), answer=d.get("answer", "")),
    "score_month.appeal_escalated": lambda event, d: _("Escalated %(appeal)s of %(month)s to the manager. %(note)s",
                                                       appeal=_appeal(d), month=d.get("month"), note=d.get("note", "")),
}
