"""Start-up and memory of `stripe-sync sync`: time to the first API request, RSS for an empty
account, peak RSS for a 1,000,000-object backfill.

1. **Start-up**: the fake Stripe server out of process with an empty account (``--objects '*=0'``)
   behind a small TCP proxy in this process. ``stripe-sync sync --max-rps 0`` (every stream, into
   a new SQLite file) is started with its ``--base-url`` on the proxy; the time from just before
   the process is spawned to the moment the first bytes of an HTTP request reach the proxy is the
   time to the first API request (both clocks are the system's monotonic clock). The sync then runs
   to its end; its peak RSS (``wait4`` rusage of the child) is the RSS for an empty account.
   Repeated ``--runs`` times; the median and the best are printed. Measured twice: as this
   environment runs Python (``PYTHONDONTWRITEBYTECODE=1``: the package's own modules are compiled
   at every start) and with a bytecode cache (``PYTHONPYCACHEPREFIX`` in a temporary directory,
   filled by one uncounted run), as an installed package runs.
2. **Memory**: 1,000,000 objects (200,000 each of customers, charges, invoices, payment_intents and
   subscriptions; invoices embed their line items) synced with ``--max-rps 0`` into SQLite; the
   peak RSS of the sync process, its wall time and CPU time.

Targets: first request ≤ 0.5 s, empty-account RSS ≤ 120 MiB, 1,000,000-object peak RSS ≤ 300 MiB.

Usage:
    .venv/bin/python benchmarks/startup_memory.py [--runs 5] [--objects-per-stream 200000]
        [--only startup,memory]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.fake_stripe_throughput import start_server  # noqa: E402

API_KEY = "sk_test_benchmark"
MEMORY_STREAMS = ("customers", "charges", "invoices", "payment_intents", "subscriptions")


class FirstRequestProxy:
    """Forwards TCP connections to the fake; notes when the first request bytes arrive."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.removeprefix("http://").split(":")
        self.upstream = (host, int(port))
        self.first_request_at: float | None = None
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        threading.Thread(target=self._serve, daemon=True).start()
        self.ready.wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.first_request_at = None

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)

        async def pipe(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, first: bool
        ) -> None:
            try:
                while data := await source.read(1 << 16):
                    if first and self.first_request_at is None:
                        self.first_request_at = time.monotonic()
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))


def run_sync(
    url: str, workdir: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[float, os.struct_rusage, dict[str, Any]]:
    """Run one sync to its end; (seconds since spawn, rusage, end payload)."""
    command = [
        str(Path(sys.executable).with_name("stripe-sync")), "sync", "--api-key", API_KEY,
        "--base-url", url, "--to", f"sqlite:///{workdir / 'bench.db'}", "--max-rps", "0",
        "--no-progress", "--ndjson", *extra,
    ]  # fmt: skip
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=workdir, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"sync failed ({status}): {err.read().decode()[-2000:]}")
        end = json.loads(out.read().decode().strip().splitlines()[-1])["end"]
    return wall, usage, {"started": started, **end}


def startup(runs: int, bytecode_cache: bool) -> dict[str, Any]:
    fake, url = start_server("*=0")
    proxy = FirstRequestProxy(url)
    first: list[float] = []
    rss: list[float] = []
    walls: list[float] = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ)
        if bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = cache
        try:
            for run in range(runs + bytecode_cache):
                proxy.reset()
                with tempfile.TemporaryDirectory() as workdir:
                    wall, usage, end = run_sync(proxy.url, Path(workdir), env=env)
                assert end["reason"] == "complete", end["reason"]
                assert proxy.first_request_at is not None
                if bytecode_cache and run == 0:
                    continue  # fills the cache
                first.append(proxy.first_request_at - end["started"])
                rss.append(usage.ru_maxrss / 1024)
                walls.append(wall)
        finally:
            fake.terminate()
            fake.wait()
    return {
        "bytecode": "cached" if bytecode_cache else "compiled at start (PYTHONDONTWRITEBYTECODE)",
        "runs": runs,
        "streams": len(end["run_progress"]["streams"]),
        "first_request_s_median": statistics.median(first),
        "first_request_s_best": min(first),
        "empty_account_rss_mib_median": statistics.median(rss),
        "empty_account_rss_mib_max": max(rss),
        "whole_sync_wall_s_median": statistics.median(walls),
    }


def memory(per_stream: int) -> dict[str, Any]:
    spec = ",".join(f"{name}={per_stream}" for name in MEMORY_STREAMS) + ",*=0"
    fake, url = start_server(spec)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            wall, usage, end = run_sync(url, Path(workdir), "--streams", ",".join(MEMORY_STREAMS))
    finally:
        fake.terminate()
        fake.wait()
    records = end["run_progress"]["record_count"]
    return {
        "objects": per_stream * len(MEMORY_STREAMS),
        "records": records,  # invoice lines travel inside their invoices
        "reason": end["reason"],
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "wall_s": wall,
        "records_per_s": records / wall,
        "cpu_us_per_record": (usage.ru_utime + usage.ru_stime) * 1e6 / records,
    }


def show(title: str, result: dict[str, Any]) -> None:
    print(f"== {title}")
    for key, value in result.items():
        if isinstance(value, float):
            print(f"{key:>30}: {value:,.3f}")
        else:
            print(f"{key:>30}: {value:,}" if isinstance(value, int) else f"{key:>30}: {value}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--objects-per-stream", type=int, default=200_000)
    parser.add_argument("--only", default="startup,memory")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if "startup" in only:
        for cached in (False, True):
            result = startup(args.runs, cached)
            show("start-up, empty account (targets: first request ≤ 0.5 s, RSS ≤ 120 MiB)", result)
    if "memory" in only:
        result = memory(args.objects_per_stream)
        show("1,000,000-object backfill into SQLite (target: peak RSS ≤ 300 MiB)", result)


if __name__ == "__main__":
    main()
