"""`stripe-sync metrics` after a real sync of seeded subscription histories, on SQLite and Postgres.

The expected figures are worked out from the fake's objects in plain Python (`tests.support.metrics`:
exact fractions, no SQL), month by month, and compared with the command's NDJSON output.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest
from tests.support.destinations import Target
from tests.support.metrics import expected_metrics, seeded_subscriptions

from stripe_sync.fake_stripe.server import FakeStripe

MONTHS = 24
PINNED_NOW = 1767225600  # 2026-01-01T00:00:00Z
SEED_OBJECTS = {"*": 0, "subscriptions": 500, "customers": 300}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stripe_sync.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


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
    expected = expected_metrics(fake, now, MONTHS)
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
