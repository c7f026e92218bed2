"""The state fence: holds each ``source_state`` until the records before it are durable.

Records are counted per stream as they arrive (``received``) and as their batches commit
(``durable``). A stream state waits for its stream's records that came before it; a global state
waits for every stream's. States leave in arrival order, unchanged. A state that waits on a failed
stream can never be confirmed in this run and is dropped (the engine re-reads from the last
confirmed state next time), so it does not hold back the states after it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

Message = dict[str, Any]


class StateFence:
    """Pending states with what each waits for: ``{stream: records that must be durable}``."""

    def __init__(self) -> None:
        self._pending: deque[tuple[Message, dict[str, int]]] = deque()

    def __len__(self) -> int:
        return len(self._pending)

    def hold(
        self, message: Message, received: Mapping[str, int], durable: Mapping[str, int]
    ) -> None:
        """Queue a state behind the records received so far that are not durable yet."""
        payload = message.get("source_state") or {}
        if payload.get("state_type", "stream") == "global":
            streams = list(received)
        else:
            stream = payload.get("stream")
            streams = [stream] if isinstance(stream, str) and stream in received else []
        waits = {s: received[s] for s in streams if received[s] > durable.get(s, 0)}
        self._pending.append((message, waits))

    def release(self, durable: Mapping[str, int], failed: set[str]) -> list[Message]:
        """Pop the states, in order, whose records are all durable; drop ones behind a failure."""
        taken, released = self._scan(durable, failed)
        for _ in range(taken):
            self._pending.popleft()
        return released

    def releasable(self, durable: Mapping[str, int], failed: set[str]) -> list[Message]:
        """The states ``release`` would return with these counts, left in place (what a batch
        about to commit will confirm)."""
        return self._scan(durable, failed)[1]

    def covered(self, durable: Mapping[str, int], failed: set[str]) -> list[Message]:
        """Every pending state whose records are all durable, in arrival order, including those
        still queued behind a state that waits (a global one, usually). A saved SyncState may
        include them: each stream's entry then covers only that stream's durable records."""
        return [
            message
            for message, waits in self._pending
            if not any(stream in failed for stream in waits)
            and all(durable.get(stream, 0) >= count for stream, count in waits.items())
        ]

    def _scan(self, durable: Mapping[str, int], failed: set[str]) -> tuple[int, list[Message]]:
        """(pending entries to take, states among them to release)."""
        released: list[Message] = []
        taken = 0
        for message, waits in self._pending:
            behind_failure = any(stream in failed for stream in waits)
            if not behind_failure and any(durable.get(s, 0) < n for s, n in waits.items()):
                break
            taken += 1
            if not behind_failure:
                released.append(message)
        return taken, released
