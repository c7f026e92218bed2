"""Stripe-like object ids: the prefix of each object type and a reversible index ↔ id codec.

An id is ``<prefix>_`` followed by 20 letters and digits (hexadecimal in a mixed-case alphabet): 48 bits
are the object's index scrambled by a keyed bijection (so neighbouring objects get unrelated-looking
ids), 32 bits are a keyed tag that makes made-up ids fail to decode. Decoding needs no table, so a million objects cost no memory
for their ids. Everything here is deterministic: the keys come from :func:`derive_key`, never from
Python's salted ``hash()``.
"""

from __future__ import annotations

import hashlib

MASK64 = (1 << 64) - 1
INDEX_BITS = 48
_INDEX_MASK = (1 << INDEX_BITS) - 1
_TAG_BITS = 32
_GOLDEN = 0x9E3779B97F4A7C15
# Odd multipliers are invertible modulo 2**48: two multiply-add rounds around an xor-shift scramble.
_MULTIPLIER_1 = 0x5DEECE66D
_MULTIPLIER_2 = 0xB5297A4D3F1
_INVERSE_1 = pow(_MULTIPLIER_1, -1, 1 << INDEX_BITS)
_INVERSE_2 = pow(_MULTIPLIER_2, -1, 1 << INDEX_BITS)
_HEX = b"0123456789abcdef"
_ALPHABET = b"K7bQ3mZ9tXw2NpRf"  # 16 letters and digits of mixed case stand for the hex digits
_TO_ALPHABET = bytes.maketrans(_HEX, _ALPHABET)
_FROM_ALPHABET = bytes.maketrans(_ALPHABET, _HEX)
_ID_CHARS = 20  # (48 index bits + 32 tag bits) / 4 bits per character

# Prefixes Stripe uses for the objects of the catalog (and the sub-objects the fake generates).
PREFIXES: dict[str, str] = {
    "account": "acct",
    "application": "ca",
    "application_fee": "fee",
    "apple_pay_domain": "apwc",
    "apps.secret": "appsecret",
    "balance_transaction": "txn",
    "bank_account": "ba",
    "billing.alert": "alrt",
    "billing.credit_balance_transaction": "cbtxn",
    "billing.credit_grant": "credgr",
    "billing.feedback_option": "bfo",
    "billing.meter": "mtr",
    "billing_portal.configuration": "bpc",
    "card": "card",
    "charge": "ch",
    "checkout.session": "cs_test",
    "climate.order": "climorder",
    "climate.product": "climsku",
    "climate.supplier": "climsup",
    "country_spec": "cspec",
    "coupon": "co",
    "credit_note": "cn",
    "credit_note_line_item": "cnli",
    "customer": "cus",
    "discount": "di",
    "dispute": "dp",
    "entitlements.active_entitlement": "ent",
    "entitlements.feature": "feat",
    "event": "evt",
    "exchange_rate": "xr",
    "fee_refund": "fr",
    "file": "file",
    "file_link": "link",
    "financial_connections.account": "fca",
    "financial_connections.transaction": "fctxn",
    "forwarding.request": "fwdreq",
    "identity.verification_report": "vr",
    "identity.verification_session": "vs",
    "invoice": "in",
    "invoice_payment": "inpay",
    "invoice_rendering_template": "inrtem",
    "invoiceitem": "ii",
    "issuing.authorization": "iauth",
    "issuing.card": "ic",
    "issuing.cardholder": "ich",
    "issuing.dispute": "idp",
    "issuing.personalization_design": "pd",
    "issuing.physical_bundle": "ics",
    "issuing.token": "intok",
    "issuing.transaction": "ipi",
    "line_item": "il",
    "mandate": "mandate",
    "payment_attempt_record": "par",
    "payment_intent": "pi",
    "payment_link": "plink",
    "payment_method": "pm",
    "payment_method_configuration": "pmc",
    "payment_method_domain": "pmd",
    "payment_record": "pr",
    "payout": "po",
    "plan": "plan",
    "price": "price",
    "product": "prod",
    "promotion_code": "promo",
    "quote": "qt",
    "radar.early_fraud_warning": "issfr",
    "radar.value_list": "rsl",
    "radar.value_list_item": "rsli",
    "refund": "re",
    "reporting.report_run": "frr",
    "reporting.report_type": "rtype",
    "review": "prv",
    "scheduled_query_run": "sqr",
    "setup_attempt": "setatt",
    "setup_intent": "seti",
    "shipping_rate": "shr",
    "source": "src",
    "subscription": "sub",
    "subscription_item": "si",
    "subscription_schedule": "sub_sched",
    "tax.registration": "taxreg",
    "tax_code": "txcd",
    "tax_id": "txi",
    "tax_rate": "txr",
    "terminal.configuration": "tmc",
    "terminal.location": "tml",
    "terminal.reader": "tmr",
    "test_helpers.test_clock": "clock",
    "topup": "tu",
    "transfer": "tr",
    "transfer_reversal": "trr",
    "treasury.credit_reversal": "credrev",
    "treasury.debit_reversal": "debrev",
    "treasury.financial_account": "fa",
    "treasury.inbound_transfer": "ibt",
    "treasury.outbound_payment": "obp",
    "treasury.outbound_transfer": "obt",
    "treasury.received_credit": "rc",
    "treasury.received_debit": "rd",
    "treasury.transaction": "trxn",
    "treasury.transaction_entry": "trxne",
    "webhook_endpoint": "we",
}


