"""Seeded subscriptions with coherent billing histories, for measuring MRR and churn.

With ``subscription_histories`` on, every seeded subscription and its ``subscription_items`` get
realistic billing fields instead of schema-shaped noise: a customer (shared by several
subscriptions, so customers expand, shrink, churn and come back), a currency (usd or eur), one to
three licensed items (sometimes a metered one) on day, week, month, quarter or year prices with
quantities, items added months after the start, trials, coupons (percent or amount off, forever or
for some months, now and then in another currency), cancellations (ended, or at period end),
pauses and a few never-paid ones. Each subscription's plan is drawn from the seed and its index, so
a seed always gives the same account. Discounts are served expanded (as ``expand[]`` would), the
only way a coupon can be read from a subscription.

The objects are the generated ones with these fields set on top: :func:`install` wraps the
factories of the two collections, so objects stay lazy.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stripe_sync.fake_stripe.ids import derive_key, mix64

if TYPE_CHECKING:
    from stripe_sync.fake_stripe.dataset import AccountData
    from stripe_sync.fake_stripe.object_factory import ObjectFactory

DAY = 86_400
MONTH = 30 * DAY
INTERVALS = (("month", 1, 50), ("month", 3, 10), ("year", 1, 20), ("week", 1, 8), ("week", 2, 4))
INTERVALS_DAILY = (("day", 7, 4), ("day", 30, 4))
UNIT_AMOUNTS = (500, 900, 1200, 2900, 4900, 9900)
CURRENCIES = ("usd", "usd", "usd", "eur")


@dataclass(frozen=True)
class ItemPlan:
    created: int
    unit_amount: int
    quantity: int
    usage_type: str


@dataclass(frozen=True)
class SubscriptionPlan:
    """What one seeded subscription is: enough to render it and its items."""

    customer: str
    currency: str
    interval: str
    interval_count: int
    fields: dict[str, Any]
    items: tuple[ItemPlan, ...]


class SubscriptionHistories:
    """Draws the plan of each seeded subscription of one account."""

    def __init__(self, account: AccountData) -> None:
        self.account = account
        self.key = derive_key(account.key, "subscription_histories")
        self.subscriptions = account.streams["subscriptions"]
        customers = account.streams.get("customers")
        count = len(self.subscriptions)
        self._customer_ids = (
            customers.object_id if customers is not None and len(customers) else None
        )
        self._customers = max(1, min(len(customers) if customers else 0, count * 2 // 3) or count)

    def plan(self, index: int) -> SubscriptionPlan:
        rng = random.Random(mix64(self.key ^ index))
        now = self.account.now
        start = self.subscriptions.created(index)
        customer_number = rng.randrange(self._customers)
        customer = (
            self._customer_ids(customer_number)
            if self._customer_ids is not None
            else f"cus_history{customer_number}"
        )
        currency = rng.choice(CURRENCIES)
        intervals = INTERVALS + INTERVALS_DAILY
        interval, interval_count, _ = rng.choices(intervals, [w for *_, w in intervals])[0]
        yearly = 10 if interval == "year" else 1
        items = [ItemPlan(start, rng.choice(UNIT_AMOUNTS) * yearly, _quantity(rng), "licensed")]
        for _ in range(rng.choices((0, 1, 2), (65, 25, 10))[0]):
            added = start + rng.randrange(40, 500) * DAY if rng.random() < 0.5 else start
            usage = "metered" if rng.random() < 0.1 else "licensed"
            items.append(
                ItemPlan(min(added, now), rng.choice(UNIT_AMOUNTS) * yearly, _quantity(rng), usage)
            )
        fields: dict[str, Any] = {
            "customer": customer,
            "currency": currency,
            "start_date": start,
            "status": "active",
            "ended_at": None,
            "canceled_at": None,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "trial_start": None,
            "trial_end": None,
            "pause_collection": None,
            "discounts": [],
        }
        fate = rng.random()
        if rng.random() < 0.2:
            fields["trial_start"] = start
            fields["trial_end"] = start + rng.choice((14, 30)) * DAY
            if fields["trial_end"] > now:
                fields["status"] = "trialing"
        if fate < 0.03:
            fields["status"] = "incomplete_expired"
        elif fate < 0.35:
            ended = start + rng.randrange(20, 900) * DAY
            if ended < now - DAY:
                fields.update(status="canceled", ended_at=ended, canceled_at=ended)
        elif fate < 0.43:
            fields.update(
                cancel_at_period_end=True,
                cancel_at=now + rng.randrange(2, 25) * DAY,
                canceled_at=now - rng.randrange(2, 25) * DAY,
            )
        elif fate < 0.47:
            fields["pause_collection"] = {"behavior": "void", "resumes_at": None}
        elif fate < 0.49:
            fields["status"] = "paused"
        elif fate < 0.52:
            fields["status"] = "past_due"
        if rng.random() < 0.25:
            fields["discounts"] = [self._discount(rng, index, start, currency, customer)]
        return SubscriptionPlan(customer, currency, interval, interval_count, fields, tuple(items))

    def _discount(
        self, rng: random.Random, index: int, start: int, currency: str, customer: str
    ) -> dict[str, Any]:
        months = rng.choice((None, None, 3, 6, 12))
        coupon: dict[str, Any] = {
            "id": f"coupon_h{index}",
            "object": "coupon",
            "percent_off": None,
            "amount_off": None,
            "currency": None,
            "duration": "forever" if months is None else "repeating",
            "duration_in_months": months,
        }
        if rng.random() < 0.6:
            coupon["percent_off"] = rng.choice((10, 20, 25, 50, 12.5))
        else:
            coupon["amount_off"] = rng.choice((300, 500))
            coupon["currency"] = currency if rng.random() < 0.85 else "gbp"
        begins = start + (rng.randrange(0, 200) * DAY if rng.random() < 0.3 else 0)
        return {
            "id": f"di_h{index}",
            "object": "discount",
            "coupon": coupon,
            "customer": customer,
            "start": begins,
            "end": None if months is None else begins + months * MONTH,
        }

    def render_subscription(self, index: int, obj: dict[str, Any]) -> dict[str, Any]:
        obj.update(self.plan(index).fields)
        return obj

    def render_item(self, index: int, obj: dict[str, Any]) -> dict[str, Any]:
        from stripe_sync.fake_stripe.dataset import MAX_CHILDREN, POSITION_BITS

        parent, position = index >> POSITION_BITS, index & MAX_CHILDREN
        plan = self.plan(parent)
        item = plan.items[position]
        price = {
            **(obj.get("price") or {}),
            "id": f"price_h{parent}_{position}",
            "object": "price",
            "active": True,
            "billing_scheme": "per_unit",
            "currency": plan.currency,
            "type": "recurring",
            "unit_amount": item.unit_amount,
            "unit_amount_decimal": str(item.unit_amount),
            "recurring": {
                "interval": plan.interval,
                "interval_count": plan.interval_count,
                "usage_type": item.usage_type,
                "meter": None,
                "trial_period_days": None,
            },
        }
        obj.update(created=item.created, quantity=item.quantity, price=price)
        return obj


class _PatchedFactory:
    """An object factory whose objects get a plan's fields on top."""

    def __init__(
        self, factory: ObjectFactory, patch: Any, cycled: Callable[[int], Any] | None = None
    ) -> None:
        self._factory = factory
        self._patch = patch
        self._cycled = cycled

    def build(
        self, index: int, object_id: str, created: int, parent_id: str | None = None
    ) -> dict[str, Any]:
        built = self._factory.build(index, object_id, created, parent_id)
        patched: dict[str, Any] = self._patch(index, built)
        return patched

    def cycled_value(self, index: int) -> Any:
        return self._cycled(index) if self._cycled else self._factory.cycled_value(index)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._factory, name)


def install(account: AccountData) -> None:
    """Give the account's seeded subscriptions and their items coherent billing histories."""
    subscriptions = account.streams.get("subscriptions")
    items = account.children.get("subscription_items")
    if subscriptions is None or items is None:
        return
    histories = SubscriptionHistories(account)
    for index in range(len(subscriptions)):
        items.sizes[index] = len(histories.plan(index).items)
    subscriptions.factory = _PatchedFactory(  # type: ignore[assignment]
        subscriptions.factory,
        histories.render_subscription,
        lambda index: histories.plan(index).fields["status"],
    )
    items.factory = _PatchedFactory(  # type: ignore[assignment]
        items.factory, histories.render_item
    )


def _quantity(rng: random.Random) -> int:
    return 1 if rng.random() < 0.6 else rng.randrange(2, 12)
