"""The display reducer: folds protocol messages into what a progress display shows.

``reduce(state, message)`` returns a new :class:`DisplayState` and never mutates its input, so
the CLI, the service and the dashboard can share one model and render it as they like.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

NOTES_KEPT = 5


@dataclass(frozen=True)
class DisplayState:
    streams: tuple[str, ...] = ()
    per_account: bool = False
    progress: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default=())
    note_count: int = 0

    @property
    def finished(self) -> bool:
        return self.end is not None

    def stream_keys(self) -> tuple[str, ...]:
        """The progress keys to show: the catalog's streams, or with connected accounts the
        ``"<account>/<stream>"`` keys progress has reported so far."""
        entries = (self.progress or {}).get("streams", {})
        if self.per_account or (self.progress or {}).get("accounts"):
            return tuple(entries)
        return self.streams or tuple(entries)

    def stream_status(self, name: str) -> str:
        entry = (self.progress or {}).get("streams", {}).get(name)
        return str(entry["status"]) if entry else "pending"

    def account_status(self, account: str) -> str:
        entry = ((self.progress or {}).get("accounts") or {}).get(account)
        return str(entry["status"]) if entry else "pending"


def reduce(state: DisplayState, message: dict[str, Any]) -> DisplayState:
    """The state after ``message``; messages a display does not use leave it unchanged."""
    kind = message.get("type")
    if kind == "catalog":  # a call begins (live mode runs one call after another)
        catalog = message["catalog"]
        names = tuple(stream["name"] for stream in catalog.get("streams", []))
        per_account = bool(catalog.get("per_account"))
        return replace(state, streams=names, per_account=per_account, end=None)
    if kind == "progress":
        return replace(state, progress=message["progress"])
    if kind == "end":
        end = message["end"]
        return replace(state, end=end, progress=end.get("run_progress") or state.progress)
    if kind == "log" and message["log"].get("level") in ("warn", "error"):
        note = f"{message['log']['level']}: {message['log']['message']}"
        notes = (*state.notes, note)[-NOTES_KEPT:]
        return replace(state, notes=notes, note_count=state.note_count + 1)
    return state
