"""The service's processes: the API server, a worker, and the development bundle of both with a
Temporal dev server. Each runs until ``stop`` is set, then shuts down in order: the API stops
taking requests, the worker cancels its activities (which end their sync calls gracefully, states
saved) and the dev server stops last.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from temporalio.client import Client

from stripe_sync.service.activities import ActivitySettings
from stripe_sync.service.connector_policy import ConnectorPolicy
from stripe_sync.service.dev_server import TemporalDevServer
from stripe_sync.service.service_api import create_service_app
from stripe_sync.service.store import PipelineStore
from stripe_sync.service.temporal_connection import TemporalSettings, connect
from stripe_sync.service.worker import build_worker
from stripe_sync.service.workflow_types import TASK_QUEUE

CONNECT_ATTEMPTS = 30


@dataclass(frozen=True)
class ApiOptions:
    host: str
    port: int
    api_token: str
    log_config: dict[str, Any] | None = None
    connectors: ConnectorPolicy = field(default_factory=ConnectorPolicy)


class ApiServer(uvicorn.Server):
    """uvicorn that prints ``listening URL`` once it serves and leaves signals to the caller."""

    def __init__(self, config: uvicorn.Config, announce: str) -> None:
        super().__init__(config)
        self.announce = announce

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.announce, flush=True)


async def connect_when_ready(settings: TemporalSettings) -> Client:
    """Connect, retrying for a while: a cluster that just started may not answer yet."""
    for attempt in range(CONNECT_ATTEMPTS):
        try:
            return await connect(settings)
        except RuntimeError:
            if attempt == CONNECT_ATTEMPTS - 1:
                raise
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


async def serve_api(
    store: PipelineStore, client: Client, options: ApiOptions, stop: asyncio.Event, task_queue: str
) -> None:
    sock = socket.create_server((options.host, options.port))
    address = f"http://{options.host}:{sock.getsockname()[1]}"

    async def same_client() -> Client:
        return client

    app = create_service_app(
        store,
        same_client,
        api_token=options.api_token,
        task_queue=task_queue,
        connectors=options.connectors,
    )
    config = uvicorn.Config(app, log_config=options.log_config, server_header=False)
    server = ApiServer(config, f"listening {address}")
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    await _until(stop, serving)
    server.should_exit = True
    await serving


async def run_worker(
    store: PipelineStore,
    client: Client,
    settings: ActivitySettings,
    stop: asyncio.Event,
    task_queue: str,
) -> None:
    worker = build_worker(client, store, settings, task_queue)
    running = asyncio.create_task(worker.run())
    print(f"worker {settings.worker} polling task queue {task_queue}", flush=True)
    await _until(stop, running)
    await worker.shutdown()
    await running


async def _until(stop: asyncio.Event, task: asyncio.Task[None]) -> None:
    """Wait for ``stop``; a task ending first (a failure) ends the wait too and re-raises."""
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()


async def api_process(
    store: PipelineStore,
    temporal: TemporalSettings,
    options: ApiOptions,
    stop: asyncio.Event,
    task_queue: str = TASK_QUEUE,
) -> None:
    """`stripe-sync service api`."""
    await store.migrate()
    await serve_api(store, await connect_when_ready(temporal), options, stop, task_queue)


async def worker_process(
    store: PipelineStore,
    temporal: TemporalSettings,
    settings: ActivitySettings,
    stop: asyncio.Event,
    task_queue: str = TASK_QUEUE,
) -> None:
    """`stripe-sync service worker`."""
    await store.migrate()
    await run_worker(store, await connect_when_ready(temporal), settings, stop, task_queue)


async def dev_process(
    store: PipelineStore,
    data_dir: Path,
    temporal_port: int | None,
    options: ApiOptions,
    settings: ActivitySettings,
    stop: asyncio.Event,
) -> None:
    """`stripe-sync service dev`: a Temporal dev server (files in ``data_dir``, which must exist),
    the store, the API and one worker."""
    with (data_dir / "temporal.log").open("a") as log:
        server = TemporalDevServer(temporal_port, data_dir / "temporal.db", log)
        await asyncio.to_thread(server.start)
        try:
            print(f"temporal {server.address} (namespace default)", flush=True)
            await store.migrate()
            client = await connect_when_ready(TemporalSettings(address=server.address))
            worker = asyncio.create_task(run_worker(store, client, settings, stop, TASK_QUEUE))
            api = asyncio.create_task(serve_api(store, client, options, stop, TASK_QUEUE))
            try:
                await asyncio.gather(worker, api)
            finally:
                stop.set()
                await asyncio.gather(worker, api, return_exceptions=True)
        finally:
            await asyncio.to_thread(server.stop)
