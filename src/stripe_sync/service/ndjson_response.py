"""A streamed NDJSON response whose work stops when the client goes away.

The messages are produced and sent by a task of their own, detached from the request's task, so
that a disconnect is handled one way: the task is cancelled once, which closes the message
iterator. ``sync`` then aborts (the source stops, the destination flushes and its confirmed states
are saved), ``read`` closes the source and ``write`` the destination. Each message is sent as soon
as it is produced. An exception after the response started ends the stream with a global ``error``
and an ``end`` (status 200 and the headers are gone by then).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from stripe_sync.protocol.connector import Message
from stripe_sync.protocol.errors import SyncError
from stripe_sync.protocol.ndjson import encode

logger = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"

# Streams whose client left keep running briefly while they wind down; hold them until they do.
_winding_down: set[asyncio.Task[None]] = set()


def failure_messages(exc: BaseException, ending_state: dict[str, Any]) -> list[Message]:
    """The ``error`` and ``end`` that close a stream broken by ``exc``."""
    failure_type = exc.failure_type if isinstance(exc, SyncError) else "system_error"
    error = {"level": "global", "failure_type": failure_type, "message": str(exc) or repr(exc)}
    end = {"reason": "error", "has_more": True, "ending_state": ending_state}
    return [
        {"type": "error", "error": error, "_emitted_by": "engine"},
        {"type": "end", "end": end, "_emitted_by": "engine"},
    ]


class NDJSONStream(Response):
    """Streams ``head`` (messages already produced) then the rest of ``messages`` as NDJSON.

    ``ending_state`` gives the state an ``end`` after a failure carries. ``body_read``, when given,
    is set once the request body has been consumed by ``messages``; only then is the connection
    watched for a disconnect (before, reading the body is what notices one).
    """

    media_type = NDJSON

    def __init__(
        self,
        head: list[Message],
        messages: AsyncGenerator[Message, None],
        *,
        ending_state: Callable[[], dict[str, Any]],
        body_read: asyncio.Event | None = None,
    ) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers({"cache-control": "no-store", "x-accel-buffering": "no"})
        self.head = head
        self.messages = messages
        self.ending_state = ending_state
        self.body_read = body_read

    @classmethod
    async def start(
        cls,
        messages: AsyncGenerator[Message, None],
        *,
        ending_state: Callable[[], dict[str, Any]],
        body_read: asyncio.Event | None = None,
    ) -> NDJSONStream:
        """Run ``messages`` up to its first message before the response starts.

        Bad input (SyncError: ConfigError and connectors failing to start) raises, for the caller
        to answer with an error status; any other failure becomes the stream's ``error`` and ``end``.
        """
        try:
            head = [await anext(messages)]
        except StopAsyncIteration:
            head = []
        except SyncError:
            raise
        except Exception as exc:
            logger.warning("stream failed before it started: %s", type(exc).__name__)
            head = failure_messages(exc, ending_state())
        return cls(head, messages, ending_state=ending_state, body_read=body_read)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream = asyncio.create_task(self._stream(send))
        gone = asyncio.create_task(self._client_gone(receive))
        try:
            await asyncio.wait({stream, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            if not stream.done():
                stream.cancel()
                _winding_down.add(stream)
                stream.add_done_callback(_winding_down.discard)
        if stream.done() and not stream.cancelled() and (error := stream.exception()) is not None:
            raise error

    async def _stream(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            async with aclosing(self.messages) as messages:
                for message in self.head:
                    await self._send(send, message)
                async for message in messages:
                    await self._send(send, message)
        except Exception as exc:
            logger.warning("stream failed after it started: %s", type(exc).__name__)
            for message in failure_messages(exc, self.ending_state()):
                await self._send(send, message)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _send(send: Send, message: Message) -> None:
        await send({"type": "http.response.body", "body": encode(message), "more_body": True})

    async def _client_gone(self, receive: Receive) -> None:
        if self.body_read is not None:
            await self.body_read.wait()
        while (await receive())["type"] != "http.disconnect":
            pass
