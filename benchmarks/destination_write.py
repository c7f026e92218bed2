"""Destination write speed: realistic ~2 KB Stripe objects per second into SQLite and Postgres.

The objects are the fake server's customers (rendered before timing starts); the destination gets
them as protocol records with a stream state after every 100, the way a source sends pages, and is
timed from the first record to its last confirmed state. Postgres is a throw-away cluster started
like the tests' (`tests/support/postgres.py`). Besides objects per second, each line gives the CPU
time per object of this process and, for Postgres, of the server's processes: on a machine shared
with other jobs the CPU figures move far less than the rates.

Usage:
    .venv/bin/python benchmarks/destination_write.py [--objects 100000] [--only sqlite,postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


class Timing:
    """Wall time and CPU time (this process; a server's processes) of one write."""

    def __init__(self, server_cpu: Any = None) -> None:
        self._server_cpu = server_cpu or (lambda: 0.0)
        self.seconds = self.client_cpu_s = self.server_cpu_s = 0.0

    def __enter__(self) -> Timing:
        self._start = (time.perf_counter(), time.process_time(), self._server_cpu())
        return self

    def __exit__(self, *_: object) -> None:
        wall, client, server = self._start
        self.seconds = time.perf_counter() - wall
        self.client_cpu_s = time.process_time() - client
        self.server_cpu_s = self._server_cpu() - server


def cluster_cpu_s(server: PostgresServer) -> float:
    """CPU seconds of the postmaster, its live children and its exited children."""
    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
    children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()
    ticks = 0
    for pid in [postmaster, *map(int, children)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # exited since the listing
            continue
        ticks += sum(int(f) for f in fields[11:13])  # utime, stime
        if pid == postmaster:
            ticks += sum(int(f) for f in fields[13:15])  # cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


async def write(
    destination: Any, config: dict[str, Any], rows: list[dict[str, Any]], timing: Timing
) -> Timing:
    catalog = {"streams": load_catalog().protocol_streams(["customers"])}
    await destination.setup(config, catalog)
    with timing:
        async for _ in destination.write(config, catalog, messages(rows)):
            pass
    return timing


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
            timing = asyncio.run(write(SqliteDestination(), config, rows, Timing()))
            report("sqlite", args.objects, timing)
        if "postgres" in only:
            with PostgresServer() as server:
                config = {"url": server.create_database("bench")}
                timing = Timing(lambda: cluster_cpu_s(server))
                asyncio.run(write(PostgresDestination(), config, rows, timing))
                report("postgres", args.objects, timing)


def report(target: str, count: int, timing: Timing) -> None:
    rate = count / timing.seconds
    verdict = "met" if rate >= TARGETS[target] else "missed"
    cpu = f"client CPU {timing.client_cpu_s / count * 1e6:.0f} µs/object"
    if timing.server_cpu_s:
        cpu += f", server CPU {timing.server_cpu_s / count * 1e6:.0f} µs/object"
    print(
        f"{target:>8}: {rate:,.0f} objects/s ({timing.seconds:.1f} s; {cpu}; "
        f"target {TARGETS[target]:,}/s {verdict})"
    )


if __name__ == "__main__":
    main()
