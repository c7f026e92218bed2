"""A real-shaped account (`fake-stripe --profile realistic`): the first backfill and the
incremental run after a day of changes, against the physical minimum.

Starts the fake out of process (profile data, events at an older API version than the pinned
one, events listed up to 2 s late, 250 ± 50 ms latency, 100 requests/s per account, 25 per
endpoint), then with `stripe-sync sync` (default stream selection, `--max-rps 100`) into a fresh
SQLite file:

1. the first backfill: wall ÷ ideal, ideal = max(total pages ÷ 100, largest stream's pages ÷ 25),
   a stream's pages = max(1, ⌈objects ÷ 100⌉) (a stream whose children come embedded in its
   parent pages the parent);
2. a day of changes through the API (new, updated, deleted customers; canceled subscriptions;
   voided invoices; new products), then the incremental run: requests by kind against the
   minimum = one page per stream + the new objects' further pages + the events' pages;
3. an unchanged run right after: what the events lag window costs a poll.

Usage: .venv/bin/python benchmarks/real_account.py
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fake_stripe_throughput import start_server  # noqa: E402

from stripe_sync.engine.catalog_selection import select_streams  # noqa: E402
from stripe_sync.fake_stripe.config import PROFILES  # noqa: E402
from stripe_sync.sources.stripe.catalog import load_catalog  # noqa: E402

CLI = [sys.executable, "-m", "stripe_sync.cli.main"]
ACCOUNT_RPS = 100
ENDPOINT_RPS = 25
KEY = "sk_live_benchmark"
CHANGES = {"new customers": 50, "renamed customers": 200, "deleted customers": 20}
CHANGES |= {"canceled subscriptions": 30, "voided invoices": 20, "new products": 5}


def default_pages() -> dict[str, int]:
    """The pages each default-selected stream lists on a first backfill of the profile."""
    catalog = load_catalog()
    counts = PROFILES["realistic"]
    selected = select_streams({"streams": catalog.protocol_streams()}, None)
    pages = {}
    for entry in selected:
        stream = catalog.streams[entry["name"]]
        name = stream.fan_out.parent_stream if stream.fan_out else stream.name
        count = counts.get(name, counts.get("*", 10))
        pages[stream.name] = max(1, math.ceil(count / 100))
    return pages


def fake_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_fake/stats") as response:
        return json.loads(response.read())


def requests_by_kind(stats: dict[str, Any]) -> Counter[str]:
    kinds: Counter[str] = Counter()
    for endpoint, counts in stats["requests"].items():
        method, _, path = endpoint.partition(" ")
        if method != "GET":
            continue
        kind = "events" if path == "/v1/events" else "retrieve" if "{id}" in path else "list"
        kinds[kind] += sum(counts.values())
    return kinds


def write(url: str, method: str, path: str, form: dict[str, str] | None = None) -> dict[str, Any]:
    data = urllib.parse.urlencode(form or {}).encode()
    request = urllib.request.Request(f"{url}{path}", data=data, method=method)
    request.add_header("Authorization", f"Bearer {KEY}")
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def list_ids(url: str, path: str, count: int) -> list[str]:
    request = urllib.request.Request(f"{url}{path}?limit={count}")
    request.add_header("Authorization", f"Bearer {KEY}")
    with urllib.request.urlopen(request) as response:
        return [item["id"] for item in json.loads(response.read())["data"]]


def a_day_of_changes(url: str) -> int:
    """The writes of ``CHANGES``; returns the events they record."""
    customers = list_ids(url, "/v1/customers", 100) + list_ids(url, "/v1/customers", 100)
    for number in range(CHANGES["new customers"]):
        write(url, "POST", "/v1/customers", {"name": f"new {number}"})
    for number, customer in enumerate(customers[: CHANGES["renamed customers"]]):
        write(url, "POST", f"/v1/customers/{customer}", {"name": f"renamed {number}"})
    for customer in customers[-CHANGES["deleted customers"] :]:
        write(url, "DELETE", f"/v1/customers/{customer}")
    subscriptions = list_ids(url, "/v1/subscriptions", CHANGES["canceled subscriptions"])
    for subscription in subscriptions:
        write(url, "DELETE", f"/v1/subscriptions/{subscription}")
    invoices = list_ids(url, "/v1/invoices", 100)
    voided = 0
    for invoice in invoices:
        if voided == CHANGES["voided invoices"]:
            break
        try:
            write(url, "POST", f"/v1/invoices/{invoice}/void")
            voided += 1
        except urllib.error.HTTPError:
            continue  # already void
    for number in range(CHANGES["new products"]):
        write(url, "POST", "/v1/products", {"name": f"product {number}"})
    return sum(CHANGES.values()) - CHANGES["voided invoices"] + voided


def sync(url: str, database: Path) -> tuple[float, dict[str, Any]]:
    command = [
        *CLI,
        "sync",
        *("--api-key", KEY, "--base-url", url, "--to", f"sqlite:///{database}"),
        *("--max-rps", str(ACCOUNT_RPS), "--no-progress", "--ndjson"),
    ]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"sync failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])["end"]


def main() -> None:
    limits = ["--rate-limit", str(ACCOUNT_RPS), "--endpoint-rate-limit", str(ENDPOINT_RPS)]
    realism = ["--profile", "realistic", "--event-delay-ms", "2000"]
    fake, url = start_server("", "--latency-ms", "250", "--jitter-ms", "50", *limits, *realism)
    pages = default_pages()
    try:
        with tempfile.TemporaryDirectory() as workdir:
            database = Path(workdir) / "real.db"
            wall, first = sync(url, database)
            after_first = requests_by_kind(fake_stats(url))
            ideal = max(sum(pages.values()) / ACCOUNT_RPS, max(pages.values()) / ENDPOINT_RPS)
            print(f"first backfill: {first['reason']}, {sum(pages.values())} pages")
            print(f"  requests {dict(after_first)} = {sum(after_first.values())}")
            print(f"  wall {wall:.1f} s, ideal {ideal:.1f} s, wall / ideal {wall / ideal:.2f}")
            events = a_day_of_changes(url)
            time.sleep(2.5)  # every event listable (they are listed up to 2 s late)
            before = requests_by_kind(fake_stats(url))
            wall, second = sync(url, database)
            second_requests = requests_by_kind(fake_stats(url)) - before
            minimum = len(pages) + math.ceil(events / 100)  # new objects fit the first pages
            total = sum(second_requests.values())
            print(f"incremental after {events} changes: {second['reason']}")
            print(f"  requests {dict(second_requests)} = {total}; wall {wall:.1f} s")
            print(f"  minimum {minimum} ({len(pages)} streams + events pages)")
            print(f"  requests / minimum {total / minimum:.2f}")
            before_stats = fake_stats(url)
            wall, third = sync(url, database)
            after_stats = fake_stats(url)
            third_requests = requests_by_kind(after_stats) - requests_by_kind(before_stats)
            print(f"unchanged run right after: {third['reason']}, requests {dict(third_requests)}")
            for endpoint, counts in after_stats["requests"].items():
                sent = sum(counts.values()) - sum(
                    before_stats["requests"].get(endpoint, {}).values()
                )
                if sent and "{id}" in endpoint:
                    print(f"  {endpoint}: {sent}")
    finally:
        fake.kill()
        fake.wait()


if __name__ == "__main__":
    main()
