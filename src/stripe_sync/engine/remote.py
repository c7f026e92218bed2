"""The remote-engine client: ``sync`` and the connector verbs over the engine HTTP API.

``RemoteEngine(url).sync(...)`` takes the arguments of the in-process ``sync`` and yields the same
messages, so callers switch by configuration. Bad input is a ConfigError (the engine's 400) raised
before the first message; a connector failing before any data moved, a refused token or a lost
connection is a RemoteEngineError. Setting ``abort`` or closing the iterator drops the HTTP request,
which the engine treats as an abort (source stopped, destination flushed); as the rest of that
stream is not read, an abort ends with an ``end{aborted}`` made here from the last state received.

State: given ``state``/``state_store``, the state stays with the caller: it is sent in the request
and the store saves each whole SyncState the engine attaches to a confirmed ``source_state`` (the
``_sync_state`` field, removed before the message is yielded) and the ``ending_state``. With
``use_destination_state`` the engine keeps it in the destination's own store instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AsyncExitStack, aclosing, asynccontextmanager
from datetime import datetime
from typing import Any

import httpx

from stripe_sync.engine.pipeline import Pipeline, parse_pipeline
from stripe_sync.engine.registry import Role
from stripe_sync.engine.state_store import StateStore
from stripe_sync.protocol.connector import Message
from stripe_sync.protocol.errors import ConfigError, SyncError
from stripe_sync.protocol.ndjson import aread_ndjson, encode
from stripe_sync.protocol.state import coerce_sync_state

SYNC_STATE_FIELD = "_sync_state"
TIMEOUT = httpx.Timeout(None, connect=10.0)


class RemoteEngineError(SyncError):
    """The engine could not run a call: unreachable, refused the token, or a connector failed."""

    def __init__(self, message: str, failure_type: str = "system_error") -> None:
        super().__init__(message)
        self.failure_type = failure_type


class _Aborted(Exception):
    """The caller's abort event was set while a stream was being read."""


PipelineLike = Pipeline | dict[str, Any] | str


def _pipeline_body(pipeline: PipelineLike) -> tuple[str, dict[str, Any]]:
    parsed = parse_pipeline(pipeline)
    return parsed.name, parsed.model_dump(mode="json")


async def _until_aborted(
    chunks: AsyncIterator[bytes], abort: asyncio.Event
) -> AsyncGenerator[bytes, None]:
    """Pass ``chunks`` through; raise ``_Aborted`` as soon as ``abort`` is set."""
    aborted = asyncio.ensure_future(abort.wait())
    try:
        while True:
            chunk = asyncio.ensure_future(anext(chunks))
            await asyncio.wait({chunk, aborted}, return_when=asyncio.FIRST_COMPLETED)
            if not chunk.done():
                chunk.cancel()
                await asyncio.gather(chunk, return_exceptions=True)
                raise _Aborted
            try:
                yield chunk.result()
            except StopAsyncIteration:
                return
    finally:
        aborted.cancel()


