"""Resume cost: kill -9 the sync at random moments of a backfill, resume each time, and count what
the interruptions cost against an uninterrupted run of the same data.

Reports extra requests (all runs together minus the uninterrupted run) and rows rewritten (the
`updated` + `unchanged` counts of `write_stats`, i.e. rows written again), then runs
`stripe-sync verify`, which must pass. `--to postgres` syncs into a throw-away Postgres cluster
(started like the tests') instead of a SQLite file.

Usage:
    .venv/bin/python benchmarks/resume_cost.py [--kills 10] [--seed 7] [--to sqlite|postgres]
        [--every SECONDS] [--rps N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.fake_stripe_throughput import start_server
from tests.support.postgres import PostgresServer

CLI = [sys.executable, "-m", "stripe_sync.cli.main"]
OBJECTS = "customers=20000,charges=10000,invoices=3000,*=0"
STREAMS = "customers,charges,invoices"


def start_fake(rps: int) -> tuple[subprocess.Popen[str], str]:
    latency = ["--latency-ms", "50", "--jitter-ms", "10"]
    if not rps:
        return start_server(OBJECTS, "--latency-ms", "5")
    limits = ["--rate-limit", str(rps), "--endpoint-rate-limit", str(rps // 4)]
    return start_server(OBJECTS, *latency, *limits)


def requests_served(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_fake/stats") as response:
        stats = json.loads(response.read())
    return sum(sum(counts.values()) for counts in stats["requests"].values())


def sync(url: str, database: str, out: Path, rps: int) -> subprocess.Popen[bytes]:
    command = [
        *CLI,
        "sync",
        "--api-key",
        "sk_live_resume",
        "--base-url",
        url,
        "--to",
        database,
        "--streams",
        STREAMS,
        "--max-rps",
        str(rps),
        "--no-progress",
        "--ndjson",
    ]
    return subprocess.Popen(command, stdout=out.open("wb"), stderr=subprocess.DEVNULL)


def rewritten(paths: list[Path]) -> int:
    """Rows written again (``updated`` + ``unchanged``) over the calls: a finished call's own
    counts (``end.request_progress.writes``), a killed one's growth of the run's counts between
    its first and its last progress line (the engine does not print ``write_stats``)."""
    total = 0
    for path in paths:
        seen: list[dict[str, int]] = []
        own: dict[str, int] | None = None
        for line in path.read_bytes().splitlines():
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line of a killed process
            if message.get("type") == "progress":
                seen.append(message["progress"]["writes"])
            elif message.get("type") == "end":
                own = message["end"]["request_progress"]["writes"]
        if own is None and seen:
            own = {key: seen[-1][key] - seen[0][key] for key in ("updated", "unchanged")}
        if own is not None:
            total += own["updated"] + own["unchanged"]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--to", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--rps",
        type=int,
        default=100,
        help="the fake's request rate limit and the sync's --max-rps; 0: no limit, 5 ms latency",
    )
    parser.add_argument(
        "--every", type=float, help="kill each run after this many seconds (default: at random)"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.to == "postgres":
            server = stack.enter_context(PostgresServer())
            baseline_db = server.create_database("baseline")
            resumed_db = server.create_database("resumed")
        else:
            baseline_db = f"sqlite:///{folder / 'baseline.db'}"
            resumed_db = f"sqlite:///{folder / 'resumed.db'}"
        fake, url = start_fake(args.rps)
        try:
            started = time.monotonic()
            baseline = sync(url, baseline_db, folder / "baseline.ndjson", args.rps)
            baseline.wait()
            duration = time.monotonic() - started
            baseline_requests = requests_served(url)
            outputs: list[Path] = []
            for kill in range(args.kills):
                out = folder / f"run{kill}.ndjson"
                outputs.append(out)
                process = sync(url, resumed_db, out, args.rps)
                time.sleep(args.every or rng.uniform(0.1, duration / 2))
                if process.poll() is None:
                    os.kill(process.pid, signal.SIGKILL)
                process.wait()
            out = folder / "final.ndjson"
            outputs.append(out)
            final = sync(url, resumed_db, out, args.rps)
            final.wait()
            interrupted_requests = requests_served(url) - baseline_requests
            rows_rewritten = rewritten(outputs)
            verify = subprocess.run(
                [
                    *CLI,
                    "verify",
                    "--api-key",
                    "sk_live_resume",
                    "--base-url",
                    url,
                    "--to",
                    resumed_db,
                ],
                capture_output=True,
                text=True,
            )
        finally:
            fake.kill()
            fake.wait()
    extra = interrupted_requests - baseline_requests
    print(f"{'uninterrupted run':>28}: {baseline_requests:,} requests in {duration:.1f} s")
    print(f"{'interrupted runs':>28}: {interrupted_requests:,} requests over {args.kills} kill -9")
    print(f"{'extra requests':>28}: {extra:,} ({extra / args.kills:.1f} per interruption)")
    print(
        f"{'rows rewritten':>28}: {rows_rewritten:,} ({rows_rewritten / args.kills:,.0f} per interruption)"
    )
    print(f"{'verify':>28}: exit {verify.returncode} ({verify.stdout.strip().splitlines()[-1]})")


if __name__ == "__main__":
    main()
