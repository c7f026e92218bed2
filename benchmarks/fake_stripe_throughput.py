"""Throughput and memory of the fake Stripe server, run out of process as the benchmarks use it.

    .venv/bin/python benchmarks/fake_stripe_throughput.py [--stream customers] [--objects 100000]
        [--clients 4] [--memory-objects 1000000]

Starts `stripe-sync fake-stripe --seed 1 --now 2026-01-01T00:00:00Z` with only one stream seeded,
pages all its objects with limit=100 from `--clients` keep-alive connections (each a slice of the
`created` range), and prints pages/s of wall time, the server's CPU time per page (from /proc, so
pages per CPU-second is the one-core figure), and its peak resident memory. A second server with
`--memory-objects` objects spread over five streams reports the memory needed to hold them
(then pages through one of them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson

SEED_FLAGS = ["--seed", "1", "--now", "2026-01-01T00:00:00Z", "--years", "5"]
NOW = 1767225600
START = NOW - 5 * 365 * 86_400
KEY = "sk_test_benchmark"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def start_server(objects: str, *flags: str) -> tuple[subprocess.Popen[str], str]:
    """Start `stripe-sync fake-stripe` with pinned data (and ``flags``); return it and its URL."""
    command = [
        str(Path(sys.executable).with_name("stripe-sync")),
        "fake-stripe",
        "--port",
        "0",
        *SEED_FLAGS,
        "--objects",
        objects,
        *flags,
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("listening "):
        process.kill()
        raise RuntimeError(f"fake-stripe did not start: {line!r}")
    return process, line.removeprefix("listening ")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


async def page_slice(url: str, path: str, gte: int, lt: int) -> tuple[int, int]:
    """Page ``[gte, lt)`` over one keep-alive connection; returns (pages, objects)."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    pages = objects = 0
    cursor = ""
    while True:
        query = f"limit=100&created[gte]={gte}&created[lt]={lt}{cursor}"
        writer.write(
            f"GET {path}?{query} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {KEY}\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        page = orjson.loads(await reader.readexactly(length))
        pages += 1
        objects += len(page["data"])
        if not page["has_more"]:
            break
        cursor = f"&starting_after={page['data'][-1]['id']}"
    writer.close()
    return pages, objects


async def page_all(url: str, path: str, clients: int) -> tuple[int, int]:
    bounds = [START + (NOW + 1 - START) * number // clients for number in range(clients + 1)]
    results = await asyncio.gather(
        *(page_slice(url, path, bounds[i], bounds[i + 1]) for i in range(clients))
    )
    return sum(pages for pages, _ in results), sum(objects for _, objects in results)


def throughput(stream: str, objects: int, clients: int) -> None:
    process, url = start_server(f"{stream}={objects},*=0")
    try:
        cpu_before = cpu_seconds(process.pid)
        started = time.perf_counter()
        pages, listed = asyncio.run(page_all(url, f"/v1/{stream}", clients))
        wall = time.perf_counter() - started
        cpu = cpu_seconds(process.pid) - cpu_before
        assert listed == objects, (listed, objects)
        print(
            f"throughput: {objects} {stream}, {pages} pages of up to 100 in {wall:.2f} s "
            f"with {clients} connections: {pages / wall:.0f} pages/s wall; server CPU "
            f"{cpu * 1000 / pages:.2f} ms/page = {pages / cpu:.0f} pages per CPU-second; "
            f"peak RSS {peak_rss_mib(process.pid):.0f} MiB"
        )
    finally:
        process.terminate()
        process.wait()


def memory(objects: int, clients: int) -> None:
    streams = ("customers", "charges", "invoices", "payment_intents", "subscriptions")
    share = objects // len(streams)
    spec = ",".join(f"{name}={share}" for name in streams) + ",*=0"
    started = time.perf_counter()
    process, url = start_server(spec)
    ready = time.perf_counter() - started
    try:
        idle = peak_rss_mib(process.pid)
        pages, listed = asyncio.run(page_all(url, "/v1/charges", clients))
        print(
            f"memory: {share * len(streams)} objects over {len(streams)} streams ready in "
            f"{ready:.1f} s; peak RSS {idle:.0f} MiB after start, "
            f"{peak_rss_mib(process.pid):.0f} MiB after paging all {listed} charges ({pages} pages)"
        )
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream", default="customers", help="a top-level stream")
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--memory-objects", type=int, default=1_000_000)
    args = parser.parse_args()
    throughput(args.stream, args.objects, args.clients)
    memory(args.memory_objects, args.clients)


if __name__ == "__main__":
    main()
