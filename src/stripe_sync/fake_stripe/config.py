"""What a fake Stripe server serves and how it misbehaves: :class:`FakeStripeConfig` and its parts.

The same settings come from keyword arguments in tests (``FakeStripe(seed=1, objects={...})``) and
from the ``stripe-sync fake-stripe`` flags, whose text forms the ``parse_*`` functions read. Load
settings of 0 mean "off" (no latency, no limit, no faults).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from stripe_sync.protocol.errors import ConfigError

DEFAULT_OBJECTS = 10
"""Objects of each top-level stream not named in ``objects`` (and no ``"*"`` entry)."""

UNSEEDED_STREAMS = frozenset({"accounts", "events"})
"""Streams empty unless named: connected accounts and events have features of their own."""

ACCOUNT_API_VERSION = "2025-03-31.basil"
"""The API version of the fake account's events by default: older than the catalog's pinned one,
as on most real accounts (an account's version is the one it was created with or last upgraded
to), so a source that pins the catalog's version meets events rendered at another version."""

PROFILES: dict[str, dict[str, int]] = {
    "realistic": {
        "*": 0,
        "customers": 6000,
        "payment_methods": 7000,
        "setup_intents": 2000,
        "subscriptions": 1500,
        "subscription_items": 2400,
        "prices": 40,
        "products": 20,
        "plans": 20,
        "invoices": 9000,
        "invoiceitems": 3000,
        "charges": 12000,
        "payment_intents": 12000,
        "refunds": 400,
        "balance_transactions": 25000,
        "payouts": 300,
        "coupons": 10,
        "disputes": 20,
        "entitlements_active_entitlements": 0,
        "entitlements_features": 0,
    }
}
"""``--profile`` presets: object counts shaped like a real subscription business (customers with
payment methods and subscriptions, invoices with lines, many balance transactions, no
entitlements). Explicit ``--objects`` counts override the preset's."""


@dataclass(frozen=True)
class SameSecond:
    """``count`` extra objects of ``stream`` created in one second (default: an hour before now)."""

    stream: str
    count: int
    at: int | None = None


@dataclass(frozen=True)
class ListSize:
    """Object ``index`` (0 = newest) of ``stream`` gets ``size`` items in its embedded list ``field``."""

    stream: str
    field: str
    index: int
    size: int


@dataclass(frozen=True)
class Burst429:
    """Every ``every_s`` seconds, answer every request with 429 for ``length_s`` seconds."""

    every_s: float
    length_s: float


@dataclass(frozen=True)
class FakeStripeConfig:
    """Everything that shapes the data and the behaviour of one fake Stripe server."""

    seed: int = 0
    now: int | None = None
    """The end of the seeded history (unix seconds); None: the clock when the server starts."""
    years: float = 5.0
    objects: Mapping[str, int] = field(default_factory=dict)
    """Objects per stream; ``"*"`` sets the count of every stream not named. Fan-out streams count
    all children (default: one to three per parent)."""
    same_second: Sequence[SameSecond] = ()
    list_sizes: Sequence[ListSize] = ()
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    rate_limit: float = 0.0
    """Accepted requests per second for the account (token bucket, burst = rate); 0: no limit."""
    endpoint_rate_limit: float = 0.0
    """Accepted requests per second for each endpoint (``GET /v1/customers``); 0: no limit."""
    concurrency_limit: int = 0
    sliding_window: bool = False
    """Check both rates after the latency against the requests accepted in the last second
    (exactly ``rate`` in any one-second window) instead of token buckets on arrival."""
    fault_rate: float = 0.0
    """Probability of a 500 with ``Stripe-Should-Retry: true``."""
    reset_rate: float = 0.0
    """Probability of a connection reset instead of an answer."""
    garbage_rate: float = 0.0
    """Probability of an HTML error page or a truncated JSON body instead of the answer."""
    burst_429: Burst429 | None = None
    api_keys: Sequence[str] = ()
    """The keys accepted; empty: any well-formed ``sk_``/``rk_`` key."""
    restricted_keys: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Restricted keys and the streams each may not read (403)."""
    not_available: frozenset[str] = frozenset()
    """Streams the account is not set up to use (400)."""
    webhook_url: str | None = None
    """Where to post every event recorded by a mutation (signed with ``webhook_secret``)."""
    webhook_secret: str | None = None
    connected_accounts: int = 0
    """Connected accounts of the platform, listed by ``GET /v1/accounts``; each has its own data:
    account ``i`` (0 = the newest) gets the platform's counts divided by ``i + 1``."""
    denied_accounts: int = 0
    """How many of the connected accounts (the last, smallest ones) refuse the platform (403)."""
    subscription_histories: bool = False
    """Seeded subscriptions and their items get coherent billing histories (prices, quantities,
    trials, coupons, cancellations) instead of schema-shaped values; see
    :mod:`.subscription_histories`."""
    account_api_version: str = ACCOUNT_API_VERSION
    """The ``api_version`` recorded events carry (the account's version, not the request's)."""
    event_delay_ms: float = 0.0
    """Up to this many ms (uniform, per event) before a recorded event is listed by
    ``/v1/events``, as Stripe lists some events late; 0: at once."""
    deleted_retrieve_404: bool = False
    """A retrieve of a deleted product, plan or coupon answers 404 ``resource_missing`` as Stripe
    does; deleted customers keep answering their deleted stub. False: every deletable object
    answers its stub."""

    def platform_config(self) -> FakeStripeConfig:
        """The platform's settings: its ``accounts`` list holds the connected accounts."""
        if not self.connected_accounts:
            return self
        return replace(self, objects={**self.objects, "accounts": self.connected_accounts})

    def connected_config(self, index: int) -> FakeStripeConfig:
        """The data settings of connected account ``index``: skewed sizes, no accounts of its own,
        none of the platform's special shapes."""
        divisor = index + 1
        objects = {
            name: max(1, round(count / divisor)) if count else 0
            for name, count in self.objects.items()
            if name != "accounts"
        }
        return replace(
            self,
            objects=objects,
            same_second=(),
            list_sizes=(),
            connected_accounts=0,
            denied_accounts=0,
        )

    def count_for(self, stream: str) -> int | None:
        """The configured count of ``stream``, or None to use the stream kind's default."""
        if stream in self.objects:
            return self.objects[stream]
        if stream in UNSEEDED_STREAMS:
            return 0
        return self.objects.get("*")

    def end_of_history(self) -> int:
        return self.now if self.now is not None else int(datetime.now(UTC).timestamp())


