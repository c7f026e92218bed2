"""Stripe's webhook signatures: ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]``.

A signature is HMAC-SHA256 keyed with an endpoint secret (``whsec_...``) over ``"{t}.{raw body}"``.
:func:`verify` accepts a delivery when any ``v1`` value matches the body under any of the secrets
(secrets are rotated by running with the old and the new one for a while), compared in constant
time, and its timestamp is within the tolerance of now (both ways: an old or a future ``t``).
:func:`sign` makes the header, for the fake server and tests.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

DEFAULT_TOLERANCE_S = 300
SIGNATURE_HEADER = "Stripe-Signature"


class SignatureError(Exception):
    """A delivery that must be refused; ``str()`` says why without echoing any secret."""


def compute(payload: bytes, secret: str, timestamp: int) -> str:
    """The hex ``v1`` signature of ``payload`` sent at ``timestamp``."""
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header value for ``payload`` (timestamp: now)."""
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},v1={compute(payload, secret, moment)}"


def verify(
    payload: bytes,
    header: str | None,
    secrets: Iterable[str],
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> None:
    """Raise :class:`SignatureError` unless ``header`` proves ``payload`` came from Stripe."""
    if not header:
        raise SignatureError(f"no {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("the signature's timestamp is not a number") from None
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None:
        raise SignatureError("the signature has no timestamp")
    if not candidates:
        raise SignatureError("the signature has no v1 value")
    keys = [secret for secret in secrets if secret]
    if not keys:
        raise SignatureError("no webhook secret is configured")
    expected = [compute(payload, secret, timestamp) for secret in keys]
    # every pair is compared, so the time taken does not tell which secret or value came close
    matched = False
    for value in candidates:
        for signature in expected:
            matched |= hmac.compare_digest(value.encode(), signature.encode())
    if not matched:
        raise SignatureError("no signature matches the payload")
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > tolerance_s:
        raise SignatureError(f"the signature's timestamp is {age:.0f} s from now")
