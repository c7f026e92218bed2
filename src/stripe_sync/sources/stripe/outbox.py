"""Where a read's parts put their messages, and the view of it one connected account's events
lane gets. ``still_read`` tells a ``finally`` whether the output is still consumed.

``Outbox`` is what the parts need of the read's output queue. ``AccountOutbox`` wraps it for a
connected account of a multi-account read: every message about data gets the account's
``account``, log lines name it, and the lane's global state (its events cursor) is kept under the
account in the read's combined global state ``{"accounts": {account: {"events": …}}}``, which is
emitted whole each time one account's cursor moves (a global state replaces the previous one).
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

TAGGED = ("record", "stream_status", "source_stats", "error")


class Outbox(Protocol):
    async def put(self, item: Any) -> None: ...

    def put_nowait(self, item: Any) -> None: ...


class AccountOutbox:
    def __init__(self, out: Outbox, account: str, cursors: dict[str, Any]) -> None:
        self.out = out
        self.account = account
        self.cursors = cursors
        """account → its lane's global state; shared by every account of the read."""

    async def put(self, item: Any) -> None:
        await self.out.put(self._tag(item))

    def put_nowait(self, item: Any) -> None:
        self.out.put_nowait(self._tag(item))

    def _tag(self, item: Any) -> Any:
        if isinstance(item, list):
            return [self._tag(message) for message in item]
        kind = item["type"]
        payload = item[kind]
        if kind == "source_state":
            self.cursors[self.account] = payload["data"]
            combined = {"accounts": dict(self.cursors)}
            return {"type": kind, kind: {"state_type": "global", "data": combined}}
        if kind in TAGGED:
            payload["account"] = self.account
        elif kind == "log":
            payload["message"] = f"{self.account}: {payload['message']}"
        return item


def still_read() -> bool:
    """False once the running task was cancelled: the read's output is no longer consumed, so a
    ``finally`` must not wait to put into it (a full queue would never take the message)."""
    task = asyncio.current_task()
    return task is None or not task.cancelling()


def account_cursors(global_state: Any) -> dict[str, Any]:
    """The per-account lane states saved in a multi-account read's global state."""
    saved = global_state.get("accounts") if isinstance(global_state, dict) else None
    return dict(saved) if isinstance(saved, dict) else {}
