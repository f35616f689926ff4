"""Marketplace sync: the sync panel (leads, managers, admins) and the shops' connections (admins)."""

from __future__ import annotations

import click
from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

import live
from blueprints.common import action_answer, first_error, permission_required, render_page
from demo.sync import FAKE_PLATFORMS_URL, connect_demo_shops
from forms.base import EmptyForm
from forms.sync import ConnectionForm, ScheduleForm
from live import HeaderCounter
from models import PLATFORMS, ShopConnection, db, get_setting, save_settings, utcnow
from sync import runner, shops
from sync.connectors import can_sync
from sync.fakes.demo import DemoActivity, demo_fakes
from sync.fakes.server import serve

bp = Blueprint("sync", __name__, url_prefix="/sync")
TOPICS = ("shop",)


def syncable_platforms() -> dict:
    return {key: label for key, label in PLATFORMS.items() if can_sync(key)}


@bp.route("/")
@permission_required("watch_sync")
@live.region(topics=TOPICS)
def panel():
    """Per shop: how its sync is doing, its last run, what it skipped and why, its next run."""
    now = utcnow()
    rows = shops.panel_rows(now)
    upcoming = [row.connection.next_run_at for row in rows
                if row.connection.active and row.connection.state == "ok" and row.connection.next_run_at]
    token = live.make_token(live.latest(TOPICS), live.earliest([*[max(moment, now) for moment in upcoming],
                                                                 shops.next_expiry(now)]))
    return render_page("sync/panel.html", "sync/_panel.html", rows=rows, now=now, token=token,
                       poll_seconds=live.poll_seconds(), run_form=EmptyForm())


@bp.route("/<int:shop_id>/run", methods=["POST"])
@permission_required("watch_sync")
def run_now(shop_id):
    connection = connection_or_404(shop_id)
    back = url_for("sync.panel")
    if not EmptyForm().validate_on_submit():
        return action_answer(back, error=_("The form expired: reload the page and try again."), status_code=400)
    if connection.state != "ok" or not connection.active:
        return action_answer(back, error=_("This shop's sync is stopped or paused: an admin must change its "
                                           "connection first."), status_code=409)
    runner.request_run(connection, current_user, utcnow())
    db.session.commit()
    return action_answer(back, _("The sync of %(shop)s starts within a few seconds.", shop=connection.shop.name),
                         event="syncChanged")


def connection_or_404(shop_id: int) -> ShopConnection:
    connection = shops.connection_of_shop(shop_id)
    if connection is None:
        abort(404)
    return connection


# --- the shops' connections ---------------------------------------------------------------------------

@bp.route("/shops")
@permission_required("manage_shops")
def connections():
    now = utcnow()
    schedule = ScheduleForm(sync_minutes=get_setting("sync_minutes"), sync_promo_minutes=get_setting("sync_promo_minutes"))
    return render_page("sync/connections.html", rows=shops.panel_rows(now), now=now, schedule=schedule)


@bp.route("/shops/schedule", methods=["POST"])
@permission_required("manage_shops")
def schedule():
    form = ScheduleForm()
    if not form.validate_on_submit():
        flash(first_error(form), "error")
        return redirect(url_for("sync.connections"))
    now = utcnow()
    save_settings({"sync_minutes": form.sync_minutes.data, "sync_promo_minutes": form.sync_promo_minutes.data},
                  current_user)
    shops.reschedule(now, runner.interval())
    db.session.commit()
    flash(_("Saved: each shop's next sync follows the new interval."), "success")
    return redirect(url_for("sync.connections"))


def _values(form: ConnectionForm) -> dict:
    expires = form.token_expires_at.data
    zone = shop_zone()
    return {"shop_ref": form.shop_ref.data.strip(), "app_key": form.app_key.data.strip(),
            "token_expires_at": expires.replace(tzinfo=zone) if expires else None,
            "api_url": (form.api_url.data or "").strip(), "first_sync_days": form.first_sync_days.data,
            "sync_reviews": form.sync_reviews.data, "active": form.active.data}


def _secrets(form: ConnectionForm) -> dict:
    return {"app_secret": (form.app_secret.data or "").strip(), "access_token": (form.access_token.data or "").strip()}


def shop_zone():
    return current_app.config["SHOP_TZ"]


