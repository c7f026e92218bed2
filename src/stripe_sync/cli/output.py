"""Where a sync's output goes: NDJSON on stdout, the progress display on stderr.

stdout carries NDJSON when it is not a terminal, or always with ``--ndjson``; a terminal stdout with
the live display on gets none. stderr shows the rich live view when it is a terminal, otherwise
plain lines; ``--no-progress`` silences both. Logs of the run reach stderr through the display.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import ExitStack
from typing import Any

from stripe_sync.cli.outcome import failure_lines
from stripe_sync.display.plain import PlainDisplay
from stripe_sync.display.state import DisplayState, reduce
from stripe_sync.protocol.ndjson import encode


class OutputMode:
    """Decides the outputs from the flags and what stdout/stderr are attached to."""

    def __init__(self, *, progress: bool = True, plain: bool = False, ndjson: bool = False) -> None:
        stderr_tty = sys.stderr.isatty()
        self.live = progress and not plain and stderr_tty
        self.plain = progress and not self.live
        self.ndjson = ndjson or not sys.stdout.isatty() or not self.live


async def render_sync(
    messages: AsyncIterator[dict[str, Any]], mode: OutputMode, key_source: str | None = None
) -> dict[str, Any] | None:
    """Send ``messages`` to stdout and the display; return the ``end`` payload.

    Whatever the mode, a call that ended with an error or failed streams leaves its
    :func:`failure_lines` on stderr (``key_source``: where the API key came from).
    """
    state = DisplayState()
    end: dict[str, Any] | None = None
    out = sys.stdout.buffer
    with ExitStack() as stack:
        display: Any = None
        if mode.live:
            from rich.console import Console  # the live display only: not at start-up

            from stripe_sync.display.live import LiveDisplay

            display = stack.enter_context(LiveDisplay(Console(stderr=True)))
        elif mode.plain:
            display = PlainDisplay(sys.stderr)
        async for message in messages:
            if mode.ndjson:
                out.write(encode(message))
                if message["type"] != "progress":
                    out.flush()
            if display is not None:
                state = reduce(state, message)
                display.update(state)
            if message["type"] == "end":
                end = message["end"]
        out.flush()
    if end is not None:
        for line in failure_lines(end, key_source):
            print(line, file=sys.stderr)
    return end
