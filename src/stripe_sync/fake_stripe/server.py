"""Running the fake: :func:`serve` in the current event loop (the CLI), :class:`FakeStripe` in a
background thread with a loop of its own (tests, the demo, benchmarks in-process).

    with FakeStripe(seed=1, now=NOW, objects={"customers": 1000}) as fake:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": fake.url})
        fake.data.streams["customers"].object_id(0)   # the newest customer's id
        fake.stats()                                  # what GET /_fake/stats reports

The data is generated when a :class:`FakeStripe` is made, so any error in the settings surfaces
there, in the caller's thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from stripe_sync.fake_stripe.app import FakeStripeApi
from stripe_sync.fake_stripe.config import FakeStripeConfig
from stripe_sync.fake_stripe.dataset import AccountData
from stripe_sync.fake_stripe.http_server import HttpServer
from stripe_sync.sources.stripe.catalog import StripeCatalog, load_catalog

START_TIMEOUT_S = 30.0


async def serve(
    api: FakeStripeApi,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_ready: Callable[[str], None],
) -> None:
    """Serve ``api`` on ``host:port`` until ``stop`` is set; ``on_ready`` gets the base URL."""
    server = HttpServer(api.handle)
    bound_port = await server.start(host, port)
    try:
        on_ready(f"http://{host}:{bound_port}")
        await stop.wait()
    finally:
        await server.close()
        await api.close()


class FakeStripe:
    """A fake Stripe server on a background thread; ``settings`` are :class:`FakeStripeConfig`'s."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        catalog: StripeCatalog | None = None,
        **settings: Any,
    ) -> None:
        self.config = FakeStripeConfig(**settings)
        self.api = FakeStripeApi(catalog or load_catalog(), self.config)
        self.url = ""
        self._host = host
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    @property
    def data(self) -> AccountData:
        """The platform account's seeded objects (ids, counts, creation times)."""
        return self.api.platform

    def start(self) -> str:
        """Start serving; returns the base URL (``http://127.0.0.1:PORT``)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def on_ready(url: str) -> None:
            self.url = url
            ready.set()

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await serve(self.api, self._host, self._port, self._stop, on_ready)

        def run() -> None:
            try:
                asyncio.run(main())
            except BaseException as exc:
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=run, name="fake-stripe", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT_S):
            raise TimeoutError("the fake Stripe server did not start")
        if failure:
            raise failure[0]
        return self.url

    def stop(self) -> None:
        if self._thread is None or self._loop is None or self._stop is None:
            return
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()
        self._thread = None

    def stats(self) -> dict[str, Any]:
        """What ``GET /_fake/stats`` reports, read on the server's loop."""
        assert self._loop is not None, "the server is not running"

        async def snapshot() -> dict[str, Any]:
            return self.api.stats_snapshot()

        return asyncio.run_coroutine_threadsafe(snapshot(), self._loop).result()

    def __enter__(self) -> FakeStripe:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
