"""Engine overhead: records/s and CPU µs per record with no latency and no request limit.

Three measurements:

1. ``stripe-sync sync`` into SQLite and 2. into Postgres, each as a subprocess against the fake
   Stripe server out of process (``stripe-sync fake-stripe --port 0 --seed 1 --now
   2026-01-01T00:00:00Z --objects customers=100000,*=0``: no latency, no limits) with a budget of 0
   (``--max-rps 0``, unlimited). Reported: records/s over the sync process's wall time (start-up
   included) and as the engine reports it (``run_progress.records_per_second``), and the CPU time
   of the sync process (user + system, from ``wait4`` rusage of that child) per record. The fake
   server's CPU and, for Postgres, the server's CPU (postmaster and its backends) are shown too,
   since all of them share the machine.
3. An in-process pass-through: the ``test`` source generating 1,000,000 records (pages of 100)
   into the ``test`` destination (in memory, commits of 1,000) through ``engine.sync``, no I/O at
   all, after a warm-up run of 10,000 records (imports, model building): records/s and CPU µs per
   record. The figure includes the test connectors' own work (building and storing the records).

Postgres is a throw-away cluster started like the tests' (``tests/support/postgres.py``:
``fsync=off``, so commits cost CPU, not disk waits).

Usage:
    .venv/bin/python benchmarks/engine_overhead.py [--objects 100000] [--only sqlite,postgres,test]
        [--passthrough-records 1000000] [--runs 1] [--profile DIR]
``--profile DIR`` runs each sync under cProfile and writes ``DIR/<target>.prof``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fake_stripe_throughput import CLOCK_TICKS, cpu_seconds, start_server  # noqa: E402
from tests.support.postgres import PostgresServer  # noqa: E402

API_KEY = "sk_test_benchmark"
TARGETS = {"postgres": 15_000.0, "passthrough": 100_000.0}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "stripe_sync.cli.main", *args]


def cluster_cpu_s(postmaster: int) -> float:
    """CPU of the postmaster, its live children and the children it already reaped."""
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(f) for f in fields[11:15]) / CLOCK_TICKS
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def run_sync(url: str, to: str, profile: Path | None) -> dict[str, Any]:
    """One ``stripe-sync sync`` subprocess; wall time, rusage CPU, peak RSS and the ``end``."""
    args = [
        "sync", "--api-key", API_KEY, "--base-url", url, "--to", to, "--streams", "customers",
        "--max-rps", "0", "--no-progress", "--ndjson",
    ]  # fmt: skip
    command = cli(*args)
    if profile is not None:
        command = [sys.executable, "-m", "cProfile", "-o", str(profile), "-m",
                   "stripe_sync.cli.main", *args]  # fmt: skip
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        lines = out.read().decode().strip().splitlines()
        if process.returncode != 0:
            raise SystemExit(f"sync failed ({process.returncode}): {err.read().decode()[-2000:]}")
    end = json.loads(lines[-1])["end"]
    records = end["run_progress"]["record_count"]
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "records": records,
        "wall_s": wall,
        "records_per_s": records / wall,
        "engine_records_per_s": end["run_progress"]["records_per_second"],
        "cpu_s": cpu,
        "cpu_us_per_record": cpu * 1e6 / records,
        "user_s": usage.ru_utime,
        "system_s": usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
    }


def measure_target(
    name: str, to: str, url: str, fake_pid: int, postmaster: int | None, profile: Path | None
) -> dict[str, Any]:
    fake_before = cpu_seconds(fake_pid)
    pg_before = cluster_cpu_s(postmaster) if postmaster else 0.0
    result = run_sync(url, to, profile)
    result["fake_cpu_s"] = cpu_seconds(fake_pid) - fake_before
    if postmaster:
        result["postgres_cpu_s"] = cluster_cpu_s(postmaster) - pg_before
    return {"target": name, **result}


async def passthrough(records: int, warm_up: int = 10_000) -> dict[str, Any]:
    """``test`` source → ``test`` destination in this process."""
    from stripe_sync.connectors.testing.destination import TestDestination
    from stripe_sync.engine.sync import sync

    if warm_up:
        await passthrough(warm_up, warm_up=0)
    pipeline = {
        "name": "passthrough",
        "source": {
            "type": "test",
            "config": {"streams": {"items": {"records": records, "page_size": 100}}},
        },
        "destination": {"type": "test", "config": {"name": "passthrough", "batch_size": 1000}},
    }
    TestDestination.stores.pop("passthrough", None)
    cpu_before = time.process_time()
    started = time.perf_counter()
    end: dict[str, Any] = {}
    async for message in sync(pipeline):
        if message["type"] == "end":
            end = message["end"]
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    count = end["run_progress"]["record_count"]
    assert len(TestDestination.stores["passthrough"]) == records, "records were lost"
    TestDestination.stores.pop("passthrough", None)
    return {
        "target": "passthrough (test → test, in process)",
        "records": count,
        "wall_s": wall,
        "records_per_s": count / wall,
        "cpu_s": cpu,
        "cpu_us_per_record": cpu * 1e6 / count,
    }


def show(result: dict[str, Any]) -> None:
    print(f"== {result['target']}")
    for key, value in result.items():
        if key == "target":
            continue
        print(f"{key:>22}: {value:,.3f}" if isinstance(value, float) else f"{key:>22}: {value:,}")
    target = TARGETS.get(result["target"].split()[0])
    if target is not None:
        verdict = "met" if result["records_per_s"] >= target else "MISSED"
        print(f"{'target':>22}: ≥ {target:,.0f} records/s: {verdict}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=100_000, help="customers in the fake")
    parser.add_argument("--only", default="sqlite,postgres,passthrough")
    parser.add_argument("--passthrough-records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1, help="repeat each measurement")
    parser.add_argument("--profile", type=Path, help="write cProfile output here")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    def profile_path(name: str, run: int) -> Path | None:
        return args.profile / f"{name}-{run}.prof" if args.profile else None

    if only & {"sqlite", "postgres"}:
        fake, url = start_server(f"customers={args.objects},*=0")
        try:
            if "sqlite" in only:
                for run in range(args.runs):
                    with tempfile.TemporaryDirectory() as workdir:
                        to = f"sqlite:///{Path(workdir) / 'bench.db'}"
                        show(measure_target("sqlite", to, url, fake.pid, None,
                                            profile_path("sqlite", run)))  # fmt: skip
            if "postgres" in only:
                with PostgresServer() as server:
                    postmaster = int((server.data_dir / "postmaster.pid").read_text().split()[0])
                    for run in range(args.runs):
                        to = server.create_database(f"bench_{run}")
                        show(measure_target("postgres", to, url, fake.pid, postmaster,
                                            profile_path("postgres", run)))  # fmt: skip
        finally:
            fake.terminate()
            fake.wait()
    if "passthrough" in only:
        for _ in range(args.runs):
            show(asyncio.run(passthrough(args.passthrough_records)))


if __name__ == "__main__":
    main()
