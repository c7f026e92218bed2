"""How a finished call maps to the CLI contract's exit codes."""

from __future__ import annotations

from typing import Any

from stripe_sync.cli import exit_codes


def exit_code_for_end(end: dict[str, Any]) -> int:
    """0 done, 5 errors (global or a failed stream), 4 aborted, 3 stopped by a limit with more to do."""
    if end["reason"] == "error":
        return exit_codes.FINISHED_WITH_ERRORS
    streams = (end.get("run_progress") or {}).get("streams") or {}
    if any(entry.get("status") == "failed" for entry in streams.values()):
        return exit_codes.FINISHED_WITH_ERRORS
    if end["reason"] == "aborted":
        return exit_codes.ABORTED
    if end["has_more"]:
        return exit_codes.LIMIT_REACHED
    return exit_codes.DONE
