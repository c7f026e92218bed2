"""`stripe-sync metrics`: MRR, its movements, subscribers and churn by month, from the database.

A table on stdout, or one JSON object per month and currency with ``--json``. The definitions are
``stripe_sync.metrics``'s (``docs/metrics.md``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated

import orjson
import typer

from stripe_sync.cli.sync_command import Schema, To
from stripe_sync.metrics import MonthMetrics, monthly_metrics

COLUMNS = (
    ("month", "month"),
    ("currency", "cur"),
    ("mrr", "MRR"),
    ("subscribers", "subs"),
    ("new", "new"),
    ("expansion", "expansion"),
    ("contraction", "contraction"),
    ("churn", "churn"),
    ("reactivation", "reactivation"),
    ("logo_churn", "logo churn"),
    ("revenue_churn", "revenue churn"),
)
MONEY = frozenset({"mrr", "new", "expansion", "contraction", "churn", "reactivation"})
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
"""Currencies whose minor unit is the major one (Stripe's zero-decimal currencies)."""


def metrics_command(
    to: To = "sqlite:///stripe.db",
    schema: Schema = None,
    months: Annotated[
        int, typer.Option("--months", min=1, metavar="N", help="months shown, the current last")
    ] = 12,
    currency: Annotated[
        str | None,
        typer.Option("--currency", metavar="CODE", help="only this currency (default: each)"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON object per month and currency (NDJSON)")
    ] = False,
) -> None:
    """Monthly recurring revenue and its movements (new, expansion, churn, ...) by month."""
    rows = monthly_metrics(to, months=months, currency=currency, schema=schema or "stripe")
    if as_json:
        out = sys.stdout.buffer
        for row in rows:
            out.write(orjson.dumps(row.as_dict()) + b"\n")
        out.flush()
        return
    if not rows:
        print("no subscriptions in the database", file=sys.stderr)
        return
    for line in table_lines(rows):
        print(line)


def table_lines(rows: Sequence[MonthMetrics]) -> list[str]:
    """The rows as aligned text: amounts in the currency's major unit, rates in percent."""
    cells = [[title for _, title in COLUMNS]]
    for row in rows:
        values = row.as_dict()
        divisor = 1 if row.currency in ZERO_DECIMAL else 100
        cells.append([_cell(name, values[name], divisor) for name, _ in COLUMNS])
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    return [
        "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in cells
    ]


def _cell(name: str, value: object, divisor: int) -> str:
    if name in MONEY and isinstance(value, int):
        return f"{value / divisor:,.{2 if divisor > 1 else 0}f}"
    if name.endswith("churn") and name not in MONEY:
        return "-" if value is None else f"{float(value) * 100:.1f}%"  # type: ignore[arg-type]
    return str(value)
