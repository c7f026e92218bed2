"""Backfill against the request budget: wall time and requests compared with the physical limit.

Starts the fake Stripe server out of process with pinned data and live-mode limits, runs
`stripe-sync sync` into a fresh SQLite file with the same budget, and prints

    wall ÷ ideal, where ideal = max(total pages ÷ account rps, max stream pages ÷ endpoint rps)
    requests ÷ pages, where a stream's pages = max(1, ⌈objects ÷ 100⌉)
    peak memory (RSS) of the sync process

Usage (one stream of 60,000 objects; the default):
    .venv/bin/python benchmarks/backfill.py
Twenty streams of mixed sizes, 100,000 objects in all:
    .venv/bin/python benchmarks/backfill.py --mix
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fake_stripe_throughput import start_server  # noqa: E402

CLI = [sys.executable, "-m", "stripe_sync.cli.main"]
ACCOUNT_RPS = 100
ENDPOINT_RPS = 25
MIX = {
    "customers": 30000,
    "charges": 20000,
    "payment_intents": 15000,
    "invoices": 10000,
    "subscriptions": 6000,
    "products": 5000,
    "prices": 4000,
    "refunds": 3000,
    "balance_transactions": 2500,
    "coupons": 1500,
    "payouts": 1200,
    "disputes": 800,
    "credit_notes": 500,
    "invoiceitems": 300,
    "setup_intents": 200,
    "transfers": 0,
    "application_fees": 0,
    "checkout_sessions": 0,
    "promotion_codes": 0,
    "topups": 0,
}


def start_fake(objects: dict[str, int]) -> tuple[subprocess.Popen[str], str]:
    spec = ",".join(f"{name}={count}" for name, count in objects.items()) + ",*=0"
    limits = ["--rate-limit", str(ACCOUNT_RPS), "--endpoint-rate-limit", str(ENDPOINT_RPS)]
    return start_server(spec, "--latency-ms", "250", "--jitter-ms", "50", *limits)


def fake_stats(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/_fake/stats") as response:
        return json.loads(response.read())


def cpu_seconds() -> float:
    """CPU time of finished child processes (the fake is still running, so this is the sync's)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(objects: dict[str, int]) -> dict[str, float]:
    fake, url = start_fake(objects)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            database = Path(workdir) / "bench.db"
            command = [
                *CLI,
                "sync",
                "--api-key",
                "sk_live_benchmark",
                "--base-url",
                url,
                "--to",
                f"sqlite:///{database}",
                "--streams",
                ",".join(objects),
                "--max-rps",
                str(ACCOUNT_RPS),
                "--no-progress",
                "--ndjson",
            ]
            started = time.monotonic()
            done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
            wall = time.monotonic() - started
            if done.returncode != 0:
                raise SystemExit(f"sync failed ({done.returncode}): {done.stderr[-2000:]}")
            end = json.loads(done.stdout.strip().splitlines()[-1])["end"]
        stats = fake_stats(url)
    finally:
        fake.kill()
        fake.wait()
    pages = {name: max(1, math.ceil(count / 100)) for name, count in objects.items()}
    ideal = max(sum(pages.values()) / ACCOUNT_RPS, max(pages.values()) / ENDPOINT_RPS)
    requests = sum(
        sum(counts.values())
        for path, counts in stats["requests"].items()
        if path != "GET /v1/account"
    )
    return {
        "objects": sum(objects.values()),
        "records": end["run_progress"]["record_count"],
        "pages": sum(pages.values()),
        "requests": requests,
        "ideal_s": ideal,
        "wall_s": wall,
        "wall_over_ideal": wall / ideal,
        "requests_over_pages": requests / sum(pages.values()),
        "rate_limited": stats["rate_limited_total"],
        "sync_cpu_s": cpu_seconds(),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=60000, help="objects of the one stream")
    parser.add_argument("--stream", default="customers")
    parser.add_argument("--mix", action="store_true", help="twenty streams, 100,000 objects")
    args = parser.parse_args()
    objects = MIX if args.mix else {args.stream: args.objects}
    result = run(objects)
    for key, value in result.items():
        print(f"{key:>20}: {value:,.3f}" if isinstance(value, float) else f"{key:>20}: {value:,}")


if __name__ == "__main__":
    main()
