"""Shops' connections to their open platforms: connecting, changing, and how each one is doing.

The rules here write nothing outside the current transaction; the views commit. Secrets go in sealed
(sync/credentials.py) and the timeline records only which fields changed, never their values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
import sqlalchemy.orm as so

from models import Shop, ShopConnection, SyncProblem, SyncRun, User, db, record
from platforms.statuses import FAMILY
from sync.connectors import CONNECTORS, can_sync
from sync.credentials import SealError, seal, unseal

EXPIRY_WARNING = timedelta(days=3)  # a token that expires within this is shown as expiring
SECRET_FIELDS = ("app_secret", "access_token")
PLAIN_FIELDS = ("shop_ref", "app_key", "token_expires_at", "api_url", "first_sync_days", "sync_reviews", "active")


def connection_of_shop(shop_id: int) -> ShopConnection | None:
    return db.session.scalar(sa.select(ShopConnection).where(ShopConnection.shop_id == shop_id))


def default_url(platform: str) -> str:
    return CONNECTORS[FAMILY[platform]].default_url


def connect(shop_name: str, platform: str, values: dict, secrets: dict, actor: User, now: datetime) -> ShopConnection:
    """Connect a shop (made here when no shop has this name), due for its first sync at once."""
    shop = db.session.scalar(sa.select(Shop).where(Shop.name == shop_name))
    if shop is None:
        shop = Shop(name=shop_name, platform=platform, active=True)
        db.session.add(shop)
        db.session.flush()
    values = dict(values, api_url=values.get("api_url") or default_url(platform))
    connection = ShopConnection(shop_id=shop.id, sealed=seal(secrets["app_secret"], secrets["access_token"]),
                                next_run_at=now, created_at=now, **values)
    db.session.add(connection)
    db.session.flush()
    record(actor, "shop", shop.id, "shop_connected", platform=platform)
    return connection


def change(connection: ShopConnection, shop_name: str, values: dict, secrets: dict, actor: User, now: datetime) -> list[str]:
    """Save an edit; returns the changed fields' names. New secrets, or a stopped shop saved again, resume the sync:
    whatever stopped it (a refused token, a signature) is for the next run to find again."""
    values = dict(values, api_url=values.get("api_url") or default_url(connection.shop.platform))
    changed = [name for name in PLAIN_FIELDS if getattr(connection, name) != values[name]]
    for name in changed:
        setattr(connection, name, values[name])
    if shop_name != connection.shop.name:
        connection.shop.name = shop_name
        changed.append("shop_name")
    typed = {name: value for name, value in secrets.items() if value}
    if typed:
        try:
            kept = unseal(connection.sealed)
        except SealError:
            kept = {"app_secret": "", "access_token": ""}
        connection.sealed = seal(typed.get("app_secret", kept["app_secret"]), typed.get("access_token", kept["access_token"]))
        changed += sorted(typed)
    if changed or connection.state != "ok":
        connection.state, connection.stop_reason, connection.token_refused, connection.failures = "ok", "", False, 0
        connection.next_run_at = now
        connection.version += 1
        record(actor, "shop", connection.shop_id, "shop_connection_changed", fields=changed)
    return changed


def reschedule(now: datetime, interval: timedelta) -> None:
    """After the interval changed: no shop waits longer than one new interval for its next run."""
    db.session.execute(sa.update(ShopConnection).where(ShopConnection.next_run_at > now + interval)
                       .values(next_run_at=now + interval).execution_options(synchronize_session=False))


def health(connection: ShopConnection, now: datetime) -> str:
    """One word for the shop's sync (sync.labels.HEALTH)."""
    if not can_sync(connection.shop.platform):
        return "cannot_sync"
    expires = connection.token_expires_at
    if connection.token_refused or (expires is not None and expires <= now):
        return "token_expired"
    if connection.state == "stopped":
        return "stopped"
    if not connection.active:
        return "paused"
    if expires is not None and expires - now <= EXPIRY_WARNING:
        return "token_expiring"
    return "ok"


ATTENTION = ("token_expired", "stopped")


def needing_attention(now: datetime) -> list[ShopConnection]:
    """Connections a person must act on: the token expired or was refused, or the sync stopped."""
    statement = sa.select(ShopConnection).where(sa.or_(
        ShopConnection.state == "stopped", ShopConnection.token_refused,
        ShopConnection.token_expires_at <= now)).order_by(ShopConnection.id)
    return list(db.session.scalars(statement))


def next_expiry(now: datetime) -> datetime | None:
    """The next moment a stored token expires (a header counter changes then, with no data change)."""
    return db.session.scalar(sa.select(sa.func.min(ShopConnection.token_expires_at))
                             .where(ShopConnection.token_expires_at > now))


@dataclass
class PanelRow:
    connection: ShopConnection
    health: str
    last_run: SyncRun | None
    problems: list[SyncProblem]


PROBLEMS_SHOWN = 20


def panel_rows(now: datetime) -> list[PanelRow]:
    """Every connection with its last run and its latest skipped records: three queries, whatever the history."""
    connections = list(db.session.scalars(sa.select(ShopConnection).join(Shop).options(so.contains_eager(
        ShopConnection.shop)).order_by(Shop.platform, Shop.name)))
    last_ids = sa.select(sa.func.max(SyncRun.id)).group_by(SyncRun.shop_id)
    runs = {run.shop_id: run for run in db.session.scalars(sa.select(SyncRun).where(SyncRun.id.in_(last_ids)))}
    ranked = sa.select(SyncProblem, sa.func.row_number().over(partition_by=SyncProblem.shop_id,
                                                               order_by=SyncProblem.id.desc()).label("place")).subquery()
    problem = so.aliased(SyncProblem, ranked)
    problems: dict[int, list] = {}
    for item in db.session.scalars(sa.select(problem).where(ranked.c.place <= PROBLEMS_SHOWN)
                                   .order_by(ranked.c.shop_id, ranked.c.id.desc())):
        problems.setdefault(item.shop_id, []).append(item)
    return [PanelRow(connection, health(connection, now), runs.get(connection.shop_id), problems.get(connection.shop_id, []))
            for connection in connections]
