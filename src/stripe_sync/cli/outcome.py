"""How a finished call maps to the CLI contract's exit codes."""

from __future__ import annotations

from typing import Any

from stripe_sync.cli import exit_codes


def exit_code_for_end(end: dict[str, Any]) -> int:
    """The worst outcome wins: 2 a configuration error, 1 an internal error, 5 other errors (global
    or a failed stream), 4 aborted, 3 stopped by a limit with more to do, else 0."""
    if end["reason"] == "error":
        error = end.get("error") or {}
        if error.get("failure_type") == "config_error":
            return exit_codes.USAGE_ERROR
        if error.get("internal"):
            return exit_codes.INTERNAL_ERROR
        return exit_codes.FINISHED_WITH_ERRORS
    streams = (end.get("run_progress") or {}).get("streams") or {}
    if end.get("failed_streams") or any(
        entry.get("status") == "failed" for entry in streams.values()
    ):
        return exit_codes.FINISHED_WITH_ERRORS
    if end["reason"] == "aborted":
        return exit_codes.ABORTED
    if end["has_more"]:
        return exit_codes.LIMIT_REACHED
    return exit_codes.DONE
