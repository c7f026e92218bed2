"""Sync runs: which run a call belongs to, the time ranges it injects, and the SyncState it leaves.

A run freezes ``started_at`` when it begins; continuing it keeps that bound, so a backfill never
chases a moving target. Terminal statuses, range completions and source states are applied here;
the confirmation watermark that delays them until the destination confirmed the records lives in ``sync``.

A source that syncs several accounts says so in its catalog (``per_account``): its progress and
state keys are ``"<account>/<stream>"``, which the engine learns as the source starts them
(``engine.accounts.started``); such a run has more to do until a call read the source to its end
(``engine.accounts.listed``: every account listed, every account-stream started or finished) and
every started key is terminal. See docs/design.md, "Accounts".
"""

from __future__ import annotations

import uuid
from typing import Any

from stripe_sync.protocol.ranges import merge_ranges


def stream_key(stream: str, account: str | None = None) -> str:
    """Progress and state key of a stream: ``"<account>/<stream>"`` when an account is named."""
    return f"{account}/{stream}" if account else stream


def apply_source_state(source: dict[str, Any], payload: dict[str, Any]) -> None:
    """Put a ``source_state`` payload into a SyncState's source section."""
    if payload.get("state_type", "stream") == "global":
        source["global"] = payload.get("data")
    else:
        source["streams"][stream_key(payload["stream"], payload.get("account"))] = payload.get(
            "data"
        )


class SyncRun:
    """The engine section of a SyncState for one call, plus the source section it advances."""

    def __init__(
        self, state: dict[str, Any], selected: list[str], per_account: bool = False
    ) -> None:
        self.state = state
        self.selected = selected
        self.per_account = per_account
        self.engine: dict[str, Any] = state["engine"]
        self.engine.setdefault("terminal_streams", {})
        self.engine.setdefault("streams", {})
        self.engine.setdefault("lifetime", {})
        if per_account:
            self.engine.setdefault("accounts", {"listed": False, "started": []})
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
        per_account: bool = False,
    ) -> SyncRun:
        """Continue the run in ``state`` when it has more to do (or is named), else start one."""
        run = cls(state, selected, per_account)
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
        # a run after a completed one reads only what changed since (status names it incremental)
        self.engine["incremental"] = any(
            entry.get("last_completed_run_started_at")
            for entry in (self.engine.get("streams") or {}).values()
        )
        self.engine["terminal_streams"] = {}
        self.engine["run_progress"] = None
        if self.per_account:
            self.engine["accounts"] = {"listed": False, "started": []}
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
        if self.per_account:
            accounts = self.engine["accounts"]
            started = accounts["started"]
            return not accounts["listed"] or any(key not in self.terminal for key in started)
        return any(name not in self.terminal for name in self.selected)

    def pending_streams(self) -> list[str]:
        """Streams a backfill call configures; per account every one (the source skips the
        account-streams in ``terminal_streams``)."""
        if self.per_account:
            return list(self.selected)
        return [name for name in self.selected if name not in self.terminal]

    def progress_keys(self) -> list[str]:
        """The keys progress shows from the start of a call."""
        if self.per_account:
            return list(self.engine["accounts"]["started"])
        return list(self.selected)

    def account_stream_started(self, key: str) -> None:
        """A per-account key the source started: it now counts like a configured stream."""
        started: list[str] = self.engine["accounts"]["started"]
        if key not in started:
            started.append(key)

    def accounts_listed(self) -> None:
        """A call read a per-account source to its end: no account is left to be listed."""
        self.engine["accounts"]["listed"] = True

    def time_range(self, stream: str) -> dict[str, Any]:
        """``{gte?, lt: started_at}``; ``gte`` is the start of the last run that completed it."""
        value = {"lt": self.started_at}
        previous = (self.engine["streams"].get(stream) or {}).get("last_completed_run_started_at")
        if previous is not None and previous < self.started_at:
            value = {"gte": previous, **value}
        return value

    def confirm_state(self, payload: dict[str, Any]) -> None:
        """Advance the source section with a destination-confirmed state."""
        apply_source_state(self.state["source"], payload)

    def state_with(self, confirmed: list[dict[str, Any]]) -> dict[str, Any]:
        """The SyncState as it will be once ``confirmed`` states are applied (this run unchanged)."""
        source = self.state["source"]
        projected = {**source, "streams": dict(source["streams"])}
        for payload in confirmed:
            apply_source_state(projected, payload)
        return {**self.state, "source": projected}

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
