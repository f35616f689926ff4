"""A shop's platform secrets, sealed with a key kept outside the database (config CREDENTIALS_KEY).

The app secret and the access token are encrypted together (Fernet: AES-128-CBC and an HMAC-SHA256, from the
``cryptography`` package) into ``ShopConnection.sealed``. Nothing else stores them: forms never show them back,
the timeline records only that they changed, and a run decrypts them for its own calls.
"""

from __future__ import annotations

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from models import ShopConnection
from sync.connectors.base import Credentials


class SealError(Exception):
    """The sealed secrets cannot be opened: the key changed since they were stored."""


def _fernet() -> Fernet:
    # Any text makes a key: its SHA-256 is the 32 bytes Fernet wants.
    material = current_app.config["CREDENTIALS_KEY"].encode()
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material).digest()))


def seal(app_secret: str, access_token: str) -> str:
    return _fernet().encrypt(json.dumps({"app_secret": app_secret, "access_token": access_token}).encode()).decode()


def unseal(sealed: str) -> dict:
    try:
        return json.loads(_fernet().decrypt(sealed.encode()))
    except (InvalidToken, ValueError) as error:
        raise SealError("the shop's secrets were sealed with another CREDENTIALS_KEY: enter them again") from error


def credentials_of(connection: ShopConnection) -> Credentials:
    secrets = unseal(connection.sealed)
    return Credentials(app_key=connection.app_key, app_secret=secrets["app_secret"],
                       access_token=secrets["access_token"], shop_ref=connection.shop_ref, api_url=connection.api_url)
