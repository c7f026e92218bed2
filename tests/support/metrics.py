"""Subscription metrics worked out in plain Python (exact fractions, no SQL) from the fake's
seeded subscription histories: the independent figures the metrics query is checked against."""

from __future__ import annotations

import calendar
from collections import Counter, defaultdict
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from stripe_sync.fake_stripe.server import FakeStripe

PER_MONTH = {
    "day": Fraction(365, 12),
    "week": Fraction(52, 12),
    "month": 1,
    "year": Fraction(1, 12),
}


def seeded_subscriptions(fake: FakeStripe) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Every seeded subscription with all its items, as the fake serves them."""
    subscriptions = fake.data.streams["subscriptions"]
    children = fake.data.children["subscription_items"]
    return [
        (
            subscriptions.render(index),
            [children.render(index, k) for k in range(children.size(index))],
        )
        for index in range(len(subscriptions))
    ]


def month_ends(first: int, now: int) -> list[tuple[str, int]]:
    moment = datetime.fromtimestamp(first, UTC)
    year, month, ends = moment.year, moment.month, []
    while True:
        end = calendar.timegm((year, month, calendar.monthrange(year, month)[1], 23, 59, 59))
        ends.append((f"{year}-{month:02d}", min(end, now)))
        if end >= now:
            return ends
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def subscription_mrr(sub: dict[str, Any], items: list[dict[str, Any]], at: int, last: bool) -> int:
    """What one subscription brings in per month at ``at``, in minor units (0: nothing)."""
    if sub["status"] in ("incomplete", "incomplete_expired"):
        return 0
    end = sub["ended_at"] or sub["cancel_at"]
    if end is None and sub["status"] == "canceled":
        end = sub["canceled_at"]
        if end is None:
            return 0
    if sub["start_date"] > at or (end is not None and end <= at):
        return 0
    if sub["trial_end"] and (sub["trial_start"] or sub["start_date"]) <= at < sub["trial_end"]:
        return 0
    if last and (sub["status"] == "paused" or sub["pause_collection"]):
        return 0
    gross, per_month = Fraction(0), None
    for item in items:
        price = item["price"]
        recurring = price["recurring"]
        if item["created"] > at or recurring["usage_type"] != "licensed":
            continue
        factor = Fraction(PER_MONTH[recurring["interval"]]) / recurring["interval_count"]
        gross += price["unit_amount"] * item["quantity"] * factor
        per_month = factor
    if per_month is None:
        return 0
    net = gross
    discount = sub["discounts"][0] if sub["discounts"] else None
    if discount and discount["start"] <= at and (discount["end"] is None or discount["end"] > at):
        coupon = discount["coupon"]
        if coupon["percent_off"] is not None:
            net = gross * (1 - Fraction(str(coupon["percent_off"])) / 100)
        elif coupon["currency"] == sub["currency"]:
            net = gross - coupon["amount_off"] * per_month
    return int(max(net, Fraction(0)) + Fraction(1, 2))


def expected_metrics(fake: FakeStripe, now: int, shown: int) -> list[dict[str, Any]]:
    """The last ``shown`` months of ``stripe-sync metrics --json`` for the fake's account at
    ``now``, both currencies, worked out from the fake's objects."""
    seeded = seeded_subscriptions(fake)
    months = month_ends(min(sub["start_date"] for sub, _ in seeded), now)
    by_customer: list[dict[tuple[str, str], int]] = []
    for index, (_, at) in enumerate(months):
        totals: dict[tuple[str, str], int] = defaultdict(int)
        for sub, items in seeded:
            totals[sub["customer"], sub["currency"]] += subscription_mrr(
                sub, items, at, index == len(months) - 1
            )
        by_customer.append({key: value for key, value in totals.items() if value > 0})
    rows = []
    seen: set[tuple[str, str]] = set()
    previous_figures: dict[str, Counter[str]] = {}
    for index, (label, _) in enumerate(months):
        current = by_customer[index]
        before = by_customer[index - 1] if index else {}
        figures: dict[str, Counter[str]] = defaultdict(Counter)
        for key, mrr in current.items():
            f = figures[key[1]]
            f["mrr"] += mrr
            f["subscribers"] += 1
            old = before.get(key)
            if old is None and key not in seen:
                f["new"] += mrr
                f["new_subscribers"] += 1
            elif old is None:
                f["reactivation"] += mrr
            elif mrr > old:
                f["expansion"] += mrr - old
            elif mrr < old:
                f["contraction"] += mrr - old
        for key, old in before.items():
            if key not in current:
                figures[key[1]]["churn"] -= old
                figures[key[1]]["churned_subscribers"] += 1
        seen |= set(current)
        if index >= len(months) - shown:
            for currency in ("eur", "usd"):
                f, p = figures[currency], previous_figures.get(currency, Counter())
                rows.append(
                    {
                        "month": label,
                        "currency": currency,
                        **{
                            name: f[name]
                            for name in (
                                "mrr",
                                "subscribers",
                                "new",
                                "expansion",
                                "contraction",
                                "churn",
                                "reactivation",
                                "new_subscribers",
                                "churned_subscribers",
                            )
                        },
                        "logo_churn": round(f["churned_subscribers"] / p["subscribers"], 4)
                        if p["subscribers"]
                        else None,
                        "revenue_churn": round(-(f["churn"] + f["contraction"]) / p["mrr"], 4)
                        if p["mrr"]
                        else None,
                    }
                )
        previous_figures = figures
    return rows
