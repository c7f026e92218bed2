"""Sync runs: which run a call belongs to, the time ranges it injects, and the SyncState it leaves.

A run freezes ``started_at`` when it begins; continuing it keeps that bound, so a backfill never
chases a moving target. Terminal statuses, range completions and source states are applied here;
the fence that delays them until the destination confirmed the records lives in ``sync``.
"""

from __future__ import annotations

import uuid
from typing import Any

from stripe_sync.protocol.ranges import merge_ranges


def stream_key(stream: str, account: str | None = None) -> str:
    """Progress and state key of a stream: ``"<account>/<stream>"`` when an account is named."""
    return f"{account}/{stream}" if account else stream


class SyncRun:
    """The engine section of a SyncState for one call, plus the source section it advances."""

    def __init__(self, state: dict[str, Any], selected: list[str]) -> None:
        self.state = state
        self.selected = selected
        self.engine: dict[str, Any] = state["engine"]
        self.engine.setdefault("terminal_streams", {})
        self.engine.setdefault("streams", {})
        self.engine.setdefault("lifetime", {})
        self.is_new = False

    @classmethod
    def begin(
        cls,
        state: dict[str, Any],
        *,
        pipeline: str,
        selected: list[str],
        now: str,
        sync_run_id: str | None,
        fresh: bool,
        live: bool,
    ) -> SyncRun:
        """Continue the run in ``state`` when it has more to do (or is named), else start one."""
        run = cls(state, selected)
        engine = run.engine
        engine["pipeline"] = pipeline
        current = engine.get("sync_run_id")
        if fresh:
            state["source"] = {"streams": {}, "global": {}}
            engine["streams"] = {}
            run._start(sync_run_id, now)
        elif sync_run_id is not None:
            if sync_run_id != current:
                run._start(sync_run_id, now)
        elif current is None or not (run.has_more or live):
            run._start(None, now)
        engine["mode"] = "live" if live and not run.has_more else "backfill"
        return run

    def _start(self, sync_run_id: str | None, now: str) -> None:
        self.engine["sync_run_id"] = sync_run_id or str(uuid.uuid4())
        self.engine["started_at"] = now
        self.engine["terminal_streams"] = {}
        self.engine["run_progress"] = None
        self.is_new = True

    @property
    def started_at(self) -> str:
        value: str = self.engine["started_at"]
        return value

    @property
    def terminal(self) -> dict[str, str]:
        value: dict[str, str] = self.engine["terminal_streams"]
        return value

    @property
    def has_more(self) -> bool:
        return any(name not in self.terminal for name in self.selected)

    def pending_streams(self) -> list[str]:
        return [name for name in self.selected if name not in self.terminal]

    def time_range(self, stream: str) -> dict[str, Any]:
        """``{gte?, lt: started_at}``; ``gte`` is the start of the last run that completed it."""
        value = {"lt": self.started_at}
        previous = (self.engine["streams"].get(stream) or {}).get("last_completed_run_started_at")
        if previous is not None and previous < self.started_at:
            value = {"gte": previous, **value}
        return value

    def confirm_state(self, payload: dict[str, Any]) -> None:
        """Advance the source section with a destination-confirmed state."""
        source = self.state["source"]
        if payload.get("state_type", "stream") == "global":
            source["global"] = payload.get("data")
        else:
            source["streams"][stream_key(payload["stream"], payload.get("account"))] = payload.get(
                "data"
            )

    def complete_range(self, key: str, value: dict[str, Any]) -> None:
        history = self.engine["streams"].setdefault(key, {})
        history["completed_ranges"] = merge_ranges([*history.get("completed_ranges", []), value])

    def finish_stream(self, key: str, status: str) -> None:
        """Record a terminal status; ``complete`` also moves the stream's incremental bound."""
        self.terminal[key] = status
        if status == "complete":
            history = self.engine["streams"].setdefault(key, {})
            history["last_completed_run_started_at"] = self.started_at

    def reset_stream(self, key: str, now: str) -> None:
        """Forget a stream's completion history and the source's saved backfill of it, so that it
        is backfilled again from the beginning.

        A stream still backfilling in this call starts over in it. One that already finished in
        this run is pending again; in the live phase (every stream finished, nothing in flight) a
        new run starts instead, so that the re-backfill reaches up to now rather than to the old
        run's ``started_at`` (the other streams continue incrementally in that run).
        """
        self.engine["streams"].pop(key, None)
        self.state["source"]["streams"].pop(key, None)
        if key not in self.terminal:
            return
        if self.engine.get("mode") == "live":
            self._start(None, now)
        else:
            del self.terminal[key]

    def save_progress(self, run_progress: dict[str, Any], lifetime: dict[str, Any]) -> None:
        self.engine["run_progress"] = run_progress
        self.engine["lifetime"] = lifetime
