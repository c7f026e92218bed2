"""A small HTTP/1.1 server on ``asyncio.Protocol`` for the fake API.

It does only what the fake needs, and does it exactly: keep-alive connections, requests answered in
order, each response written with **one** ``transport.write`` on a socket with ``TCP_NODELAY`` (status
line, headers and body together, so no client waits for a delayed ACK between them), and
connections dropped with a TCP reset on request. uvicorn writes headers and body separately and
cannot reset a connection; ``docs/fake-stripe.md`` has the measurements behind this choice.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

logger = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 4 * 1024 * 1024
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Request Failed",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Content Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Sequence[tuple[str, str]] = ()
    reset: bool = False
    """Drop the connection with a TCP reset instead of answering."""

    def encode(self, keep_alive: bool) -> bytes:
        lines = [
            f"HTTP/1.1 {self.status} {REASONS.get(self.status, 'Unknown')}",
            f"Content-Type: {self.content_type}",
            f"Content-Length: {len(self.body)}",
            "Connection: keep-alive" if keep_alive else "Connection: close",
            *(f"{name}: {value}" for name, value in self.headers),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


Handler = Callable[[Request], Awaitable[Response]]


class HttpServer:
    """Serves ``handler`` on a TCP port until :meth:`close`."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (0: any free port); returns the port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self._handler, self._connections),
            host,
            port,
            reuse_address=True,
            backlog=1024,
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for connection in list(self._connections):
            connection.close()
        await self._server.wait_closed()


class _Connection(asyncio.Protocol):
    """One client connection: parses requests and answers them one at a time, in order."""

    def __init__(self, handler: Handler, registry: set[_Connection]) -> None:
        self._handler = handler
        self._registry = registry
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._registry.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._registry.discard(self)
        self._transport = None
        if self._task is not None:
            self._task.cancel()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._task is None:
            self._next_request()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _next_request(self) -> None:
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                self._refuse(431)
            return
        try:
            method, target, version, headers = _parse_head(bytes(self._buffer[:head_end]))
            length = int(headers.get("content-length", "0"))
        except ValueError:
            self._refuse(400)
            return
        if "chunked" in headers.get("transfer-encoding", "") or length > MAX_BODY_BYTES:
            self._refuse(413)
            return
        end = head_end + 4 + length
        if len(self._buffer) < end:
            return
        body = bytes(self._buffer[head_end + 4 : end])
        del self._buffer[:end]
        path, _, query = target.partition("?")
        request = Request(method, unquote(path), query, headers, body)
        connection_header = headers.get("connection", "").lower()
        keep_alive = connection_header != "close" and (
            version == "HTTP/1.1" or connection_header == "keep-alive"
        )
        self._task = asyncio.get_running_loop().create_task(self._answer(request, keep_alive))

    async def _answer(self, request: Request, keep_alive: bool) -> None:
        try:
            response = await self._handler(request)
        except Exception:
            logger.exception("fake Stripe handler failed for %s %s", request.method, request.path)
            response = Response(500, b'{"error":{"type":"api_error","message":"internal"}}')
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if response.reset:
            _reset(transport)
            return
        transport.write(response.encode(keep_alive))
        self._task = None
        if not keep_alive:
            transport.close()
        elif self._buffer:
            self._next_request()

    def _refuse(self, status: int) -> None:
        if self._transport is not None:
            self._transport.write(Response(status).encode(keep_alive=False))
            self._transport.close()


def _parse_head(head: bytes) -> tuple[str, str, str, dict[str, str]]:
    """Request line and headers; ValueError when malformed."""
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, version = request_line.split(" ")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, separator, value = line.partition(":")
        if not separator:
            raise ValueError(f"malformed header line {line!r}")
        headers[name.strip().lower()] = value.strip()
    return method, target, version, headers


def _reset(transport: asyncio.Transport) -> None:
    """Close with RST (SO_LINGER 0): the client sees "connection reset by peer"."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
