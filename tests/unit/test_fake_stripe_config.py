"""The text forms of the fake-stripe flags, and API keys."""

from __future__ import annotations

import base64

import pytest

from stripe_sync.fake_stripe.auth import Authenticator, permission_for
from stripe_sync.fake_stripe.config import (
    Burst429,
    parse_burst,
    parse_connected_accounts,
    parse_now,
    parse_objects,
    parse_restricted_key,
)
from stripe_sync.fake_stripe.errors import StripeError, redact
from stripe_sync.protocol.errors import ConfigError


def test_flag_values_parse():
    assert parse_now("2026-01-01T00:00:00Z") == 1767225600
    assert parse_now("2026-01-01T01:00:00+01:00") == 1767225600
    assert parse_objects("customers=10000, charges=5,*=0") == {
        "customers": 10000,
        "charges": 5,
        "*": 0,
    }
    assert parse_restricted_key("rk_test_abc:deny=customers,charges") == (
        "rk_test_abc",
        frozenset({"customers", "charges"}),
    )
    assert parse_burst("30:2") == Burst429(30.0, 2.0)
    assert parse_connected_accounts("50") == (50, 0)
    assert parse_connected_accounts("50:deny=3") == (50, 3)


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_now, "yesterday"),
        (parse_objects, "customers"),
        (parse_connected_accounts, "50:deny"),
        (parse_connected_accounts, "3:deny=4"),
        (parse_connected_accounts, "many"),
        (parse_objects, "customers=-1"),
        (parse_restricted_key, "sk_test_x:deny=customers"),
        (parse_restricted_key, "rk_test_x:allow=customers"),
        (parse_burst, "2:30"),
        (parse_burst, "often"),
    ],
)
def test_bad_flag_values_are_config_errors(parse, text):
    with pytest.raises(ConfigError):
        parse(text)


def test_keys_are_checked_and_never_echoed_in_full():
    open_door = Authenticator((), {})
    assert open_door.authenticate("Bearer sk_test_123") == "sk_test_123"
    basic = base64.b64encode(b"rk_live_abc:").decode()
    assert open_door.authenticate(f"Basic {basic}") == "rk_live_abc"
    for header in (None, "", "Bearer ", "Token sk_test_1"):
        with pytest.raises(StripeError, match="did not provide an API key"):
            open_door.authenticate(header)
    with pytest.raises(StripeError) as raised:
        open_door.authenticate("Bearer pk_test_secretvalue1234")
    assert raised.value.status == 401
    assert "secretvalue" not in raised.value.message and "1234" in raised.value.message
    assert redact("sk_test_abcdefgh1234") == "sk_test_********1234"


def test_listed_keys_and_restricted_keys():
    auth = Authenticator(["sk_test_good"], {"rk_test_limited": frozenset({"customers"})})
    assert auth.authenticate("Bearer sk_test_good") == "sk_test_good"
    assert auth.authenticate("Bearer rk_test_limited") == "rk_test_limited"
    with pytest.raises(StripeError):
        auth.authenticate("Bearer sk_test_other")
    auth.authorize("rk_test_limited", "charges", "charge", "acct_1")
    with pytest.raises(StripeError) as raised:
        auth.authorize("rk_test_limited", "customers", "customer", "acct_1")
    assert raised.value.status == 403
    assert "'rak_customer_read' permission" in raised.value.message
    assert permission_for("checkout.session") == "rak_checkout_session_read"