class RemoteEngine:
    """A client of ``stripe-sync serve-engine`` at ``url``."""

    def __init__(self, url: str, api_token: str | None = None) -> None:
        parsed = httpx.URL(url)
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigError(f"engine URL must be http:// or https://, got {url!r}")
        self.url = str(parsed).rstrip("/")
        self.headers = {"authorization": f"Bearer {api_token}"} if api_token else {}

    # -- transport -------------------------------------------------------------------------

    @asynccontextmanager
    async def _post(self, path: str, **request: Any) -> AsyncIterator[httpx.Response]:
        """POST to the engine; a non-2xx answer raises before the body is handed over."""
        async with httpx.AsyncClient(headers=self.headers, timeout=TIMEOUT) as client:
            try:
                async with client.stream("POST", self.url + path, **request) as response:
                    if not response.is_success:
                        await response.aread()
                        raise self._refusal(response)
                    yield response
            except httpx.TransportError as exc:
                detail = str(exc) or type(exc).__name__
                raise RemoteEngineError(
                    f"engine at {self.url}: {detail}", "transient_error"
                ) from None

    def _refusal(self, response: httpx.Response) -> SyncError:
        try:
            error = response.json()["error"]
            message, failure_type = str(error["message"]), str(error["failure_type"])
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {response.status_code}: {response.text[:200]}"
            failure_type = "system_error"
        if response.status_code == 400:
            return ConfigError(message)
        return RemoteEngineError(f"engine at {self.url}: {message}", failure_type)

    async def _stream(
        self, path: str, abort: asyncio.Event | None = None, **request: Any
    ) -> AsyncGenerator[Message, None]:
        async with self._post(path, **request) as response, AsyncExitStack() as stack:
            chunks: AsyncIterator[bytes] = response.aiter_bytes()
            if abort is not None:
                chunks = await stack.enter_async_context(aclosing(_until_aborted(chunks, abort)))
            async for message in aread_ndjson(chunks):
                yield message

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self._post(path, json=body) as response:
            await response.aread()
            return response.json() if response.content else {}

    # -- the engine's calls ----------------------------------------------------------------

    async def sync(
        self,
        pipeline: PipelineLike,
        state: dict[str, Any] | None = None,
        *,
        sync_run_id: str | None = None,
        fresh: bool = False,
        live: bool = False,
        time_limit: float | None = None,
        state_limit: int | None = None,
        state_store: StateStore | None = None,
        input: AsyncIterator[dict[str, Any]] | None = None,
        clock: Callable[[], datetime] | None = None,
        progress_interval: float = 1.0,
        abort: asyncio.Event | None = None,
        use_destination_state: bool = False,
    ) -> AsyncGenerator[Message, None]:
        """As the in-process ``sync``; ``input`` and ``clock`` cannot cross HTTP."""
        if input is not None or clock is not None or progress_interval != 1.0:
            raise ConfigError("a remote engine takes no input, clock or progress_interval")
        name, body = _pipeline_body(pipeline)
        if state is None and state_store is not None:
            state = await state_store.load(name)
        latest = state
        request = {
            "pipeline": body,
            "state": state,
            "sync_run_id": sync_run_id,
            "fresh": fresh,
            "live": live,
            "time_limit": time_limit,
            "state_limit": state_limit,
            "use_destination_state": use_destination_state,
        }
        try:
            async with aclosing(self._stream("/sync", abort, json=request)) as messages:
                async for message in messages:
                    saved = message.pop(SYNC_STATE_FIELD, None)
                    if message["type"] == "end":
                        saved = message["end"]["ending_state"]
                    if saved is not None:
                        latest = saved
                        if state_store is not None:
                            await state_store.save(name, saved)
                    yield message
        except _Aborted:
            end = {"reason": "aborted", "has_more": True, "ending_state": coerce_sync_state(latest)}
            yield {"type": "end", "end": end, "_emitted_by": "engine"}

    async def read(
        self,
        pipeline: PipelineLike,
        state: dict[str, Any] | None = None,
        *,
        time_limit: float | None = None,
        state_limit: int | None = None,
    ) -> AsyncGenerator[Message, None]:
        """As ``connector_calls.read``: the source's messages, then ``end``."""
        _, body = _pipeline_body(pipeline)
        request = {
            "pipeline": body,
            "state": state,
            "time_limit": time_limit,
            "state_limit": state_limit,
        }
        async with aclosing(self._stream("/read", json=request)) as messages:
            async for message in messages:
                yield message

    async def write(
        self, pipeline: PipelineLike, messages: AsyncIterator[Message]
    ) -> AsyncGenerator[Message, None]:
        """As ``connector_calls.write``: what the destination confirms and reports.

        The request body is sent in full before the answer is read, so the destination's output
        is buffered by the engine's connection meanwhile (it is small: states and stats).
        """
        _, body = _pipeline_body(pipeline)

        async def lines() -> AsyncIterator[bytes]:
            yield encode({"pipeline": body})
            async for message in messages:
                yield encode(message)

        headers = {"content-type": "application/x-ndjson"}
        async with aclosing(self._stream("/write", content=lines(), headers=headers)) as output:
            async for message in output:
                yield message

    async def check(self, pipeline: PipelineLike, role: Role) -> dict[str, Any]:
        """The ``connection_status`` payload of one side."""
        _, body = _pipeline_body(pipeline)
        answer = await self._call("/check", {"pipeline": body, "side": role})
        status: dict[str, Any] = answer["connection_status"]
        return status

    async def discover(self, pipeline: PipelineLike) -> dict[str, Any]:
        """The source's catalog, narrowed to the pipeline's streams."""
        _, body = _pipeline_body(pipeline)
        catalog: dict[str, Any] = (await self._call("/discover", {"pipeline": body}))["catalog"]
        return catalog

    async def setup(self, pipeline: PipelineLike, role: Role) -> None:
        _, body = _pipeline_body(pipeline)
        await self._call("/setup", {"pipeline": body, "side": role})

    async def teardown(self, pipeline: PipelineLike, role: Role) -> None:
        _, body = _pipeline_body(pipeline)
        await self._call("/teardown", {"pipeline": body, "side": role})
