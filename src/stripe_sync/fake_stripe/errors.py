"""Stripe's error responses: the exception the fake raises and the bodies Stripe sends.

Every error leaves as ``{"error": {"type", "code", "message", "param", "doc_url"}}`` with Stripe's
status code; keys without a value are left out, as Stripe does. The constructors below carry the
wording of Stripe's messages, which clients (and our source) match on.
"""

from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs"


class StripeError(Exception):
    """An error answer: HTTP status, Stripe's error object and any extra response headers."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


def redact(key: str) -> str:
    """An API key as Stripe echoes it: the prefix, stars, and the last four characters."""
    head = key[: key.find("_", 3) + 1] if key.count("_") >= 2 else key[:3]
    return head + "*" * max(len(key) - len(head) - 4, 0) + key[-4:]


def missing_api_key() -> StripeError:
    return StripeError(
        401,
        "You did not provide an API key. You need to provide your API key in the Authorization "
        "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). "
        f"See {DOCS}/api#authentication for details.",
    )


def invalid_api_key(key: str) -> StripeError:
    return StripeError(401, f"Invalid API Key provided: {redact(key)}", code="api_key_invalid")


def permission_denied(key: str, account_id: str, permission: str) -> StripeError:
    """A restricted key without the permission; the message names it as Stripe's does."""
    return StripeError(
        403,
        f"The provided key '{redact(key)}' does not have the required permissions for this "
        f"endpoint on account '{account_id}'. Having the '{permission}' permission would allow "
        "this request to continue.",
        code="insufficient_permissions",
    )


def no_account_access(key: str, account_id: str) -> StripeError:
    return StripeError(
        403,
        f"The provided key '{redact(key)}' does not have access to account '{account_id}' "
        "(or that account does not exist). Application access may have been revoked.",
        code="account_invalid",
    )


def not_set_up(product: str) -> StripeError:
    return StripeError(
        400,
        f"Your account is not set up to use {product}. Please visit the Stripe Dashboard to "
        "get started.",
    )


def unrecognized_url(method: str, path: str) -> StripeError:
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see {DOCS} or we can help at "
        "https://support.stripe.com/.",
    )


def resource_missing(object_name: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(
        404, f"No such {object_name}: '{object_id}'", code="resource_missing", param=param
    )


def parameter_missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def parameter_unknown(param: str) -> StripeError:
    return StripeError(
        400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param
    )


def parameter_invalid(param: str, message: str) -> StripeError:
    return StripeError(400, message, code="parameter_invalid_integer", param=param)


def invalid_value(param: str, value: str) -> StripeError:
    return StripeError(
        400, f"Invalid {param}: must be one of the allowed values, got '{value}'", param=param
    )


def exclusive_parameters(*params: str) -> StripeError:
    return StripeError(400, f"You may only specify one of these parameters: {', '.join(params)}.")


def rate_limited(reason: str) -> StripeError:
    """A 429; ``reason`` goes to ``Stripe-Rate-Limited-Reason`` (``global-rate``, ...)."""
    return StripeError(
        429,
        "Request rate limit exceeded. You can learn more about rate limits here "
        f"{DOCS}/rate-limits.",
        code="rate_limit",
        headers={"Stripe-Rate-Limited-Reason": reason},
    )


def lock_timeout(object_id: str) -> StripeError:
    """The 429 of a write to an object another request is changing at that moment."""
    return StripeError(
        429,
        f"This object cannot be accessed right now because another API request or Stripe process "
        f"is currently accessing it. If you see this error intermittently, retry the request. "
        f"If you see this error frequently and are making multiple concurrent requests to a "
        f"single object, make your requests serially or at a lower rate. Object: {object_id}",
        code="lock_timeout",
        headers={"Stripe-Rate-Limited-Reason": "resource-specific"},
    )


def api_error() -> StripeError:
    return StripeError(
        500,
        "An unknown error occurred. Please try again.",
        type="api_error",
        headers={"Stripe-Should-Retry": "true"},
    )
