"""Stripe-Signature verification: any v1 under any secret, constant-time, 300 s tolerance."""

from __future__ import annotations

import pytest

from stripe_sync.sources.stripe.webhook_signature import SignatureError, compute, sign, verify

BODY = b'{"id":"evt_1","type":"customer.updated"}'
NOW = 1_800_000_000


def test_a_signature_made_with_the_secret_verifies():
    verify(BODY, sign(BODY, "whsec_a", NOW), ["whsec_a"], now=NOW + 299)


def test_any_v1_under_any_secret_is_enough():
    header = f"t={NOW},v1={compute(BODY, 'whsec_old', NOW)},v1={'0' * 64},v0=ignored"
    verify(BODY, header, ["whsec_new", "whsec_old"], now=NOW)


@pytest.mark.parametrize(
    ("header", "secrets", "now", "reason"),
    [
        (None, ["whsec_a"], NOW, "no Stripe-Signature"),
        ("", ["whsec_a"], NOW, "no Stripe-Signature"),
        (f"v1={compute(BODY, 'whsec_a', NOW)}", ["whsec_a"], NOW, "no timestamp"),
        (f"t={NOW}", ["whsec_a"], NOW, "no v1"),
        (f"t=soon,v1={compute(BODY, 'whsec_a', NOW)}", ["whsec_a"], NOW, "not a number"),
        (sign(BODY, "whsec_other", NOW), ["whsec_a"], NOW, "no signature matches"),
        (sign(BODY + b" ", "whsec_a", NOW), ["whsec_a"], NOW, "no signature matches"),
        (sign(BODY, "whsec_a", NOW), ["whsec_a"], NOW + 301, "301 s from now"),
        (sign(BODY, "whsec_a", NOW), ["whsec_a"], NOW - 400, "-400 s from now"),
        (sign(BODY, "whsec_a", NOW), [], NOW, "no webhook secret"),
    ],
)
def test_refused_deliveries_say_why(header, secrets, now, reason):
    with pytest.raises(SignatureError, match=reason):
        verify(BODY, header, secrets, now=now)


def test_the_reason_never_contains_the_secret():
    with pytest.raises(SignatureError) as caught:
        verify(BODY, sign(BODY, "whsec_guess", NOW), ["whsec_very_secret"], now=NOW)
    assert "whsec" not in str(caught.value)
