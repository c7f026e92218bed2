"""Errors of the Stripe client: a small hierarchy a caller can branch on, each with its protocol
``failure_type``. Raised by :mod:`.client` after retries are spent or when retrying cannot help.

:func:`classify` turns an error answer into one of them from what Stripe documents — the status,
the error's ``code``, ``type`` and ``param`` — and reads the message only when those say nothing
(an answer that is not Stripe's, say from a proxy)."""

from __future__ import annotations

import re
from typing import Any

from stripe_sync.protocol.errors import SyncError

NOT_AVAILABLE_PATTERNS = (
    "not set up to use",
    "only available in testmode",
    "only available in live mode",
    "not enabled",
    "unrecognized request url",
    "is not available",
    "has not been activated",
)
"""Last resort: wordings of "this endpoint is not for this account" in answers without Stripe's
error structure."""
AUTH_CODES = frozenset({"api_key_expired", "api_key_invalid", "platform_api_key_expired"})
PERMISSION_CODES = frozenset({"insufficient_permissions", "secret_key_required"})
NOT_AVAILABLE_CODES = frozenset(
    {
        "feature_not_enabled",
        "livemode_mismatch",
        "testmode_charges_only",
        "not_allowed_on_standard_account",
        "platform_account_required",
    }
)
INVALID_REQUEST = "invalid_request_error"
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


def classify(
    status: int, error: dict[str, Any], message: str, *, path: str, request_id: str | None
) -> StripeError:
    """The error a non-retryable answer means (``error``: the body's ``error`` object, or ``{}``).

    - 401, or an expired or invalid key's code → :class:`AuthenticationFailed`;
    - ``account_invalid`` → :class:`AccountAccessRevoked`;
    - a permission code, or any other 403 → :class:`PermissionDenied`;
    - a "not for this account" code; a 404 ``invalid_request_error`` with neither ``code`` nor
      ``param`` (an unknown URL: a missing object says ``resource_missing``); a 400
      ``invalid_request_error`` with neither (a product the account is not set up for: every
      answer about the request itself names a ``code`` or the ``param``) → :class:`NotAvailable`;
    - an answer without Stripe's structure that words one of those → :class:`NotAvailable`;
    - anything else → :class:`UnexpectedResponse`.
    """
    code = error.get("code") if isinstance(error.get("code"), str) else None
    structured = error.get("type") == INVALID_REQUEST
    anonymous = structured and code is None and not error.get("param")
    kwargs: dict[str, Any] = {"http_status": status, "request_id": request_id, "code": code}
    if status == 401 or code in AUTH_CODES:
        return AuthenticationFailed(f"Stripe refused the API key: {message}", **kwargs)
    if code == "account_invalid":
        return AccountAccessRevoked(message, **kwargs)
    if code in PERMISSION_CODES or status == 403:
        return PermissionDenied(message, **kwargs)
    if code in NOT_AVAILABLE_CODES or (anonymous and status in (400, 404)):
        return NotAvailable(message, **kwargs)
    if not structured and status in (400, 404) and _words_not_available(message):
        return NotAvailable(message, **kwargs)
    return UnexpectedResponse(f"HTTP {status} from {path}: {message}", **kwargs)


def _words_not_available(message: str) -> bool:
    lowered = message.lower()
    return any(pattern in lowered for pattern in NOT_AVAILABLE_PATTERNS)


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
