"""`stripe-sync metrics` after a real sync of seeded subscription histories, on SQLite and Postgres.

The expected figures are worked out here from the fake's objects in plain Python (exact fractions,
no SQL), month by month, and compared with the command's NDJSON output.
"""

from __future__ import annotations

import calendar
import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest
from tests.support.destinations import Target

from stripe_sync.fake_stripe.server import FakeStripe

MONTHS = 24
PER_MONTH = {
    "day": Fraction(365, 12),
    "week": Fraction(52, 12),
    "month": 1,
    "year": Fraction(1, 12),
}
PINNED_NOW = 1767225600  # 2026-01-01T00:00:00Z
SEED_OBJECTS = {"*": 0, "subscriptions": 500, "customers": 300}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stripe_sync.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


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


def expected_metrics(fake: FakeStripe, now: int) -> list[dict[str, Any]]:
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
        if index >= len(months) - MONTHS:
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


def test_the_seeded_histories_exercise_every_rule():
    fake = FakeStripe(seed=5, now=PINNED_NOW, objects=SEED_OBJECTS, subscription_histories=True)
    seeded = seeded_subscriptions(fake)
    subs = [sub for sub, _ in seeded]
    items = [item for _, sub_items in seeded for item in sub_items]
    intervals = {item["price"]["recurring"]["interval"] for item in items}
    coupons = [sub["discounts"][0]["coupon"] for sub in subs if sub["discounts"]]
    assert intervals == {"day", "week", "month", "year"}
    assert any(item["price"]["recurring"]["interval_count"] > 1 for item in items)
    assert any(item["quantity"] > 1 for item in items)
    assert any(item["price"]["recurring"]["usage_type"] == "metered" for item in items)
    assert any(len(sub_items) > 1 for _, sub_items in seeded)
    assert any(
        item["created"] > sub["start_date"] for sub, sub_items in seeded for item in sub_items
    )
    assert any(c["percent_off"] for c in coupons) and any(c["amount_off"] for c in coupons)
    assert any(c["duration"] == "repeating" for c in coupons)
    assert any(c["currency"] not in (None, "usd", "eur") for c in coupons)
    assert {sub["currency"] for sub in subs} == {"usd", "eur"}
    assert any(sub["trial_end"] for sub in subs)
    assert any(sub["cancel_at_period_end"] for sub in subs)
    assert any(sub["pause_collection"] for sub in subs)
    statuses = Counter(sub["status"] for sub in subs)
    assert {"active", "canceled", "paused", "past_due", "incomplete_expired"} <= set(statuses)
    customers = Counter(sub["customer"] for sub in subs)
    assert max(customers.values()) > 1
    again = FakeStripe(seed=5, now=PINNED_NOW, objects=SEED_OBJECTS, subscription_histories=True)
    assert seeded_subscriptions(again) == seeded


def test_metrics_match_a_plain_python_computation_month_by_month(target: Target):
    with FakeStripe(seed=5, objects=SEED_OBJECTS, subscription_histories=True) as fake:
        common = ["--api-key", "sk_test_metrics", "--base-url", fake.url, "--to", target.url]
        streams = "subscriptions,subscription_items"
        done = cli("sync", *common, "--streams", streams, "--max-rps", "0", "--no-progress")
        assert done.returncode == 0, done.stderr
    shown = cli("metrics", "--to", target.url, "--months", str(MONTHS), "--json")
    now = int(time.time())
    assert shown.returncode == 0, shown.stderr
    got = [json.loads(line) for line in shown.stdout.splitlines()]
    expected = expected_metrics(fake, now)
    assert [(row["month"], row["currency"]) for row in got] == [
        (row["month"], row["currency"]) for row in expected
    ]
    for got_row, expected_row in zip(got, expected, strict=True):
        assert got_row == expected_row, got_row["month"]
    for kind in ("new", "expansion", "contraction", "churn", "reactivation"):
        assert any(row[kind] for row in got), f"no {kind} in the window"
    for before, row in zip(got, got[2:], strict=False):  # consecutive months, same currency
        moved = sum(row[k] for k in ("new", "expansion", "contraction", "churn", "reactivation"))
        assert row["mrr"] == before["mrr"] + moved

    usd = cli("metrics", "--to", target.url, "--months", "3", "--currency", "USD")
    assert usd.returncode == 0, usd.stderr
    lines = usd.stdout.splitlines()
    assert len(lines) == 4 and "MRR" in lines[0]
    assert all(" usd " in line for line in lines[1:])
    last = expected[-1] if expected[-1]["currency"] == "usd" else expected[-2]
    assert f"{last['mrr'] / 100:,.2f}" in lines[-1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--months", "0"], "--months"),
        (["--to", "mysql://x/y"], "mysql"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    done = cli("metrics", "--to", f"sqlite:///{tmp_path / 'none.db'}", *args)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_database_without_subscriptions_says_so(tmp_path):
    path = tmp_path / "empty.db"
    sqlite3.connect(path).execute("CREATE TABLE customers (id TEXT)").connection.commit()
    missing = cli("metrics", "--to", f"sqlite:///{path}")
    assert missing.returncode == 2
    assert "sync the subscriptions and subscription_items streams first" in missing.stderr
    absent = cli("metrics", "--to", f"sqlite:///{tmp_path / 'nothing.db'}")
    assert absent.returncode == 2 and "cannot open SQLite database" in absent.stderr
