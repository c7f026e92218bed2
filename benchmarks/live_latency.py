"""Live changes: how long a change made through the API takes to reach the destination.

Starts the fake Stripe server out of process (pinned data, no latency or limits, posting signed
webhooks to a port), then for each mode runs the real command into a fresh SQLite file —
`stripe-sync sync --live --poll-interval S` or `stripe-sync webhooks serve` (polling every 60 s,
so the webhook path does the work) — waits until it is live, and makes changes one at a time:
each renames a customer, and the latency is the time from the API's answer to the new name being
readable in the database (checked every 5 ms). Prints min / median / p95 / max per mode.

Usage:
    .venv/bin/python benchmarks/live_latency.py [--samples 20] [--poll-intervals 1,5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

CLI = [sys.executable, "-m", "stripe_sync.cli.main"]
SECRET = "whsec_benchmark"
CUSTOMERS = 2000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_fake(webhook_port: int) -> tuple[subprocess.Popen[str], str]:
    command = [
        *CLI,
        *("fake-stripe", "--port", "0", "--seed", "1", "--now", "2026-01-01T00:00:00Z"),
        *("--objects", f"customers={CUSTOMERS},*=0"),
        *("--webhook-url", f"http://127.0.0.1:{webhook_port}/", "--webhook-secret", SECRET),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("listening "):
        process.kill()
        raise SystemExit(f"fake server did not start: {line!r}")
    return process, line.split()[1]


def customer_ids(url: str) -> list[str]:
    ids: list[str] = []
    after = ""
    while True:
        query = "limit=100" + (f"&starting_after={after}" if after else "")
        body = request(url, "GET", f"/v1/customers?{query}")
        ids += [item["id"] for item in body["data"]]
        if not body["has_more"]:
            return ids
        after = ids[-1]


def request(url: str, method: str, path: str, form: dict[str, str] | None = None) -> dict:
    data = urllib.parse.urlencode(form).encode() if form else None
    call = urllib.request.Request(f"{url}{path}", data=data, method=method)
    call.add_header("Authorization", "Bearer sk_test_benchmark")
    with urllib.request.urlopen(call) as answer:
        return dict(json.loads(answer.read()))


def stored_name(database: Path, customer: str) -> str | None:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            row = connection.execute(
                "SELECT json_extract(_raw_data, '$.name') FROM customers WHERE id = ?", (customer,)
            ).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def is_live(database: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            row = connection.execute("SELECT state FROM _sync_state").fetchone()
    except sqlite3.Error:
        return False
    return bool(row) and '"mode":"live"' in row[0].replace(" ", "")


def measure(
    command: list[str], database: Path, url: str, samples: int, spread_s: float
) -> list[float]:
    env = {**os.environ, "STRIPE_API_KEY": "sk_test_benchmark"}
    sync = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 120
        while not is_live(database):
            if time.monotonic() > deadline or sync.poll() is not None:
                raise SystemExit("the sync did not reach live mode")
            time.sleep(0.05)
        ids = customer_ids(url)
        rng = random.Random(1)
        latencies = []
        for number in range(samples):
            time.sleep(rng.uniform(0, spread_s))  # changes land anywhere in the poll cycle
            customer = rng.choice(ids)
            name = f"{database.stem} {number}"  # new in every mode: the fake keeps earlier names
            request(url, "POST", f"/v1/customers/{customer}", {"name": name})
            changed = time.monotonic()
            while stored_name(database, customer) != name:
                if time.monotonic() - changed > 60:
                    raise SystemExit(f"change {number} did not arrive within 60 s")
                time.sleep(0.005)
            latencies.append(time.monotonic() - changed)
        return latencies
    finally:
        sync.send_signal(signal.SIGINT)
        sync.wait(timeout=60)


def report(label: str, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(
        f"{label:<28} n={len(ordered):<3} min {ordered[0]:.2f} s  median "
        f"{statistics.median(ordered):.2f} s  p95 {p95:.2f} s  max {ordered[-1]:.2f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--poll-intervals", default="1,5")
    args = parser.parse_args()
    webhook_port = free_port()
    fake, url = start_fake(webhook_port)
    try:
        with tempfile.TemporaryDirectory() as folder:
            common = ["--base-url", url, "--streams", "customers", "--no-progress"]
            for interval in [float(value) for value in args.poll_intervals.split(",")]:
                database = Path(folder) / f"poll-{interval}.db"
                command = [
                    *CLI,
                    *("sync", "--live", "--poll-interval", str(interval)),
                    *("--to", f"sqlite:///{database}", *common),
                ]
                latencies = measure(command, database, url, args.samples, interval)
                report(f"polling every {interval:g} s", latencies)
            database = Path(folder) / "webhooks.db"
            command = [
                *CLI,
                *("webhooks", "serve", "--port", str(webhook_port), "--webhook-secret", SECRET),
                *("--poll-interval", "60", "--to", f"sqlite:///{database}", *common),
            ]
            report("webhooks", measure(command, database, url, args.samples, 1.0))
    finally:
        fake.send_signal(signal.SIGINT)
        fake.wait(timeout=30)


if __name__ == "__main__":
    main()
