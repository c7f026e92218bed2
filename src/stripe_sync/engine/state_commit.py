"""Saving a pipeline's SyncState in the destination transaction that commits the data it covers.

When the engine's state store is the destination's own ``_sync_state`` table, the engine hands the
destination a ``StateCommit``: the pipeline's name and a function giving the SyncState as it will
be once some source states are confirmed. The destination writes that SyncState in the transaction
of the batch that makes those states durable, so whenever the process dies the saved state matches
the committed data and a resume fetches again only the pages that were in flight. The engine then
saves the state itself only at the end of the call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stripe_sync.protocol.batching import writes_in_batches


@dataclass(frozen=True)
class StateCommit:
    """What a destination needs to save the SyncState with its data."""

    pipeline: str
    state_after: Callable[[list[dict[str, Any]]], dict[str, Any]]
    """The SyncState with these ``source_state`` payloads applied in order (states whose records
    are durable, including some the fence still holds back behind a waiting global state)."""


def destination_saves_state(destination: Any, config: dict[str, Any], store: Any) -> bool:
    """True when ``store`` is the destination's own state table and its batched ``write`` saves
    the state with the data (``saves_state_with_data(config, store)``)."""
    saves = getattr(destination, "saves_state_with_data", None)
    if store is None or saves is None or not writes_in_batches(destination):
        return False
    return bool(saves(config, store))