@bp.route("/shops/new", methods=["GET", "POST"])
@permission_required("manage_shops")
def connect():
    form = ConnectionForm(platforms=syncable_platforms())
    if form.validate_on_submit():
        shops.connect(form.shop_name.data.strip(), form.platform.data, _values(form), _secrets(form), current_user, utcnow())
        db.session.commit()
        flash(_("%(shop)s is connected: its first sync starts within a few seconds.", shop=form.shop_name.data.strip()),
              "success")
        return redirect(url_for("sync.connections"))
    status = 400 if request.method == "POST" else 200
    return render_page("sync/connection_form.html", form=form, editing=None, status_code=status,
                       error=first_error(form) if form.errors else None)


@bp.route("/shops/<int:shop_id>", methods=["GET", "POST"])
@permission_required("manage_shops")
def edit(shop_id):
    connection = connection_or_404(shop_id)
    form = ConnectionForm(editing=connection, platforms={connection.shop.platform: PLATFORMS.get(connection.shop.platform)})
    if request.method == "GET":
        form.shop_name.data, form.platform.data = connection.shop.name, connection.shop.platform
        for name in shops.PLAIN_FIELDS:
            getattr(form, name).data = getattr(connection, name)
        if connection.token_expires_at is not None:
            form.token_expires_at.data = connection.token_expires_at.astimezone(shop_zone()).replace(tzinfo=None)
        form.version.data = str(connection.version)
    elif form.validate_on_submit():
        if form.version.data != str(connection.version):
            return render_page("sync/connection_form.html", form=form, editing=connection, status_code=409,
                               error=_("Someone else saved this connection while you were editing: reload it and "
                                       "enter your changes again."))
        changed = shops.change(connection, form.shop_name.data.strip(), _values(form), _secrets(form), current_user,
                               utcnow())
        db.session.commit()
        flash(_("Saved: %(count)s changes. The sync resumes within a few seconds.", count=len(changed)), "success")
        return redirect(url_for("sync.connections"))
    status = 400 if request.method == "POST" else 200
    return render_page("sync/connection_form.html", form=form, editing=connection, status_code=status,
                       error=first_error(form) if form.errors else None)


# --- the header: a shop whose token expired ----------------------------------------------------------------

@live.header_counter(order=60)
def header_counter(user, now) -> HeaderCounter | None:
    """Shops a person must reconnect (token expired or refused, sync stopped): shown only when there are some."""
    if not user.can("watch_sync"):
        return None
    waiting = shops.needing_attention(now)
    if not waiting:
        return None
    first = waiting[0]
    what = (_("%(shop)s: the platform's token expired; an admin enters a new one on the shops page.", shop=first.shop.name)
            if shops.health(first, now) == "token_expired" else
            _("%(shop)s: sync stopped (%(reason)s).", shop=first.shop.name, reason=first.stop_reason))
    return HeaderCounter("sync", _l("Shops to reconnect"), len(waiting),
                         url_for("sync.connections" if user.can("manage_shops") else "sync.panel"),
                         changes_at=shops.next_expiry(now), urgent=True, detail=what)


# --- command line: the demo's fake platforms ----------------------------------------------------------------

@bp.cli.command("fake-platforms")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5001, show_default=True, type=click.IntRange(1, 65535))
@click.option("--every", default=40.0, show_default=True, type=click.FloatRange(1, 3600),
              help="Seconds between two things happening on the platforms, on average.")
def fake_platforms(host, port, every):
    """Serve the demo's fake Taobao, JD and Douyin open platforms, busy on their own (not for production)."""
    fakes = demo_fakes()
    activity = DemoActivity(fakes, every=every)
    activity.seed()
    running = serve(fakes, host, port)
    click.echo(f"  Fake marketplace platforms (demo): {running.url}/taobao, /jd, /douyin")
    try:
        activity.run(log=lambda line: click.echo(f"  fake platform: {line}"))
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


@bp.cli.command("connect-demo-shops")
@click.option("--url", default=FAKE_PLATFORMS_URL, show_default=True, help="Where `flask sync fake-platforms` serves.")
def connect_demo_shops_command(url):
    """Connect the demo shops that have no connection to the fake platforms (make run does it)."""
    connected = connect_demo_shops(url, utcnow())
    if connected:
        click.echo(f"  Connected to the fake platforms: {', '.join(connected)}")
