"""Timeline events as sentences a person reads, in the reader's language.

``describe`` is a lookup: each area registers the sentences of its own actions (its
``sentences`` module), and the field and value labels its "changed …" sentences use.
A sentence registered for ``"<subject>.<action>"`` wins over one for ``"<action>"``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from models import ROLES, TimelineEvent

Sentence = Callable[[TimelineEvent, dict], str]

SENTENCES: dict[str, Sentence] = {}
FIELD_LABELS: dict = {
    "username": _l("Username"), "display_name": _l("Name"), "role": _l("Role"), "team_id": _l("Team"),
    "compensation_limit": _l("Compensation limit"), "active": _l("Status"), "password": _l("Password"),
    "name": _l("Team name"), "function": _l("Function"),
}
VALUE_LABELS: dict = {"role": ROLES}


def register(sentences: dict[str, Sentence], *, field_labels: dict | None = None, value_labels: dict | None = None) -> None:
    """Add an area's sentences (action -> function(event, detail)) and the labels of its fields and values.

    Registering the same functions again (every ``create_app``) changes nothing; another function for a
    registered action is a mistake.
    """
    clash = [action for action, sentence in sentences.items() if SENTENCES.get(action, sentence) is not sentence]
    if clash:
        raise ValueError(f"timeline sentences registered twice: {sorted(clash)}")
    SENTENCES.update(sentences)
    FIELD_LABELS.update(field_labels or {})
    VALUE_LABELS.update(value_labels or {})


def value_text(field: str, value) -> str:
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


def _full_width() -> bool:
    locale = get_locale()
    return locale is not None and locale.language == "zh"


def list_text(parts) -> str:
    """Items of one sentence, separated as the reader's language writes them ("a; b", "a；b")."""
    return ("；" if _full_width() else "; ").join(str(part) for part in parts)


def sentences_text(*sentences) -> str:
    """Sentences one after another: a space between them in English, none after a Chinese full stop."""
    return ("" if _full_width() else " ").join(str(sentence) for sentence in sentences if sentence)


def changes_text(changes: dict) -> str:
    parts = []
    for field, pair in changes.items():
        old, new = (pair + [None, None])[:2] if isinstance(pair, list) else (None, pair)
        parts.append(_("%(field)s: %(old)s → %(new)s", field=str(FIELD_LABELS.get(field, field)),
                       old=value_text(field, old), new=value_text(field, new)))
    return list_text(parts)


def describe(event: TimelineEvent) -> str:
    """One sentence for the event (who and when are shown beside it)."""
    sentence = SENTENCES.get(f"{event.subject_type}.{event.action}") or SENTENCES.get(event.action)
    return sentence(event, event.detail or {}) if sentence else event.action


register({
    "created": lambda event, d: _("Created."),
    "updated": lambda event, d: _("Changed %(changes)s.", changes=changes_text(d.get("changes", {}))),
    "password_changed": lambda event, d: _("Changed their password."),
    "logged_out": lambda event, d: _("Logged out."),
    "logged_in": lambda event, d: _("Logged in."),
})
