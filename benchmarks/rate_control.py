"""Backfill against a server that enforces exactly the budget the sync is given: wall ÷ ideal, 429s.

Cases (the fake runs out of process; the sync writes into a fresh SQLite file):

    one      20,000 customers, 100 ms, `--sliding-window --rate-limit 25`, `--max-rps 25`
    two      10,000 customers + 10,000 charges, same server and budget
    buckets  10,000 customers + 10,000 charges, 250 ± 50 ms, token buckets of 100/s and 25/s per
             endpoint, `--max-rps 100`

Ideal = max(pages ÷ account rate, busiest stream's pages ÷ endpoint rate). Start-up = the wall time
of the same sync of an empty stream, measured once per case. Sync CPU is the sync process's user +
system time (from the kernel, not the wall clock).

The pacing cases leave out records and databases, so a busy machine's CPU does not hide what the
rate control does: ten workers of one `StripeClient` ask `GET /v1/customers?limit=1` until 250
answers were accepted by a sliding-window server of 25/s (100 ± 30 ms), with a budget of 25/s
(`paced`) or none (`learn`, the limit found from the 429s). Ideal = 250 ÷ 25 = 10 s.

Usage:
    .venv/bin/python benchmarks/rate_control.py [--cases one,two,buckets,paced,learn] [--repeat 3]
    .venv/bin/python benchmarks/rate_control.py --sync-src /tmp/before/src   # another revision
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fake_stripe_throughput import start_server  # noqa: E402

CLI = [sys.executable, "-m", "stripe_sync.cli.main"]


@dataclass(frozen=True)
class Case:
    objects: dict[str, int]
    server: tuple[str, ...]
    account_rps: float
    endpoint_rps: float


WINDOW = ("--latency-ms", "100", "--sliding-window", "--rate-limit", "25")
BUCKETS = ("--latency-ms", "250", "--jitter-ms", "50", "--rate-limit", "100")
CASES = {
    "one": Case({"customers": 20000}, WINDOW, 25, 25),
    "two": Case({"customers": 10000, "charges": 10000}, WINDOW, 25, 25),
    "buckets": Case(
        {"customers": 10000, "charges": 10000},
        (*BUCKETS, "--endpoint-rate-limit", "25"),
        100,
        25,
    ),
}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sync(case: Case, objects: dict[str, int], sync_src: str | None) -> dict[str, float]:
    spec = ",".join(f"{name}={count}" for name, count in objects.items()) + ",*=0"
    fake, url = start_server(spec, *case.server)
    env = dict(os.environ)
    if sync_src:
        env["PYTHONPATH"] = sync_src
    try:
        with tempfile.TemporaryDirectory() as workdir:
            command = [
                *CLI,
                "sync",
                "--api-key",
                "sk_live_benchmark",
                "--base-url",
                url,
                "--to",
                f"sqlite:///{Path(workdir) / 'bench.db'}",
                "--streams",
                ",".join(objects),
                "--max-rps",
                f"{case.account_rps:g}",
                "--no-progress",
                "--ndjson",
            ]
            cpu_before = children_cpu()
            started = time.monotonic()
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            wall = time.monotonic() - started
            cpu = children_cpu() - cpu_before
            if done.returncode != 0:
                raise SystemExit(f"sync failed ({done.returncode}): {done.stderr[-2000:]}")
            end = json.loads(done.stdout.strip().splitlines()[-1])["end"]
        with urllib.request.urlopen(f"{url}/_fake/stats") as response:
            stats = json.loads(response.read())
    finally:
        fake.kill()
        fake.wait()
    requests = sum(
        sum(counts.values())
        for path, counts in stats["requests"].items()
        if path != "GET /v1/account"
    )
    return {
        "records": end["run_progress"]["record_count"],
        "requests": requests,
        "rate_limited": stats["rate_limited_total"],
        "wall_s": wall,
        "cpu_s": cpu,
    }


PACING = {"paced": 25.0, "learn": 0.0}
PACING_SERVER = (
    "--latency-ms",
    "100",
    "--jitter-ms",
    "30",
    "--sliding-window",
    "--rate-limit",
    "25",
)


async def hammer(url: str, budget_rps: float, wanted: int, workers: int) -> dict[str, float]:
    from stripe_sync.sources.stripe.budget import RequestBudget
    from stripe_sync.sources.stripe.client import StripeClient

    budget = RequestBudget(budget_rps, 0)
    client = StripeClient(
        api_key="sk_live_benchmark", base_url=url, api_version="2025-01-27.acacia", budget=budget
    )
    done = 0

    async def worker() -> None:
        nonlocal done
        while done < wanted:
            await client.get("/v1/customers", {"limit": 1}, stream="customers")
            done += 1

    started = time.monotonic()
    try:
        await asyncio.gather(*(worker() for _ in range(workers)))
    finally:
        await client.aclose()
        await budget.close()
    return {"wall_s": time.monotonic() - started, "final_rps": budget.current_rps}


def run_pacing(name: str) -> dict[str, float]:
    wanted = 250
    tree = os.environ.pop("PYTHONPATH", None)  # the server is always this tree's
    try:
        fake, url = start_server("customers=100,*=0", *PACING_SERVER)
    finally:
        if tree is not None:
            os.environ["PYTHONPATH"] = tree
    try:
        result = asyncio.run(hammer(url, PACING[name], wanted, workers=10))
        with urllib.request.urlopen(f"{url}/_fake/stats") as response:
            stats = json.loads(response.read())
    finally:
        fake.kill()
        fake.wait()
    requests = sum(sum(counts.values()) for counts in stats["requests"].values())
    ideal = wanted / 25
    return {
        **result,
        "requests": requests,
        "rate_limited": stats["rate_limited_total"],
        "rate_limited_share": stats["rate_limited_total"] / requests,
        "ideal_s": ideal,
        "wall_over_ideal": result["wall_s"] / ideal,
    }


def run(name: str, sync_src: str | None) -> dict[str, float]:
    if name in PACING:
        return run_pacing(name)
    case = CASES[name]
    pages = {stream: max(1, math.ceil(count / 100)) for stream, count in case.objects.items()}
    ideal = max(sum(pages.values()) / case.account_rps, max(pages.values()) / case.endpoint_rps)
    startup = sync(case, {"customers": 0}, sync_src)["wall_s"]
    result = sync(case, case.objects, sync_src)
    return {
        **result,
        "pages": sum(pages.values()),
        "ideal_s": ideal,
        "startup_s": startup,
        "wall_over_ideal": result["wall_s"] / ideal,
        "wall_less_startup_over_ideal": (result["wall_s"] - startup) / ideal,
        "rate_limited_share": result["rate_limited"] / result["requests"],
        "cpu_us_per_record": result["cpu_s"] / max(1, result["records"]) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--sync-src", help="sync from this source tree (PYTHONPATH; for pacing, set PYTHONPATH)"
    )
    args = parser.parse_args()
    for name in args.cases.split(","):
        for _ in range(args.repeat):
            result = run(name, args.sync_src)
            figures = "  ".join(
                f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value}"
                for key, value in result.items()
            )
            print(f"{name}: {figures}", flush=True)


if __name__ == "__main__":
    main()
