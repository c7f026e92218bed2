"""Catalog selection: the configured catalog a call hands to both connectors."""

from __future__ import annotations

from typing import Any

from stripe_sync.engine.sync_run import SyncRun
from stripe_sync.protocol.errors import ConfigError


def select_streams(discovered: dict[str, Any], names: list[str] | None) -> list[dict[str, Any]]:
    """The discovered streams the pipeline selects, in its order; when ``names`` is None, every
    stream the source does not mark ``metadata.default_selected: false`` (costly ones)."""
    by_name = {stream["name"]: stream for stream in discovered.get("streams", [])}
    if names is None:
        return [
            stream
            for stream in by_name.values()
            if (stream.get("metadata") or {}).get("default_selected", True) is not False
        ]
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ConfigError(f"unknown stream(s): {', '.join(unknown)}")
    return [by_name[name] for name in dict.fromkeys(names)]


def configure_catalog(
    streams: list[dict[str, Any]],
    run: SyncRun,
    *,
    live: bool = False,
    backfill_limit: int | None = None,
) -> dict[str, Any]:
    """Configured catalog for one phase of a call.

    Backfill: the streams without a terminal status, time-range streams bounded by the run.
    Live: every selected stream, flagged ``live`` so the source only applies changes.
    Per account (``run.per_account``): every stream, plus ``terminal_streams`` (the account-streams
    the source skips) and each stream's ``account_time_ranges`` (an account's incremental range,
    where it differs from the stream's ``time_range``).
    """
    if live:
        return {"streams": [dict(stream) for stream in streams], "live": True}
    pending = set(run.pending_streams())
    configured = []
    for stream in streams:
        if stream["name"] not in pending:
            continue
        entry = dict(stream)
        if stream.get("supports_time_range"):
            entry["time_range"] = run.time_range(stream["name"])
            if run.per_account:
                entry["account_time_ranges"] = _account_time_ranges(run, stream["name"])
        if backfill_limit is not None:
            entry["backfill_limit"] = backfill_limit
        configured.append(entry)
    if run.per_account:
        return {"streams": configured, "terminal_streams": dict(run.terminal)}
    return {"streams": configured}


def _account_time_ranges(run: SyncRun, stream: str) -> dict[str, dict[str, Any]]:
    """``{account: range}`` for the accounts whose ``stream`` completed in an earlier run."""
    ranges = {}
    for key in run.engine["streams"]:
        account, _, name = key.rpartition("/")
        if account and name == stream:
            window = run.time_range(key)
            if "gte" in window:
                ranges[account] = window
    return ranges
