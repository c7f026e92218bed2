"""The display model of a pipeline for the API and its server-sent events.

Activities save, per pipeline, the latest ``catalog`` stream names, ``progress`` payload and ``end``
of the call in flight (see ``activities.RunRecorder``). This folds them with the display reducer
into the same view the CLI draws (``display.view.build_view``), as plain JSON, with the errors'
hints in the service's words (``hints``). While no worker answers, the figures are the last ones
a worker saved: ``without_worker`` marks them stale and drops what only a running call has (the
current rate, the ETA).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from stripe_sync.display.state import DisplayState, reduce
from stripe_sync.display.view import build_view
from stripe_sync.service.hints import reword_view


def display_model(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """The view of a stored progress document (None before the first call reported)."""
    if document is None:
        return None
    state = DisplayState()
    messages: list[dict[str, Any]] = [
        {"type": "catalog", "catalog": {"streams": [{"name": n} for n in document["catalog"]]}}
    ]
    if document.get("progress") is not None:
        messages.append({"type": "progress", "progress": document["progress"]})
    if document.get("end") is not None:
        end = {**document["end"], "run_progress": document.get("progress")}
        messages.append({"type": "end", "end": end})
    for message in messages:
        state = reduce(state, message)
    view = dataclasses.asdict(build_view(state))
    view["mode"] = document.get("mode")
    view["error"] = document.get("error")
    return reword_view(view)


def without_worker(view: dict[str, Any] | None) -> dict[str, Any] | None:
    """``view`` as of the last save of a worker that no longer answers: nothing runs now."""
    if view is None:
        return None
    rows = [{**row, "records_per_second": 0.0, "eta_seconds": None} for row in view["rows"]]
    return {
        **view,
        "window_records_per_second": 0.0,
        "eta_seconds": None,
        "rows": rows,
        "stale": True,
    }
