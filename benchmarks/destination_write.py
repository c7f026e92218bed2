"""Destination write speed: realistic ~2 KB Stripe objects per second into SQLite and Postgres.

The objects are the fake server's customers (rendered before timing starts); the destination gets
them as protocol records with a stream state after every 100, the way a source sends pages, and is
timed from the first record to its last confirmed state. Postgres is a throw-away cluster started
like the tests' (`tests/support/postgres.py`).

Usage:
    .venv/bin/python benchmarks/destination_write.py [--objects 100000] [--only sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.postgres import PostgresServer  # noqa: E402

from stripe_sync.destinations.postgres import PostgresDestination  # noqa: E402
from stripe_sync.destinations.sqlite import SqliteDestination  # noqa: E402
from stripe_sync.fake_stripe.server import FakeStripe  # noqa: E402
from stripe_sync.sources.stripe.catalog import load_catalog  # noqa: E402

TARGETS = {"sqlite": 20_000, "postgres": 30_000}
PAGE = 100


def objects(count: int) -> list[dict[str, Any]]:
    fake = FakeStripe(seed=1, now=1767225600, objects={"*": 0, "customers": count})
    customers = fake.data.streams["customers"]
    return [{**customers.render(i), "_account_id": "acct_benchmark"} for i in range(count)]


async def messages(rows: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for start in range(0, len(rows), PAGE):
        for data in rows[start : start + PAGE]:
            yield {
                "type": "record",
                "record": {
                    "stream": "customers",
                    "data": data,
                    "emitted_at": "2026-01-01T00:00:00Z",
                    "version": 1767225599000,
                },
            }
        state = {"stream": "customers", "data": {"offset": start + PAGE}}
        yield {"type": "source_state", "source_state": state}


async def write(destination: Any, config: dict[str, Any], rows: list[dict[str, Any]]) -> float:
    catalog = {"streams": load_catalog().protocol_streams(["customers"])}
    await destination.setup(config, catalog)
    started = time.perf_counter()
    async for _ in destination.write(config, catalog, messages(rows)):
        pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--only", default="sqlite,postgres")
    args = parser.parse_args()
    rows = objects(args.objects)
    size = sum(len(str(row)) for row in rows[:1000]) / 1000
    print(f"{args.objects:,} customers, about {size / 1024:.1f} KB each as text")
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as workdir:
        if "sqlite" in only:
            config = {"url": f"sqlite:///{Path(workdir) / 'bench.db'}"}
            seconds = asyncio.run(write(SqliteDestination(), config, rows))
            report("sqlite", args.objects, seconds)
        if "postgres" in only:
            with PostgresServer() as server:
                config = {"url": server.create_database("bench")}
                seconds = asyncio.run(write(PostgresDestination(), config, rows))
                report("postgres", args.objects, seconds)


def report(target: str, count: int, seconds: float) -> None:
    rate = count / seconds
    verdict = "met" if rate >= TARGETS[target] else "missed"
    print(
        f"{target:>8}: {rate:,.0f} objects/s ({seconds:.1f} s; target {TARGETS[target]:,}/s {verdict})"
    )


if __name__ == "__main__":
    main()