def prefix_for(object_name: str) -> str:
    """Stripe's id prefix for ``object_name``; unknown objects get the initials of its words."""
    known = PREFIXES.get(object_name)
    if known is not None:
        return known
    words = object_name.replace(".", "_").split("_")
    return "".join(word[0] for word in words if word) or "obj"


def derive_key(*parts: object) -> int:
    """A 64-bit key from any printable parts (seed, account, stream, ...), stable across runs."""
    text = "\x1f".join(str(part) for part in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


def mix64(value: int) -> int:
    """SplitMix64's finaliser: a well-spread 64-bit hash of ``value``."""
    value = (value + 0x9E3779B97F4A7C15) & MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK64
    return value ^ (value >> 31)


class IdCodec:
    """Turns the indexes ``0 .. 2**48-1`` of one collection into ids and back."""

    def __init__(self, prefix: str, key: int) -> None:
        self.prefix = prefix
        self._head = prefix + "_"
        self._key_1 = mix64(key) & _INDEX_MASK
        self._key_2 = mix64(key + 1) & _INDEX_MASK
        self._tag_key = mix64(key + 2)

    def encode(self, index: int) -> str:
        scrambled = self._scramble(index)
        tag = (((scrambled ^ self._tag_key) * _GOLDEN) & MASK64) >> (64 - _TAG_BITS)
        digits = b"%020x" % ((scrambled << _TAG_BITS) | tag)
        return self._head + digits.translate(_TO_ALPHABET).decode()

    def decode(self, object_id: str) -> int | None:
        """The index ``object_id`` was made from, or None when it is not an id of this collection."""
        head = self._head
        body = object_id[len(head) :]
        if not object_id.startswith(head) or len(body) != _ID_CHARS or not body.isascii():
            return None
        try:
            value = int(body.encode().translate(_FROM_ALPHABET), 16)
        except ValueError:
            return None
        index = self._unscramble(value >> _TAG_BITS)
        return index if self.encode(index) == object_id else None

    def _scramble(self, index: int) -> int:
        value = ((index ^ self._key_1) * _MULTIPLIER_1) & _INDEX_MASK
        value ^= value >> (INDEX_BITS // 2)
        return ((value ^ self._key_2) * _MULTIPLIER_2) & _INDEX_MASK

    def _unscramble(self, scrambled: int) -> int:
        value = ((scrambled * _INVERSE_2) & _INDEX_MASK) ^ self._key_2
        value ^= value >> (INDEX_BITS // 2)
        return ((value * _INVERSE_1) & _INDEX_MASK) ^ self._key_1
