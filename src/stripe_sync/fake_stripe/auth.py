"""API keys: who may call the fake, and which streams a restricted key may not read.

Keys are ``sk_test_``/``sk_live_``/``rk_test_``/``rk_live_`` followed by letters and digits, sent as
``Authorization: Bearer KEY`` (or as the user name of Basic auth, as ``curl -u KEY:`` does). With a
list of accepted keys any other key is refused (401); without one any well-formed key is accepted.
Restricted keys are always accepted, and refused (403) for the streams they may not read.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection, Mapping

from stripe_sync.fake_stripe import errors

KEY_PATTERN = re.compile(r"(sk|rk)_(test|live)_[A-Za-z0-9]+")


def permission_for(object_name: str) -> str:
    """The restricted-key permission that reads ``object_name`` (``rak_customer_read``)."""
    return f"rak_{object_name.replace('.', '_')}_read"


class Authenticator:
    """Checks the key of each request against the accepted and the restricted keys."""

    def __init__(
        self, api_keys: Collection[str], restricted_keys: Mapping[str, Collection[str]]
    ) -> None:
        self._listed = frozenset(api_keys)
        self._denied = {key: frozenset(streams) for key, streams in restricted_keys.items()}

    def authenticate(self, authorization: str | None) -> str:
        """The key of an ``Authorization`` header; 401 when missing, malformed or not accepted."""
        key = _key_of(authorization)
        if key is None:
            raise errors.missing_api_key()
        if key in self._denied:
            return key
        if not KEY_PATTERN.fullmatch(key) or (self._listed and key not in self._listed):
            raise errors.invalid_api_key(key)
        return key

    def authorize(self, key: str, stream: str, object_name: str, account_id: str) -> None:
        """403 naming the permission when ``key`` is restricted from reading ``stream``."""
        if stream in self._denied.get(key, ()):
            raise errors.permission_denied(key, account_id, permission_for(object_name))


def _key_of(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        return credentials or None
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(credentials, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user or None
    return None
