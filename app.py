"""Application factory. ``app`` at the bottom is what ``flask --app app`` and gunicorn use."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from zoneinfo import ZoneInfo

from flask import Flask, flash, g, redirect, render_template, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.engine import Engine

import config
import live
from extensions import babel, csrf, htmx, limiter, login_manager, migrate
from models import db, load_user_from_session_id, render_migration_item


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(config.DEFAULTS)
    app.config.from_mapping(config.settings_from_environment(app.instance_path))
    if test_config:
        app.config.from_mapping(test_config)
    app.config["SHOP_TZ"] = ZoneInfo(app.config["SHOP_TIMEZONE"])
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # A server may drop idle connections; test each one as it leaves the pool. (SQLite has no server.)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}
    app.jinja_env.add_extension("jinja2.ext.do")

    db.init_app(app)
    live.install(app)  # first: an unchanged poll needs none of the other hooks
    migrate.init_app(app, db, render_as_batch=True, render_item=render_migration_item)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=lambda: app.config["SHOP_TIMEZONE"])
    login_manager.init_app(app)
    login_manager.user_loader(load_user_from_session_id)
    login_manager.login_view = "auth.login"
    login_manager.unauthorized_handler(unauthorized)

    from blueprints import admin, auth, cases, compensation, handoffs, imports, main, reviews, scoring

    for module in (auth, main, cases, imports, compensation, reviews, handoffs, scoring, admin):
        app.register_blueprint(module.bp)

    import commands

    commands.register(app)
    register_error_handlers(app)
    register_template_helpers(app)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # Every page is personal and live; never let a shared proxy or the back button serve it stale.
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def select_locale() -> str:
    from flask import current_app

    languages = current_app.config["LANGUAGES"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    if session.get("locale") in languages:
        return session["locale"]
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def unauthorized():
    """Anonymous visitors go to the login page; an htmx poll sends the whole page there."""
    target = url_for("auth.login", next=request.full_path.rstrip("?") if request.method == "GET" else None)
    if request.htmx:
        login_url = url_for("auth.login")
        return "", 401, {"HX-Redirect": login_url}
    flash(_("Please log in to see this page."), "info")
    return redirect(target)


def register_error_handlers(app: Flask) -> None:
    def render_error(status: int, title: str, message: str):
        if request.htmx:
            # Show the message in the flash area instead of replacing the panel that asked.
            body = render_template("errors/_message.html", title=title, message=message)
            return body, status, {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
        return render_template("errors/error.html", title=title, message=message, status=status), status

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return render_error(400, _("Form expired"), _("The form was missing its security token or it has expired. Reload the page and try again."))

    @app.errorhandler(400)
    def bad_request(error):
        return render_error(400, _("Bad request"), _("The request could not be understood."))

    @app.errorhandler(403)
    def forbidden(error):
        return render_error(403, _("Not allowed"), _("Your role does not allow this."))

    @app.errorhandler(404)
    def not_found(error):
        return render_error(404, _("Not found"), _("There is nothing at this address."))

    @app.errorhandler(405)
    def method_not_allowed(error):
        return render_error(405, _("Not allowed"), _("This address does not accept that kind of request."))

    @app.errorhandler(413)
    def too_large(error):
        return render_error(413, _("Too large"), _("The upload is larger than allowed."))

    @app.errorhandler(429)
    def too_many(error):
        return render_error(429, _("Too many attempts"), _("Too many attempts. Wait a minute and try again."))

    @app.errorhandler(500)
    def server_error(error):
        db.session.rollback()
        return render_error(500, _("Something went wrong"), _("The error has been logged. Nothing was saved; please try again."))


def register_template_helpers(app: Flask) -> None:
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

    import caseflow
    import models
    import timeline

    labels = {name: TranslatedLabels(table) for name, table in {
        "platform_labels": models.PLATFORMS, "kind_labels": models.CASE_KINDS, "category_labels": models.CASE_CATEGORIES,
        "priority_labels": {str(k): v for k, v in models.PRIORITIES.items()}, "state_labels": models.CASE_STATES,
        "waiting_labels": models.WAITING_FOR, "flag_labels": models.FLAGS, "responsibility_labels": models.RESPONSIBILITIES,
        "clock_labels": caseflow.CLOCK_LABELS, "state_action_labels": caseflow.STATE_ACTION_LABELS,
        "clock_status_labels": CLOCK_STATUS_LABELS, "subject_labels": SUBJECT_LABELS, "payout_labels": models.PAYOUTS,
    }.items()}

    # Static label tables are globals so imported macros see them too.
    app.jinja_env.globals.update(labels, describe_event=timeline.describe, setting=models.get_setting,
                                 clock_phrases=CLOCK_PHRASES)

    @app.context_processor
    def inject_globals():
        return {
            "languages": app.config["LANGUAGES"],
            "current_locale": select_locale(),
            "endpoints": app.view_functions,
            "duration_formats": dict(DURATION_FORMATS),
        }


DATE_PATTERNS = {"yyyy-MM-dd HH:mm": "%Y-%m-%d %H:%M", "MM-dd HH:mm": "%m-%d %H:%M", "HH:mm": "%H:%M",
                 "yyyy-MM-dd": "%Y-%m-%d", "MM-dd": "%m-%d"}


class TranslatedLabels(Mapping):
    """A table of lazy labels, translated once per language instead of at every use."""

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
        return self._current()[key]

    def __iter__(self):
        return iter(self._table)

    def __len__(self):
        return len(self._table)


DURATION_FORMATS = TranslatedLabels({"dh": _l("{d}d {h}h"), "hm": _l("{h}h {m}m"), "m": _l("{m}m")})
CLOCK_PHRASES = TranslatedLabels({"late": _l("{t} late"), "left": _l("{t} left"), "due": _l("due"), "time_left": _l("{t} left")})


def format_duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return DURATION_FORMATS["dh"].format(d=days, h=hours)
    if hours:
        return DURATION_FORMATS["hm"].format(h=hours, m=f"{mins:02d}")
    return DURATION_FORMATS["m"].format(m=mins)


CLOCK_STATUS_LABELS = {
    "on_time": _l("on time"), "at_risk": _l("at risk"), "overdue": _l("overdue"), "paused": _l("paused"),
    "met": _l("done in time"), "missed": _l("done late"),
}
SUBJECT_LABELS = {"user": _l("Account"), "team": _l("Team"), "settings": _l("Settings"), "case": _l("Case"),
                  "procedure": _l("Procedure"), "import": _l("Import"), "export": _l("Export")}


app = create_app()