def parse_now(text: str) -> int:
    """``2026-01-01T00:00:00Z`` (or any ISO-8601 time with a zone; UTC if none) → unix seconds."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--now: not an ISO-8601 time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def profile_objects(profile: str) -> dict[str, int]:
    """The counts of ``--profile NAME``."""
    if profile not in PROFILES:
        raise ConfigError(
            f"--profile: unknown profile {profile!r} (known: {', '.join(sorted(PROFILES))})"
        )
    return dict(PROFILES[profile])


def parse_objects(text: str) -> dict[str, int]:
    """``customers=10000,charges=50000,*=0`` → counts per stream."""
    counts: dict[str, int] = {}
    for item in _items(text):
        name, _, count = item.partition("=")
        if not count.strip().isdigit():
            raise ConfigError(f"--objects: expected STREAM=COUNT, got {item!r}")
        counts[name.strip()] = int(count)
    return counts


def parse_restricted_key(text: str) -> tuple[str, frozenset[str]]:
    """``rk_test_x:deny=customers,charges`` → the key and the streams it may not read."""
    key, _, rule = text.partition(":")
    if not key.startswith("rk_") or not rule.startswith("deny="):
        raise ConfigError(f"--restricted-key: expected rk_...:deny=STREAM,..., got {text!r}")
    return key, frozenset(_items(rule.removeprefix("deny=")))


def parse_connected_accounts(text: str) -> tuple[int, int]:
    """``50`` or ``50:deny=3`` → connected accounts and how many of them refuse access."""
    count, _, rule = text.partition(":")
    denied = rule.removeprefix("deny=") if rule.startswith("deny=") else None
    if not count.strip().isdigit() or (rule and (denied is None or not denied.isdigit())):
        raise ConfigError(f"--connected-accounts: expected N[:deny=K], got {text!r}")
    if denied is not None and int(denied) > int(count):
        raise ConfigError(f"--connected-accounts: K must not exceed N, got {text!r}")
    return int(count), int(denied or 0)


def parse_burst(text: str) -> Burst429:
    """``30:2`` → a 2-second burst of 429s every 30 seconds."""
    every, _, length = text.partition(":")
    try:
        burst = Burst429(float(every), float(length))
    except ValueError:
        raise ConfigError(f"--burst-429: expected EVERY_S:LEN_S, got {text!r}") from None
    if not 0 < burst.length_s < burst.every_s:
        raise ConfigError(f"--burst-429: need 0 < LEN_S < EVERY_S, got {text!r}")
    return burst


def parse_stream_list(text: str) -> frozenset[str]:
    return frozenset(_items(text))


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
