"""Flask extensions, created here unbound and bound to the app in create_app.

They live in their own module so blueprints can import them (the limiter
decorates the login view) without importing app.py.

The limiter counts in one place for the whole deployment: in Redis when ``REDIS_URL`` is set (Flask-Limiter's
own Redis storage), otherwise in the app's database (``DatabaseStorage``, the scheme ``database://``), which every
gunicorn worker and every app server on that database shares. Counting in each worker's memory, as before, let
the two workers of ``make run`` take 18 to 20 wrong passwords a minute against a limit of 10.
"""

import time
from datetime import timedelta

import sqlalchemy as sa
from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from limits.storage import Storage
from sqlalchemy.dialects import postgresql, sqlite

import scheduler
from models import RateLimit, db

babel = Babel()
csrf = CSRFProtect()
htmx = Htmx()
login_manager = LoginManager()
migrate = Migrate()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


@limiter.request_filter
def _only_login_is_limited() -> bool:
    """Skip the limiter's bookkeeping on every route but the ones it limits: login and outside parties' links."""
    return not (request.endpoint == "auth.login" or (request.endpoint or "").startswith("handoff_links."))


class DatabaseStorage(Storage):
    """Fixed-window counters in the ``rate_limits`` table, for the ``limits`` library behind Flask-Limiter.

    Each hit is one statement on its own connection and transaction (not the request's session): an upsert that
    starts a new window when the stored one has expired, else adds to it, and returns the count. Both
    PostgreSQL and SQLite run it atomically (``INSERT … ON CONFLICT … DO UPDATE … RETURNING``), so two workers
    or servers counting the same client at once get 1 and 2, never 1 and 1. Expired rows are deleted by the
    scheduler (``prune_rate_limits``). Only the routes that are limited touch it (login, outside parties' links).
    """

    STORAGE_SCHEME = ["database"]

    @property
    def base_exceptions(self):
        return sa.exc.SQLAlchemyError

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        table = RateLimit.__table__
        insert = (postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert)(table)
        expired = table.c.expires_at <= now
        statement = insert.values(key=key, hits=amount, expires_at=now + expiry).on_conflict_do_update(
            index_elements=[table.c.key],
            set_={"hits": sa.case((expired, amount), else_=table.c.hits + amount),
                  "expires_at": sa.case((expired, now + expiry), else_=table.c.expires_at)},
        ).returning(table.c.hits)
        with db.engine.begin() as connection:
            return connection.execute(statement).scalar_one()

    def get(self, key: str) -> int:
        with db.engine.connect() as connection:
            hits = connection.execute(sa.select(RateLimit.hits).where(RateLimit.key == key,
                                                                     RateLimit.expires_at > time.time())).scalar()
        return hits or 0

    def get_expiry(self, key: str) -> float:
        with db.engine.connect() as connection:
            expiry = connection.execute(sa.select(RateLimit.expires_at).where(RateLimit.key == key)).scalar()
        return expiry if expiry is not None else time.time()

    def check(self) -> bool:
        try:
            with db.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with db.engine.begin() as connection:
            return connection.execute(sa.delete(RateLimit)).rowcount

    def clear(self, key: str) -> None:
        with db.engine.begin() as connection:
            connection.execute(sa.delete(RateLimit).where(RateLimit.key == key))


@scheduler.job("limits.prune", every=timedelta(hours=1))
def prune_rate_limits(now, zone) -> dict:
    """Delete the windows that have ended: the table keeps only the current ones (a few rows per client)."""
    result = db.session.execute(sa.delete(RateLimit).where(RateLimit.expires_at <= now.timestamp()))
    return {"deleted": result.rowcount}
