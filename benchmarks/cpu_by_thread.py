"""CPU per record of a backfill into SQLite, split by thread of the sync process.

The sync runs as a subprocess against the fake Stripe server out of process (pinned data, no
latency, no limits; ``--max-rps 0``) into a fresh SQLite file. While it runs, the user and system
time of each of its threads is read from ``/proc/<pid>/task/<tid>/stat`` every 0.1 s; the last
reading per thread is reported in µs per record. The main thread runs the event loop (HTTP client,
JSON decoding, engine, the writer's buffers); the SQLite statements run in worker threads.

Usage:
    .venv/bin/python benchmarks/cpu_by_thread.py [--objects 100000] [--stream customers] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fake_stripe_throughput import CLOCK_TICKS, start_server  # noqa: E402


def thread_times(pid: int) -> dict[str, tuple[float, float]]:
    """(user, system) seconds of each live thread of ``pid``, by thread id."""
    times: dict[str, tuple[float, float]] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return times
    for tid in tids:
        try:
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        times[tid] = (int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS)
    return times


def run(url: str, stream: str, objects: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        command = [
            sys.executable,
            "-m",
            "stripe_sync.cli.main",
            "sync",
            "--api-key",
            "sk_test_benchmark",
            "--base-url",
            url,
            "--to",
            f"sqlite:///{Path(workdir) / 'bench.db'}",
            "--streams",
            stream,
            "--max-rps",
            "0",
            "--no-progress",
            "--ndjson",
        ]
        sync = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        last: dict[str, tuple[float, float]] = {}
        while sync.poll() is None:
            last.update(thread_times(sync.pid))
            time.sleep(0.1)
        if sync.returncode != 0:
            raise SystemExit(f"sync failed ({sync.returncode})")
    main_tid = str(sync.pid)
    per_record = 1e6 / objects
    workers = [times for tid, times in last.items() if tid != main_tid]
    rows = [("main (event loop)", *last.get(main_tid, (0.0, 0.0)))]
    rows.append(("other threads", sum(u for u, _ in workers), sum(s for _, s in workers)))
    for name, user, system in rows:
        print(
            f"{name:>18}: user {user * per_record:6.1f} µs  system {system * per_record:5.1f} µs"
            f"  per record"
        )
    total = sum(user + system for _, user, system in rows)
    print(f"{'total':>18}: {total * per_record:6.1f} µs per record (load {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--objects", type=int, default=100000)
    parser.add_argument("--stream", default="customers")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    fake, url = start_server(f"{args.stream}={args.objects},*=0")
    try:
        for _ in range(args.runs):
            run(url, args.stream, args.objects)
    finally:
        fake.kill()
        fake.wait()


if __name__ == "__main__":
    main()
