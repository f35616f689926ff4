"""What every template may use: time and duration filters, and the label registry.

Each area registers the tables of words its templates show (``TEMPLATE_LABELS`` in its
``labels`` module); they become globals such as ``kind_labels`` so imported macros see
them too, translated once per language instead of at every use.
"""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, g
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l

import timeline
from models import PLATFORMS, get_setting

DATE_PATTERNS = {"yyyy-MM-dd HH:mm": "%Y-%m-%d %H:%M", "MM-dd HH:mm": "%m-%d %H:%M", "HH:mm": "%H:%M",
                 "yyyy-MM-dd": "%Y-%m-%d", "MM-dd": "%m-%d", "yyyy-MM-dd HH:mm:ss": "%Y-%m-%d %H:%M:%S", "HH:mm:ss": "%H:%M:%S"}


class TranslatedLabels(Mapping):
    """A table of lazy labels, translated once per language instead of at every use.

    An unknown key reads as itself, so a value the table does not know yet shows as stored
    instead of failing the page.
    """

    def __init__(self, table):
        self._table = table
        self._by_locale: dict = {}

    def _current(self) -> dict:
        locale = g.get("locale_name")
        if locale is None:
            locale = g.locale_name = str(get_locale())
        if locale not in self._by_locale:
            self._by_locale[locale] = {key: str(label) for key, label in self._table.items()}
        return self._by_locale[locale]

    def __getitem__(self, key):
        return self._current().get(key, "" if key is None else key)

    def get(self, key, default=None):
        return self._current().get(key, default)

    def __contains__(self, key):
        return key in self._table

    def __iter__(self):
        return iter(self._table)

    def __len__(self):
        return len(self._table)


DURATION_FORMATS = TranslatedLabels({"dh": _l("{d}d {h}h"), "hm": _l("{h}h {m}m"), "m": _l("{m}m")})
CLOCK_PHRASES = TranslatedLabels({"late": _l("{t} late"), "left": _l("{t} left"), "due": _l("due"), "time_left": _l("{t} left")})
SUBJECT_LABELS = {"user": _l("Account"), "team": _l("Team"), "settings": _l("Settings"), "case": _l("Case"),
                  "procedure": _l("Procedure"), "import": _l("Import"), "export": _l("Export"), "handoff": _l("Handoff"),
                  "review": _l("Review"), "review_day": _l("Review list"), "review_summary": _l("Review summary"),
                  "reply_template": _l("Reply template"), "score_month": _l("Scoring month"),
                  "rule_set": _l("Scoring rules")}


def format_duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return DURATION_FORMATS["dh"].format(d=days, h=hours)
    if hours:
        return DURATION_FORMATS["hm"].format(h=hours, m=f"{mins:02d}")
    return DURATION_FORMATS["m"].format(m=mins)


def register_labels(app: Flask, tables: dict) -> None:
    """Make an area's label tables template globals: name -> {key: lazy label}, or a function that labels a record."""
    clash = set(tables) & set(app.jinja_env.globals)
    if clash:
        raise ValueError(f"label tables registered twice: {sorted(clash)}")
    app.jinja_env.globals.update({name: table if callable(table) else TranslatedLabels(table) for name, table in tables.items()})


def install(app: Flask, select_locale) -> None:
    """The filters and globals every template has."""
    zone = app.config["SHOP_TZ"]

    @app.template_filter("local")
    def local_time(value, fmt="yyyy-MM-dd HH:mm"):
        """Show a UTC time in the shop's zone (strftime: Babel's formatter is slow on a 100-card board)."""
        if value is None:
            return ""
        return value.astimezone(zone).strftime(DATE_PATTERNS[fmt])

    @app.template_filter("duration")
    def duration(value) -> str:
        """A timedelta as '2d 3h', '2h 05m' or '35m' (its absolute value)."""
        return format_duration(abs(value.total_seconds()))

    app.jinja_env.globals.update(describe_event=timeline.describe, setting=get_setting, clock_phrases=CLOCK_PHRASES)
    register_labels(app, {"platform_labels": PLATFORMS, "subject_labels": SUBJECT_LABELS})

    @app.context_processor
    def inject_globals():
        return {
            "languages": app.config["LANGUAGES"],
            "current_locale": select_locale(),
            "endpoints": app.view_functions,
            "duration_formats": dict(DURATION_FORMATS),
        }
