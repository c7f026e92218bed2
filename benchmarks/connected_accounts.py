"""Connected accounts: one platform pipeline over 50 accounts of skewed sizes, against the budget.

Starts the fake Stripe server out of process with 50 connected accounts (account i holds
1/(i+1) of the objects, the platform's limits shared by all of them, 250 ms ± 50 ms latency),
syncs them in process into a fresh SQLite file with ``accounts: "all"`` and prints

    wall ÷ ideal, where ideal = list pages of all accounts ÷ budget
    requests ÷ pages (account lookups, event polls and retries are the overhead)
    CPU seconds of the sync (engine, source and SQLite writes run in this one process)
    per account with at most 1 % of the pages: time from its first stream started to its last
    stream finished ÷ (2 * its pages ÷ (budget ÷ accounts with work left when it started)),
    the worst and the median, and how many finished within the acceptance (that bound + 10 s)

Usage:
    .venv/bin/python benchmarks/connected_accounts.py [--max-concurrent-streams 5] [--budget 100]
        [--accounts 50] [--objects-scale 1.0]
Many small accounts (the engine's per-account bookkeeping, not the data, is the load):
    .venv/bin/python benchmarks/connected_accounts.py --accounts 300 --objects-scale 0.05 \
        --max-concurrent-streams 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fake_stripe_throughput import start_server  # noqa: E402
from tests.support.account_timing import account_timings  # noqa: E402

from stripe_sync.engine.sync import sync  # noqa: E402

OBJECTS = {"customers": 20000, "charges": 20000, "products": 2000}
ACCOUNTS = 50


def fake_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_fake/stats") as response:
        return dict(json.loads(response.read()))


async def run_sync(url: str, database: Path, budget: float, slots: int) -> list[tuple[float, Any]]:
    pipeline = {
        "name": "platform",
        "source": {
            "type": "stripe",
            "config": {
                "api_key": "sk_live_benchmark",
                "base_url": url,
                "accounts": "all",
                "max_requests_per_second": budget,
                "max_concurrent_streams": slots,
            },
        },
        "destination": {"type": "sqlite", "config": {"url": f"sqlite:///{database}"}},
        "streams": list(OBJECTS),
    }
    return [(time.monotonic(), m) async for m in sync(pipeline, progress_interval=0.2)]


def run(budget: float, slots: int, accounts: int, scale: float) -> dict[str, Any]:
    objects = {name: max(1, int(count * scale)) for name, count in OBJECTS.items()}
    spec = ",".join(f"{name}={count}" for name, count in objects.items()) + ",*=0"
    flags = ["--connected-accounts", str(accounts), "--rate-limit", str(budget * 1.25)]
    fake, url = start_server(spec, "--latency-ms", "250", "--jitter-ms", "50", *flags)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            began, cpu_began = time.monotonic(), time.process_time()
            arrivals = asyncio.run(run_sync(url, Path(workdir) / "bench.db", budget, slots))
            wall, cpu = time.monotonic() - began, time.process_time() - cpu_began
        stats = fake_stats(url)
    finally:
        fake.kill()
        fake.wait()
    end = arrivals[-1][1]["end"]
    progress = end["run_progress"]
    timings = account_timings(arrivals, budget)
    total_pages = sum(timing.pages for timing in timings)
    small = [timing for timing in timings if timing.small]
    ratios = [timing.took_s / timing.fair_s for timing in small]
    ideal = total_pages / budget
    return {
        "reason": end["reason"],
        "records": progress["record_count"],
        "list_pages": total_pages,
        "requests": stats["accepted_total"],
        "rate_limited": stats["rate_limited_total"],
        "ideal_s": ideal,
        "wall_s": wall,
        "wall_over_ideal": wall / ideal,
        "sync_cpu_s": cpu,
        "requests_over_pages": stats["accepted_total"] / total_pages,
        "small_accounts": len(small),
        "small_worst_ratio": max(ratios),
        "small_median_ratio": statistics.median(ratios),
        "small_within_fair_plus_10s": sum(t.took_s <= t.fair_s + 10 for t in small),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--budget", type=float, default=100.0, help="requests per second")
    parser.add_argument("--max-concurrent-streams", type=int, default=5)
    parser.add_argument("--accounts", type=int, default=ACCOUNTS, help="connected accounts")
    parser.add_argument(
        "--objects-scale", type=float, default=1.0, help="times the largest account's objects"
    )
    args = parser.parse_args()
    result = run(args.budget, args.max_concurrent_streams, args.accounts, args.objects_scale)
    for key, value in result.items():
        if isinstance(value, float):
            value = f"{value:,.3f}"
        elif isinstance(value, int):
            value = f"{value:,}"
        print(f"{key:>20}: {value}")


if __name__ == "__main__":
    main()
