"""The shell: home, the live header counters, the language switch."""

from __future__ import annotations

import logging
import signal
import threading

import click
import sqlalchemy as sa
from flask import Blueprint, abort, current_app, redirect, request, session, url_for
from flask_login import current_user

import demo
import live
import scheduler
from blueprints.common import permission_required, render_page, safe_target
from forms.main import LanguageForm
from models import User, db, latest_event_id, utcnow

# cli_group=None: its commands are top-level, e.g. ``flask demo-data``.
bp = Blueprint("main", __name__, cli_group=None)


@bp.route("/ping")
def ping():
    """Health check for a load balancer, and the bare route benchmarks compare against: no login, no database."""
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.route("/health")
def health():
    """For the proxy in front of several app servers: 200 when this server reaches its database, else 503 (the
    proxy then sends clients to the others). No login, nothing written, nothing about the data told."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return {"status": "database unavailable"}, 503, {"Cache-Control": "no-store"}
    finally:
        db.session.remove()
    return {"status": "ok"}, 200, {"Cache-Control": "no-store"}


@bp.route("/")
@permission_required("use_workspace")
def index():
    return redirect(url_for("cases.board"))


@bp.route("/counters")
@permission_required("use_workspace")
@live.region
def counters():
    """The header's live region. A poll whose token holds was answered 204 before reaching here.

    It also carries what static/notify.js needs: the tab title's number, each counter's newest urgent item and
    the person's sound and notification switches (data- attributes; the CSP allows no inline script).
    """
    now = utcnow()
    event_id = latest_event_id()
    items = live.header_counters(current_user, now)
    token = live.make_token(event_id, live.earliest(item.changes_at for item in items))
    return render_page(
        "main/_counters.html", "main/_counters.html",
        counters=items, token=token, poll_seconds=live.poll_seconds(), title_count=live.title_count(items),
    )


@bp.route("/language", methods=["POST"])
@permission_required("use_workspace")
def language():
    form = LanguageForm()
    if not form.validate_on_submit() or form.locale.data not in current_app.config["LANGUAGES"]:
        abort(400)
    session["locale"] = form.locale.data
    current_user.locale = form.locale.data
    db.session.commit()
    return redirect(safe_target(request.form.get("next"), url_for("main.index")))


# --- command line -------------------------------------------------------------------------

@bp.cli.command("demo-data")
@click.option("--cases", "case_count", default=200, show_default=True, help="How many after-sales cases to create.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
@click.option("--seed", default=7, show_default=True, help="Random seed, for repeatable data.")
def demo_data(case_count, if_empty, seed):
    """Fill the database with a believable demo shop."""
    if if_empty and db.session.scalar(sa.select(sa.func.count()).select_from(User)):
        click.echo("the database has users already: demo data not loaded")
        return
    summary = demo.create(case_count=case_count, seed=seed)
    click.echo(summary)


@bp.cli.command("demo-logins")
def demo_logins():
    """Print the demo accounts that exist in this database."""
    click.echo(f"  Demo logins (password {demo.DEMO_PASSWORD}):")
    for username, role, name in demo.demo_logins():
        user = db.session.scalar(User.by_username(username))
        if user is not None and user.active and user.check_password(demo.DEMO_PASSWORD):
            click.echo(f"    {username:<10} {role:<9} {name}")


@bp.cli.command("scheduler")
@click.option("--once", is_flag=True, help="Run the jobs that are due now, once, and stop (for cron and tests).")
@click.option("--interval", default=10, show_default=True, type=click.IntRange(1, 3600),
              help="Seconds between passes (a shop's \"sync now\" waits at most this long).")
def run_scheduler(once, interval):
    """Run the scheduled jobs (the day's review list, the end-of-day summary, retries, marketplace sync) beside the web servers.

    Every run is claimed in the database, so a scheduler on each app server never runs a job twice.
    """
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if once:
        for ran in scheduler.run_due():
            click.echo(f"{ran.job} {ran.slot}: {ran.error or ran.result}")
        return
    stop = threading.Event()

    def stop_after_this_pass(signum, frame):
        if stop.is_set():  # asked twice: stop now
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGTERM, stop_after_this_pass)
    signal.signal(signal.SIGINT, stop_after_this_pass)
    scheduler.run_forever(interval, stop)
