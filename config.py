"""Configuration: defaults here, then the environment, then a test mapping.

Nothing secret lives in this file. Without ``SECRET_KEY`` in the environment a
random key is generated on first run and kept in ``instance/secret_key`` so
sessions survive restarts and every gunicorn worker signs with the same key.
"""

import os
import secrets
from pathlib import Path


def load_or_create_secret_key(instance_path: str, name: str = "secret_key") -> str:
    """Read the key kept in the instance folder, creating it atomically once."""
    path = Path(instance_path) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: when two workers start together only one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty: delete it to generate a new key")
    return key


def sqlalchemy_url(raw: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the usual way."""
    for prefix in ("postgres://", "postgresql://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix):]
    return raw


def settings_from_environment(instance_path: str) -> dict:
    env = os.environ
    database_url = env.get("DATABASE_URL") or (
        "sqlite:///" + str(Path(instance_path) / "aftersales.db")
    )
    return {
        "SECRET_KEY": env.get("SECRET_KEY") or load_or_create_secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": sqlalchemy_url(database_url),
        # The key of the buyers' phone digests the search matches on (cases/search.py); unset: derived from
        # SECRET_KEY. Set it to rotate SECRET_KEY freely; after changing it run `flask cases search-rebuild`.
        "PHONE_DIGEST_KEY": env.get("PHONE_DIGEST_KEY", ""),
        # The key the shops' platform secrets and tokens are encrypted with (sync/credentials.py): outside the
        # database, so a copy of the database alone reveals no secret. Unset: kept in instance/credentials_key.
        # Several servers must share it (set it in the environment); losing it means connecting the shops again.
        "CREDENTIALS_KEY": env.get("CREDENTIALS_KEY") or load_or_create_secret_key(instance_path, "credentials_key"),
        "SHOP_TIMEZONE": env.get("SHOP_TIMEZONE", "Asia/Shanghai"),
        "BABEL_DEFAULT_LOCALE": env.get("DEFAULT_LOCALE", "zh"),
        # Rate limits are counted once for the whole deployment: in Redis when REDIS_URL is set, otherwise in the
        # database every worker and server shares (extensions.DatabaseStorage). RATELIMIT_STORAGE_URI overrides both.
        "REDIS_URL": env.get("REDIS_URL", ""),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI") or env.get("REDIS_URL") or "database://",
        # With Redis away, count in each worker's memory for a while rather than refuse every login.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": bool(env.get("REDIS_URL")),
        # How many proxies (nginx …) stand in front of the app: their X-Forwarded-For/-Proto/-Host are then
        # believed, so limits count the real client's address. 0: nothing is believed (the app faces clients).
        "TRUSTED_PROXIES": int(env.get("TRUSTED_PROXIES", "0") or 0),
        "LOGIN_RATE_LIMIT": env.get("LOGIN_RATE_LIMIT", "10 per minute"),
        # Outside parties' secret links: a person opens a few pages; a guesser needs billions of tries.
        "LINK_RATE_LIMIT": env.get("LINK_RATE_LIMIT", "30 per minute"),
        "SESSION_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE", "") == "1",
        "REMEMBER_COOKIE_SECURE": env.get("SESSION_COOKIE_SECURE", "") == "1",
        "EVIDENCE_DIR": env.get("EVIDENCE_DIR") or str(Path(instance_path) / "evidence"),
        "IMPORT_DIR": env.get("IMPORT_DIR") or str(Path(instance_path) / "imports"),
        # The mail server the end-of-day review summary goes through (reviews.summary.smtp_settings).
        # No SMTP_HOST: mail deliveries fail with "no mail server configured"; robots still send.
        "SMTP_HOST": env.get("SMTP_HOST", ""),
        "SMTP_PORT": int(env["SMTP_PORT"]) if env.get("SMTP_PORT") else None,  # None: 25, 587 or 465 by security
        "SMTP_SENDER": env.get("SMTP_SENDER", ""),  # "客服中心 <service@example.com>" or a bare address
        "SMTP_USERNAME": env.get("SMTP_USERNAME", ""),  # empty: no login (an intranet relay)
        "SMTP_PASSWORD": env.get("SMTP_PASSWORD", ""),
        "SMTP_SECURITY": smtp_security(env.get("SMTP_SECURITY", "none")),
    }


SMTP_SECURITY_CHOICES = ("none", "starttls", "ssl")


def smtp_security(value: str) -> str:
    """none, starttls (submission port 587) or ssl (implicit TLS, 465); a typo stops the start, not the 17:30 mail."""
    value = value.strip().lower() or "none"
    if value not in SMTP_SECURITY_CHOICES:
        raise ValueError(f"SMTP_SECURITY={value!r}: use one of {', '.join(SMTP_SECURITY_CHOICES)}")
    return value


DEFAULTS = {
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    "MAX_CONTENT_LENGTH": 20 * 1024 * 1024,
    "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
    "LANGUAGES": {"zh": "中文", "en": "English"},
    "RATELIMIT_HEADERS_ENABLED": True,
}
