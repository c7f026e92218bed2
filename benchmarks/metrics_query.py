"""Metrics query time: `stripe-sync metrics` on a large account, in SQLite and Postgres.

The fake's subscription histories (``--subscription-histories``) for N subscriptions and all their
items are written straight through each destination's write path (no HTTP: the fan-out of items
would cost one request per subscription), then :func:`stripe_sync.metrics.monthly_metrics` runs a
few times; each line gives the median wall time, this process's CPU and, for Postgres, the
server's CPU per run. Postgres is a throw-away cluster like the tests'.

Usage:
    .venv/bin/python benchmarks/metrics_query.py [--subscriptions 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.destination_write import Timing, cluster_cpu_s  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402

from stripe_sync.destinations.postgres import PostgresDestination  # noqa: E402
from stripe_sync.destinations.sqlite import SqliteDestination  # noqa: E402
from stripe_sync.fake_stripe.server import FakeStripe  # noqa: E402
from stripe_sync.metrics import monthly_metrics  # noqa: E402
from stripe_sync.sources.stripe.catalog import load_catalog  # noqa: E402

NOW = 1767225600  # 2026-01-01T00:00:00Z
STREAMS = ["subscriptions", "subscription_items"]
PAGE = 100


async def messages(fake: FakeStripe) -> AsyncIterator[dict[str, Any]]:
    subscriptions = fake.data.streams["subscriptions"]
    children = fake.data.children["subscription_items"]
    for index in range(len(subscriptions)):
        rows = [("subscriptions", subscriptions.render(index))]
        rows += [
            ("subscription_items", children.render(index, k)) for k in range(children.size(index))
        ]
        for stream, data in rows:
            record = {
                "stream": stream,
                "data": {**data, "_account_id": "acct_benchmark"},
                "emitted_at": "2026-01-01T00:00:00Z",
                "version": NOW * 1000,
            }
            yield {"type": "record", "record": record}
        if index % PAGE == PAGE - 1:
            for stream in STREAMS:
                state = {"stream": stream, "data": {"offset": index}}
                yield {"type": "source_state", "source_state": state}


async def load(destination: Any, config: dict[str, Any], fake: FakeStripe) -> None:
    catalog = {"streams": load_catalog().protocol_streams(STREAMS)}
    await destination.setup(config, catalog)
    async for _ in destination.write(config, catalog, messages(fake)):
        pass


def measure(name: str, url: str, runs: int, server_cpu: Callable[[], float] | None) -> None:
    timings = []
    for _ in range(runs):
        with Timing(server_cpu) as timing:
            rows = monthly_metrics(url, months=12, now=NOW)
        timings.append(timing)
    wall = statistics.median(t.seconds for t in timings)
    client = statistics.median(t.client_cpu_s for t in timings)
    line = f"{name:>8}: {wall:.2f} s per run (median of {runs}), client CPU {client:.2f} s"
    if server_cpu is not None:
        line += f", server CPU {statistics.median(t.server_cpu_s for t in timings):.2f} s"
    last = [row for row in rows if row.month == rows[-1].month]
    print(line + f"; {rows[-1].month}: " + ", ".join(f"{r.currency} {r.mrr:,}" for r in last))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", default="sqlite,postgres")
    args = parser.parse_args()
    fake = FakeStripe(
        seed=1,
        now=NOW,
        objects={"*": 0, "subscriptions": args.subscriptions, "customers": args.subscriptions},
        subscription_histories=True,
    )
    items = fake.data.children["subscription_items"].total()
    print(f"{args.subscriptions:,} subscriptions with {items:,} items, 5 years of history")
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as workdir:
        if "sqlite" in only:
            url = f"sqlite:///{Path(workdir) / 'bench.db'}"
            asyncio.run(load(SqliteDestination(), {"url": url}, fake))
            measure("sqlite", url, args.runs, None)
        if "postgres" in only:
            with PostgresServer() as server:
                url = server.create_database("bench")
                asyncio.run(load(PostgresDestination(), {"url": url}, fake))
                measure("postgres", url, args.runs, lambda: cluster_cpu_s(server))


if __name__ == "__main__":
    main()
