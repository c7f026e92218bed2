"""Where the engine keeps a pipeline's SyncState between calls: the StateStore interface,
a file store (atomic replace, mode 0600) and a memory store. Database stores live with their
destinations and implement the same interface."""

from __future__ import annotations

import asyncio
import copy
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import orjson

from stripe_sync.protocol.errors import ConfigError


@runtime_checkable
class StateStore(Protocol):
    """Loads and saves the whole SyncState of a pipeline, keyed by pipeline name (or id)."""

    async def load(self, pipeline: str) -> dict[str, Any] | None:
        """Return the saved state, or ``None`` when nothing was saved (or the store does not exist)."""
        ...

    async def save(self, pipeline: str, state: dict[str, Any]) -> None:
        """Replace the saved state atomically."""
        ...


class MemoryStateStore:
    """Keeps states in a dict; for tests and embedding."""

    def __init__(self) -> None:
        self.states: dict[str, dict[str, Any]] = {}

    async def load(self, pipeline: str) -> dict[str, Any] | None:
        state = self.states.get(pipeline)
        return copy.deepcopy(state) if state is not None else None

    async def save(self, pipeline: str, state: dict[str, Any]) -> None:
        self.states[pipeline] = copy.deepcopy(state)


class FileStateStore:
    """Keeps one pipeline's state in a JSON file, replaced atomically, readable only by its owner.

    The file holds the SyncState itself (what ``--state FILE`` reads), so the pipeline key is
    ignored: one file is one pipeline.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    async def load(self, pipeline: str) -> dict[str, Any] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"cannot read state file {self.path}: {exc.strerror}") from exc
        if not raw.strip():
            return None
        try:
            state = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"state file {self.path} is not valid JSON: {exc}") from exc
        if not isinstance(state, dict):
            raise ConfigError(f"state file {self.path} must hold a JSON object")
        return state

    async def save(self, pipeline: str, state: dict[str, Any]) -> None:
        await asyncio.to_thread(self._replace, orjson.dumps(state, option=orjson.OPT_INDENT_2))

    def _replace(self, content: bytes) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
