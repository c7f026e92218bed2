"""Errors of the Stripe client: a small hierarchy a caller can branch on, each with its protocol
``failure_type``. Raised by :mod:`.client` after retries are spent or when retrying cannot help."""

from __future__ import annotations

import re
from typing import Any

from stripe_sync.protocol.errors import SyncError

NOT_AVAILABLE_PATTERNS = (
    "not set up to use",
    "only available in testmode",
    "only available in live mode",
    "not enabled",
    "does not have access",
    "unrecognized request url",
    "is not available",
    "has not been activated",
)
PERMISSION_PATTERN = re.compile(r"'(r[a-z]+_[a-z0-9_]+_(?:read|write))'")


class StripeError(SyncError):
    """A request to Stripe failed; ``str()`` is a one-line message without secrets."""

    failure_type = "system_error"

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.request_id = request_id
        self.code = code


class AuthenticationFailed(StripeError):
    """401: the key is invalid, expired or revoked."""

    failure_type = "auth_error"


class PermissionDenied(StripeError):
    """403: a restricted key lacks a permission; ``permission`` names it when Stripe does."""

    failure_type = "permission_error"

    @property
    def permission(self) -> str | None:
        match = PERMISSION_PATTERN.search(str(self))
        return match.group(1) if match else None


class AccountAccessRevoked(StripeError):
    """403 ``account_invalid``: the platform may no longer act for the connected account."""

    failure_type = "permission_error"


class NotAvailable(StripeError):
    """The endpoint is not enabled for this account (a 400 or an unknown URL): skip the stream."""

    failure_type = "config_error"


class RetriesExhausted(StripeError):
    """Rate limits, server errors or network faults outlasted every retry."""

    failure_type = "transient_error"


class Unreachable(StripeError):
    """Nothing answers at the base URL (connection refused, unknown name) and nothing ever has:
    a wrong address or no network, not a fault a retry outlasts."""

    failure_type = "transient_error"


class UnexpectedResponse(StripeError):
    """A response that is neither a Stripe object nor a Stripe error (or a 4xx we cannot use)."""

    failure_type = "system_error"


def is_not_available(status: int, message: str) -> bool:
    """True for the answers Stripe gives when an endpoint is not enabled for the account."""
    lowered = message.lower()
    if status == 404 and "unrecognized request url" in lowered:
        return True
    return status in (400, 403, 404) and any(p in lowered for p in NOT_AVAILABLE_PATTERNS)


def is_account_refusal(exc: StripeError) -> bool:
    """A connected account's requests refused as a whole (revoked access or a refused key)."""
    return isinstance(exc, AccountAccessRevoked | AuthenticationFailed)


def error_payload(
    exc: StripeError, stream: str | None, level: str, account: str | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "level": level,
        "failure_type": exc.failure_type,
        "message": str(exc),
    }
    for key in ("http_status", "request_id"):
        if getattr(exc, key, None) is not None:
            payload[key] = getattr(exc, key)
    if stream is not None:
        payload["stream"] = stream
    if account is not None:
        payload["account"] = account
    if isinstance(exc, AccountAccessRevoked):
        payload["hint"] = "the account revoked the platform's access; reconnect it or leave it out"
    if isinstance(exc, PermissionDenied):
        permission = exc.permission
        payload["hint"] = (
            f"grant the restricted key the '{permission}' permission"
            if permission
            else "grant the restricted key read access to this resource"
        )
    if isinstance(exc, Unreachable):
        payload["hint"] = "check --base-url (STRIPE_API_BASE) and the network"
    if isinstance(exc, AuthenticationFailed):
        payload["hint"] = "check the API key (STRIPE_API_KEY or --api-key)"
    return payload
