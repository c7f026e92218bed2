"""Turns any in-process connector into a connector command.

``python -m stripe_sync.engine.harness source|destination TYPE <verb> --config FILE
[--catalog FILE] [--state FILE]``: TYPE is a built-in type or ``package.module:Class``. Messages go
to stdout as NDJSON (``write`` reads them from stdin); a failure prints its message to stderr and
exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import stat
import sys
from collections.abc import AsyncIterator
from typing import Any

import orjson

from stripe_sync.engine.pipeline import ConnectorRef
from stripe_sync.engine.registry import Role, load_connector, validate_config
from stripe_sync.protocol.connector import Message, call_setup, call_teardown
from stripe_sync.protocol.ndjson import aread_ndjson, encode
from stripe_sync.protocol.state import coerce_sync_state

VERBS = ("spec", "check", "discover", "read", "write", "setup", "teardown")


def _load(path: str | None, default: Any) -> Any:
    if path is None:
        return default
    with open(path, "rb") as handle:
        return orjson.loads(handle.read())


async def _stdin_messages() -> AsyncIterator[Message]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=256 * 1024 * 1024, loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await reader.read(1 << 16):
            yield chunk

    async for message in aread_ndjson(chunks()):
        yield message


async def run(role: Role, connector_type: str, verb: str, args: argparse.Namespace) -> None:
    connector = load_connector(role, ConnectorRef(type=connector_type))
    out = sys.stdout.buffer

    def emit(message: Message) -> None:
        out.write(encode(message))
        out.flush()

    if verb == "spec":
        emit({"type": "spec", "spec": connector.spec()})
        return
    config = validate_config(connector, _load(args.config, {}), role)
    catalog = _load(args.catalog, {"streams": []})
    if verb == "check":
        emit({"type": "connection_status", "connection_status": await connector.check(config)})
    elif verb == "discover":
        emit({"type": "catalog", "catalog": await connector.discover(config)})
    elif verb == "setup":
        await call_setup(connector, config, catalog)
    elif verb == "teardown":
        await call_teardown(connector, config, catalog)
    elif verb == "read":
        state = coerce_sync_state({"source": _load(args.state, {})})["source"]
        pushed = _stdin_messages() if stat.S_ISFIFO(os.fstat(0).st_mode) else None
        async for message in connector.read(config, catalog, state, pushed):
            emit(message)
    elif verb == "write":
        async for message in connector.write(config, catalog, _stdin_messages()):
            emit(message)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m stripe_sync.engine.harness")
    parser.add_argument("role", choices=["source", "destination"])
    parser.add_argument("type")
    parser.add_argument("verb", choices=VERBS)
    parser.add_argument("--config")
    parser.add_argument("--catalog")
    parser.add_argument("--state")
    args = parser.parse_args(argv)
    try:
        asyncio.run(run(args.role, args.type, args.verb, args))
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:
        print(
            f"{args.role} {args.type} {args.verb} failed: {type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
