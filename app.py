"""Application factory. ``app`` at the bottom is what ``flask --app app`` and gunicorn use."""

from __future__ import annotations

import sqlite3
from zoneinfo import ZoneInfo

import sqlalchemy.orm as so
from flask import Flask, abort, current_app, flash, g, has_request_context, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

import config
import live
import templating
import timeline
from blueprints import admin, auth, cases, compensation, errors, handoffs, imports, main, reviews, scoring, sync
from cases import labels as case_labels
from cases import procedures as case_procedures
from cases import sentences as case_sentences
from compensation import labels as compensation_labels
from compensation import sentences as compensation_sentences
from extensions import babel, csrf, htmx, limiter, login_manager, migrate
from handoffs import labels as handoff_labels
from handoffs import sentences as handoff_sentences
from models import MAX_ID, db, load_user_from_session_id, render_migration_item
from reviews import jobs as review_jobs  # noqa: F401 - registers the worklist's scheduled jobs
from reviews import labels as review_labels
from reviews import sentences as review_sentences
from scoring import jobs as scoring_jobs  # noqa: F401 - registers the monthly after-sales report
from scoring import labels as scoring_labels
from scoring import rollups as scoring_rollups  # noqa: F401 - keeps daily_figures current on every commit
from scoring import sentences as scoring_sentences
from sync import jobs as sync_jobs  # noqa: F401 - registers the marketplace sync
from sync import labels as sync_labels
from sync import sentences as sync_sentences


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(config.DEFAULTS)
    app.config.from_mapping(config.settings_from_environment(app.instance_path))
    if test_config:
        app.config.from_mapping(test_config)
    app.config["SHOP_TZ"] = ZoneInfo(app.config["SHOP_TIMEZONE"])
    if app.config.get("TRUSTED_PROXIES"):
        # Behind nginx: the client's address (for the rate limits and the logs), scheme and host as the proxy saw them.
        proxies = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # A server may drop idle connections; test each one as it leaves the pool. (SQLite has no server.)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True, **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}
    app.jinja_env.add_extension("jinja2.ext.do")
    # Ids fit a database BIGINT: a larger number in a URL is a 404, not an overflow in the database driver.
    app.url_map.converters["int"] = DatabaseId

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

    for module in (errors, auth, main, cases, imports, compensation, reviews, handoffs, scoring, sync, admin):
        app.register_blueprint(module.bp)
    app.register_blueprint(handoffs.link_bp)

    # Each area's words: the timeline's sentences and the label tables its templates use.
    timeline.register(case_sentences.SENTENCES, field_labels=case_sentences.FIELD_LABELS, value_labels=case_sentences.VALUE_LABELS)
    timeline.register(compensation_sentences.SENTENCES)
    timeline.register(handoff_sentences.SENTENCES)
    timeline.register(review_sentences.SENTENCES, field_labels=review_sentences.FIELD_LABELS)
    timeline.register(scoring_sentences.SENTENCES)
    timeline.register(sync_sentences.SENTENCES, field_labels=sync_sentences.FIELD_LABELS)
    templating.install(app, select_locale)
    templating.register_labels(app, {**case_labels.TEMPLATE_LABELS, "procedure_text": case_procedures.text_of})
    templating.register_labels(app, compensation_labels.TEMPLATE_LABELS)
    templating.register_labels(app, handoff_labels.TEMPLATE_LABELS)
    templating.register_labels(app, review_labels.TEMPLATE_LABELS)
    templating.register_labels(app, scoring_labels.LABELS)
    templating.register_labels(app, sync_labels.TEMPLATE_LABELS)

    @app.before_request
    def mark_dispatching():
        g.dispatching = True

    @app.before_request
    def refuse_nul():
        """A NUL character is never text a person typed, and PostgreSQL cannot store or compare it: refuse it."""
        for values in (request.args, request.form):
            if any("\x00" in key or "\x00" in value for key, value in values.items(multi=True)):
                abort(400)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        # Every page is personal and live; never let a shared proxy or the back button serve it stale.
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


# Scripts and styles only from our own files: no inline script, no eval (htmx runs with allowEval off),
# no inline style attribute. Evidence photos and videos are served by us too.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "media-src 'self'",
    "connect-src 'self'", "font-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self'",
    "frame-ancestors 'none'",
))


class DatabaseId(IntegerConverter):
    """``<int:…>`` for ids: 0 to 2**63 - 1."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _serving_a_get() -> bool:
    """A request is being dispatched to a view with a safe method (not a test's bare request context)."""
    return (has_request_context() and request.method in SAFE_METHODS and current_app.config.get("FORBID_GET_WRITES")
            and g.get("dispatching", False))


@event.listens_for(so.Session, "before_flush")
def _get_never_writes(session, flush_context, instances):
    """With FORBID_GET_WRITES (the tests set it), a view that writes during a GET fails loudly."""
    if _serving_a_get() and (session.new or session.dirty or session.deleted):
        raise RuntimeError(f"{request.endpoint} wrote to the database during a {request.method}")


@event.listens_for(so.Session, "before_commit")
def _get_never_commits(session):
    if _serving_a_get():
        raise RuntimeError(f"{request.endpoint} committed during a {request.method}")


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
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # the command line, the scheduler: the shop's language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
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



app = create_app()
