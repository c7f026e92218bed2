"""Connectors that run as subprocesses speaking the connector CLI over NDJSON.

``<command> spec|check|discover|read|write|setup|teardown --config FILE [--catalog FILE]
[--state FILE]``: config, catalog and state go in files readable only by their owner (never on the
command line), messages flow as NDJSON on stdin/stdout with back-pressure, stderr is kept for the
error message, and cancelling a call kills the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import subprocess
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson

from stripe_sync.protocol.connector import Config, Message
from stripe_sync.protocol.errors import SyncError
from stripe_sync.protocol.messages import ConnectorSpec, ProtocolError, validate_payload
from stripe_sync.protocol.ndjson import decode_line, encode

LINE_LIMIT = 256 * 1024 * 1024
STDERR_TAIL_LINES = 20


class ConnectorCrashed(SyncError):
    """An exec connector exited with a non-zero code or could not be started."""

    failure_type = "system_error"


@contextlib.contextmanager
def _private_files(**contents: Any) -> Iterator[list[str]]:
    """Write each non-None value to a 0600 JSON file; yield the CLI flags naming them."""
    directory = tempfile.mkdtemp(prefix="stripe-sync-")
    flags: list[str] = []
    try:
        for name, value in contents.items():
            if value is None:
                continue
            path = Path(directory) / f"{name}.json"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(orjson.dumps(value))
            flags += [f"--{name}", str(path)]
        yield flags
    finally:
        for file in Path(directory).iterdir():
            file.unlink(missing_ok=True)
        os.rmdir(directory)


_SPECS: dict[tuple[str, ...], dict[str, Any]] = {}
"""Specs by command line: a connector is asked once per process (the service validates and
redacts configs on every request)."""
SPEC_TIMEOUT_S = 60.0


class _ExecConnector:
    def __init__(self, command: str) -> None:
        self.argv = shlex.split(command)

    def spec(self) -> dict[str, Any]:
        """The spec; a blocking call the first time, unless ``load_spec`` fetched it already."""
        key = tuple(self.argv)
        if key not in _SPECS:
            try:
                done = subprocess.run(
                    [*self.argv, "spec"], capture_output=True, timeout=SPEC_TIMEOUT_S
                )
            except OSError as exc:
                raise ConnectorCrashed(f"cannot start {self.argv[0]}: {exc.strerror}") from None
            except subprocess.TimeoutExpired:
                raise ConnectorCrashed(self._spec_timed_out()) from None
            if done.returncode != 0:
                raise ConnectorCrashed(_crash_message(self.argv, done.returncode, done.stderr))
            messages = [
                m
                for i, line in enumerate(done.stdout.splitlines(), 1)
                if (m := decode_line(line, i)) is not None
            ]
            _SPECS[key] = self._checked_spec(messages)
        return _SPECS[key]

    async def load_spec(self) -> dict[str, Any]:
        """The spec, asked without blocking the event loop (the engine calls it before ``spec``)."""
        key = tuple(self.argv)
        if key not in _SPECS:
            try:
                async with asyncio.timeout(SPEC_TIMEOUT_S):
                    messages = [m async for m in self._run("spec")]
            except TimeoutError:
                raise ConnectorCrashed(self._spec_timed_out()) from None
            _SPECS[key] = self._checked_spec(messages)
        return _SPECS[key]

    def _checked_spec(self, messages: list[Message]) -> dict[str, Any]:
        spec = _single(messages, "spec")
        try:
            validate_payload(ConnectorSpec, spec, "spec")
        except ProtocolError as exc:
            raise ProtocolError(f"{self.argv[0]}: invalid spec: {exc}") from None
        return spec

    def _spec_timed_out(self) -> str:
        return f"{Path(self.argv[0]).name} spec gave no answer in {SPEC_TIMEOUT_S:.0f} s"

    async def check(self, config: Config) -> dict[str, Any]:
        return _single([m async for m in self._run("check", config=config)], "connection_status")

    async def setup(self, config: Config, catalog: dict[str, Any]) -> None:
        async for _ in self._run("setup", config=config, catalog=catalog):
            pass

    async def teardown(self, config: Config, catalog: dict[str, Any]) -> None:
        async for _ in self._run("teardown", config=config, catalog=catalog):
            pass

    async def _run(
        self,
        verb: str,
        *,
        stdin: AsyncIterator[Message] | None = None,
        **files: Any,
    ) -> AsyncIterator[Message]:
        with _private_files(**files) as flags:
            try:
                process = await asyncio.create_subprocess_exec(
                    *self.argv,
                    verb,
                    *flags,
                    stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    limit=LINE_LIMIT,
                )
            except OSError as exc:
                raise ConnectorCrashed(f"cannot start {self.argv[0]}: {exc.strerror}") from None
            assert process.stdout is not None and process.stderr is not None
            stderr_tail: deque[bytes] = deque(maxlen=STDERR_TAIL_LINES)
            tasks = [asyncio.create_task(_collect(process.stderr, stderr_tail))]
            if stdin is not None:
                tasks.append(asyncio.create_task(_feed(process, stdin)))
            try:
                number = 0
                while line := await process.stdout.readline():
                    number += 1
                    message = decode_line(line, number)
                    if message is not None:
                        yield message
                code = await process.wait()
                await asyncio.gather(*tasks)
                if code != 0:
                    raise ConnectorCrashed(_crash_message(self.argv, code, b"".join(stderr_tail)))
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)


async def _collect(stream: asyncio.StreamReader, tail: deque[bytes]) -> None:
    while line := await stream.readline():
        tail.append(line)


async def _feed(process: asyncio.subprocess.Process, messages: AsyncIterator[Message]) -> None:
    assert process.stdin is not None
    try:
        async for message in messages:
            process.stdin.write(encode(message))
            await process.stdin.drain()
        process.stdin.close()
    except (BrokenPipeError, ConnectionResetError):
        pass


def _crash_message(argv: list[str], code: int, stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    detail = lines[-1] if lines else "no output on stderr"
    return f"{Path(argv[0]).name} exited with code {code}: {detail}"


def _single(messages: list[Message], kind: str) -> dict[str, Any]:
    for message in messages:
        if message.get("type") == kind:
            payload: dict[str, Any] = message[kind]
            return payload
    raise ConnectorCrashed(f"connector printed no '{kind}' message")


class ExecSource(_ExecConnector):
    """A source run as ``<command> <verb> …``."""

    async def discover(self, config: Config) -> dict[str, Any]:
        return _single([m async for m in self._run("discover", config=config)], "catalog")

    async def read(
        self,
        config: Config,
        catalog: dict[str, Any],
        state: dict[str, Any],
        input: AsyncIterator[dict[str, Any]] | None = None,
    ) -> AsyncIterator[Message]:
        async for message in self._run(
            "read", config=config, catalog=catalog, state=state, stdin=input
        ):
            yield message


class ExecDestination(_ExecConnector):
    """A destination run as ``<command> write …`` fed with NDJSON on stdin."""

    def write(
        self,
        config: Config,
        catalog: dict[str, Any],
        messages: AsyncIterator[Message],
    ) -> AsyncIterator[Message]:
        return self._run("write", config=config, catalog=catalog, stdin=messages)
