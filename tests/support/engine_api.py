"""Real engine API servers for tests (uvicorn in a background thread, or `stripe-sync
serve-engine`), and a `test` source that tells when its read was closed."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NamedTuple

import uvicorn

from stripe_sync.connectors.testing.source import TestSource, TestSourceConfig
from stripe_sync.protocol.connector import Config, Message
from stripe_sync.service.engine_api import create_engine_app


@contextmanager
def engine_in_thread(api_token: str | None = None, **options: Any) -> Iterator[str]:
    """Serve ``create_engine_app(api_token, **options)`` on 127.0.0.1, a free port; yield its URL."""
    sock = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(create_engine_app(api_token, **options), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])), name="engine-api", daemon=True
    )
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            threading.Event().wait(0.01)
        assert server.started, "the engine API did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=35)


class RunningEngine(NamedTuple):
    url: str
    process: subprocess.Popen[str]
    log: IO[str]

    def stderr(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()


@contextmanager
def serve_engine(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Iterator[RunningEngine]:
    """Run `stripe-sync serve-engine --port 0 ARGS`; yield it once it listens.

    Its stderr (the access log) goes to a file, so a long run never blocks on a full pipe.
    """
    command = [sys.executable, "-m", "stripe_sync.cli.main", "serve-engine", "--port", "0", *args]
    with (
        tempfile.TemporaryFile("w+") as log,
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            cwd=cwd,
            env=env if env is not None else dict(os.environ),
        ) as process,
    ):
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            if not line.startswith("listening http://127.0.0.1:"):
                log.seek(0)
                raise AssertionError(line + log.read())
            yield RunningEngine(line.split()[1], process, log)
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=40)


class WatchedSourceConfig(TestSourceConfig):
    closed_marker: str


class WatchedSource(TestSource):
    """The `test` source that writes ``time.monotonic()`` to ``closed_marker`` when its read closes."""

    config_model = WatchedSourceConfig

    def spec(self) -> dict[str, Any]:
        return {"config": WatchedSourceConfig.model_json_schema()}

    async def discover(self, config: Config) -> dict[str, Any]:
        return await super().discover(_without_marker(config))

    async def read(
        self,
        config: Config,
        catalog: dict[str, Any],
        state: dict[str, Any],
        input: AsyncIterator[dict[str, Any]] | None = None,
    ) -> AsyncIterator[Message]:
        try:
            async for message in super().read(_without_marker(config), catalog, state, input):
                yield message
        finally:
            marker = Path(config["closed_marker"])
            written = marker.with_suffix(".part")  # renamed whole: a reader never sees it empty
            written.write_text(repr(time.monotonic()))
            written.rename(marker)


def _without_marker(config: Config) -> Config:
    return {k: v for k, v in config.items() if k != "closed_marker"}
