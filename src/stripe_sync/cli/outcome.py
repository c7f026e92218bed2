"""How a finished call maps to the CLI contract: its exit code and the lines it leaves on stderr."""

from __future__ import annotations

from typing import Any

from stripe_sync.cli import exit_codes
from stripe_sync.display.view import credentials_refused

MAX_FAILED_STREAM_LINES = 20
"""Failed streams named one per line; beyond this (many connected accounts) the rest are counted."""

INTERNAL_ERROR_HINT = (
    "a bug in stripe-sync: please report it with this message and the command you ran"
)
"""The hint of an error the engine marks ``internal`` (its own failure, exit 1)."""


def exit_code_for_end(end: dict[str, Any] | None) -> int:
    """The worst outcome wins: 2 a configuration error, 1 an internal error (also when the call
    never sent its ``end``), 5 other errors (global or a failed stream), 4 aborted, 3 stopped by a
    limit with more to do, else 0."""
    if end is None:
        return exit_codes.INTERNAL_ERROR
    if credentials_refused(end):
        return exit_codes.USAGE_ERROR
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


def failure_lines(end: dict[str, Any], key_source: str | None = None) -> list[str]:
    """``stripe-sync: …`` lines for stderr: the error that ended the call (the ``end``'s worst
    global error, with its hint; an internal one asks for a report) and one line per failed
    stream (name, failure type, message, hint).

    ``key_source`` says where the API key came from (``--api-key``, ``STRIPE_API_KEY``); a refused
    key's hint names it.
    """
    progress = end.get("run_progress") or {}
    lines = []
    if end["reason"] == "error":
        # the error that ended the call; an end without one (a stream the engine API broke off)
        # falls back to the last error recorded
        error = end.get("error") or next(reversed(progress.get("errors") or []), None)
        if error is not None:
            hint = error.get("hint")
            if error.get("http_status") == 401 and key_source:  # Stripe refused the key
                hint = f"Stripe refused the key given by {key_source}; check or replace it"
            if error.get("internal"):
                hint = INTERNAL_ERROR_HINT
            lines.append(f"stripe-sync: error: {error['message']}" + (f" ({hint})" if hint else ""))
    failed = [
        (name, entry)
        for name, entry in (progress.get("streams") or {}).items()
        if entry.get("status") == "failed"
    ]
    for name, entry in failed[:MAX_FAILED_STREAM_LINES]:
        errors = entry.get("errors") or []
        if errors:
            error = errors[-1]
            hint = f" (hint: {error['hint']})" if error.get("hint") else ""
            cause = f"{error['failure_type']}: {error['message']}{hint}"
        else:
            cause = str(entry.get("reason") or "no error recorded")
        lines.append(f"stripe-sync: stream {name} failed: {cause}")
    if len(failed) > MAX_FAILED_STREAM_LINES:
        lines.append(
            f"stripe-sync: {len(failed) - MAX_FAILED_STREAM_LINES} more streams failed "
            "(stripe-sync status lists them)"
        )
    return lines
