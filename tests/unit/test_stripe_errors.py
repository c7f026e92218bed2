"""Error answers are classified by what Stripe documents (status, ``code``, ``type``, ``param``),
not by their wording: each case is the shape of a real Stripe answer, and again with other words."""

from __future__ import annotations

from typing import Any

import pytest

from stripe_sync.sources.stripe.errors import (
    AccountAccessRevoked,
    AuthenticationFailed,
    NotAvailable,
    PermissionDenied,
    StripeError,
    UnexpectedResponse,
    classify,
)

DOCS = "https://stripe.com/docs/error-codes"


def error(message: str, **fields: Any) -> dict[str, Any]:
    return {"message": message, "type": "invalid_request_error", **fields}


CASES: list[tuple[str, int, dict[str, Any], type[StripeError]]] = [
    (
        "unknown URL",
        404,
        error(
            "Unrecognized request URL (GET: /v1/climate/orders). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/."
        ),
        NotAvailable,
    ),
    ("unknown URL, other words", 404, error("This path does not exist."), NotAvailable),
    (
        "product not set up",
        400,
        error(
            "Your account is not set up to use Issuing. Please visit "
            "https://dashboard.stripe.com/issuing/overview to get started."
        ),
        NotAvailable,
    ),
    ("product not set up, other words", 400, error("Treasury is off for you."), NotAvailable),
    (
        "feature code",
        400,
        error("Sorry.", code="feature_not_enabled", doc_url=f"{DOCS}#feature-not-enabled"),
        NotAvailable,
    ),
    (
        "missing object",
        404,
        error(
            "No such customer: 'cus_123'",
            code="resource_missing",
            param="id",
            doc_url=f"{DOCS}#resource-missing",
        ),
        UnexpectedResponse,
    ),
    (
        "unknown parameter",
        400,
        error("Received unknown parameter: created", code="parameter_unknown", param="created"),
        UnexpectedResponse,
    ),
    (
        "restricted key",
        403,
        error(
            "The provided key 'rk_live_***' does not have the required permissions for this "
            "endpoint on account 'acct_1'. Having the 'rak_charge_read' permission would allow "
            "this request to continue."
        ),
        PermissionDenied,
    ),
    (
        "revoked account",
        403,
        error(
            "The provided key 'sk_live_***' does not have access to account 'acct_9' (or that "
            "account does not exist). Application access may have been revoked.",
            code="account_invalid",
        ),
        AccountAccessRevoked,
    ),
    (
        "revoked account, other words",
        403,
        error("Gone.", code="account_invalid"),
        AccountAccessRevoked,
    ),
    ("invalid key", 401, error("Invalid API Key provided: sk_live_***"), AuthenticationFailed),
    (
        "expired key",
        401,
        error("Expired API Key provided: sk_live_***", code="api_key_expired"),
        AuthenticationFailed,
    ),
]


@pytest.mark.parametrize(
    ("status", "body", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_answers_are_classified_by_their_structure(status, body, expected):
    classified = classify(status, body, body["message"], path="/v1/x", request_id="req_1")
    assert type(classified) is expected
    assert classified.http_status == status
    assert classified.code == body.get("code")


def test_the_permission_is_read_from_a_restricted_keys_answer():
    body = CASES[7][2]
    denied = classify(403, body, body["message"], path="/v1/charges", request_id=None)
    assert isinstance(denied, PermissionDenied) and denied.permission == "rak_charge_read"


def test_an_answer_without_stripes_structure_falls_back_to_its_words():
    proxy_page = "<html>Unrecognized request URL</html>"
    assert isinstance(classify(404, {}, proxy_page, path="/v1/x", request_id=None), NotAvailable)
    other = classify(404, {}, "<html>Not Found</html>", path="/v1/x", request_id=None)
    assert isinstance(other, UnexpectedResponse)
    # words never override a code: a missing object whose message happens to say "not enabled"
    missing = error("Webhook endpoint not enabled: we_1", code="resource_missing", param="id")
    assert isinstance(
        classify(404, missing, missing["message"], path="/v1/x", request_id=None),
        UnexpectedResponse,
    )
