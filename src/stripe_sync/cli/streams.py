"""`stripe-sync streams`: the Stripe catalog as a table, or as a protocol `catalog` message when piped."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.table import Table

from stripe_sync.cli import exit_codes
from stripe_sync.protocol.errors import ConfigError
from stripe_sync.protocol.ndjson import encode
from stripe_sync.sources.stripe.catalog import StreamDef, StripeCatalog, load_catalog


def streams_command(
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec", help="derive the catalog from this OpenAPI spec (default: the packaged one)"
        ),
    ] = None,
    ndjson: Annotated[
        bool, typer.Option("--ndjson", help="print a `catalog` message even on a terminal")
    ] = False,
) -> None:
    """List the Stripe streams: time range support, parent stream and the events that change them."""
    try:
        catalog = load_catalog(spec)
    except ConfigError as exc:
        print(f"stripe-sync: {exc}", file=sys.stderr)
        raise typer.Exit(exit_codes.USAGE_ERROR) from None
    if ndjson or not sys.stdout.isatty():
        message = {"type": "catalog", "catalog": {"streams": catalog.protocol_streams()}}
        sys.stdout.buffer.write(encode(message))
        sys.stdout.flush()
    else:
        Console().print(render_catalog(catalog))


def render_catalog(catalog: StripeCatalog) -> Group:
    """The streams table followed by the table of excluded list endpoints."""
    streams = Table(
        title=f"Stripe streams (API {catalog.api_version})",
        caption=(
            f"{len(catalog.streams)} streams; ↻ = events about sub-objects refresh the record; "
            "streams marked 'not by default' are synced only when named (--streams)"
        ),
    )
    streams.add_column("stream", style="bold", no_wrap=True)
    streams.add_column("time range", justify="center")
    streams.add_column("parent", overflow="fold")
    streams.add_column("events", overflow="fold")
    streams.add_column("cost", overflow="fold")
    for entry in catalog.protocol_streams():
        stream = catalog.streams[entry["name"]]
        streams.add_row(
            stream.name,
            "yes" if stream.supports_time_range else "-",
            _parent(stream),
            _events(stream),
            _cost(entry["metadata"]),
        )
    excluded = Table(title=f"Excluded list endpoints ({len(catalog.excluded)})")
    excluded.add_column("path", no_wrap=True)
    excluded.add_column("reason")
    excluded.add_column("covered by")
    for exclusion in catalog.excluded:
        excluded.add_row(exclusion.path, exclusion.reason, exclusion.canonical_stream or "-")
    return Group(streams, excluded)


def _parent(stream: StreamDef) -> str:
    if stream.fan_out is None:
        return ""
    return f"{stream.fan_out.parent_stream} ({stream.fan_out.param}=)"


def _cost(metadata: dict[str, object]) -> str:
    cost = metadata.get("request_cost")
    if cost is None:
        return ""
    return str(cost) if metadata.get("default_selected") else f"{cost}; not by default"


def _events(stream: StreamDef) -> str:
    patterns = _event_patterns(stream.event_types)
    patterns += [f"↻ {pattern}" for pattern in _event_patterns(stream.sub_object_events)]
    return ", ".join(patterns)


def _event_patterns(event_types: Iterable[str]) -> list[str]:
    """Event types folded by prefix: ``customer.created, customer.updated`` → ``customer.*``."""
    by_prefix: dict[str, list[str]] = {}
    for event_type in sorted(event_types):
        by_prefix.setdefault(event_type.rpartition(".")[0], []).append(event_type)
    return [
        events[0] if len(events) == 1 else f"{prefix}.*" for prefix, events in by_prefix.items()
    ]
