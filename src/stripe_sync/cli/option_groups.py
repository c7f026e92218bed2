"""Options several commands share, declared once as a group.

Typer reads a command's options from its signature, so a group of flags would be repeated in
every command that takes them. :func:`option_group` adds a group's flags to a command's
signature instead, and hands the command one frozen object holding their values (its parameter
named after the group). :class:`TemporalFlags` is the group of the commands that reach Temporal,
:class:`CallLimits` that of the commands that run a worker.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from stripe_sync.service.activities import ActivitySettings
    from stripe_sync.service.connector_policy import ConnectorPolicy
    from stripe_sync.service.temporal_connection import TemporalSettings


def option_group(
    name: str, group: Callable[..., Any], options: list[inspect.Parameter]
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Decorate a command whose parameter ``name`` takes a ``group(**values)`` of ``options``."""
    names = [option.name for option in options]

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        own = [parameter for parameter in signature.parameters.values() if parameter.name != name]

        @functools.wraps(command)
        def with_group(**values: Any) -> None:
            grouped = group(**{key: values.pop(key) for key in names})
            command(**values, **{name: grouped})

        shown = signature.replace(parameters=[*own, *options])
        with_group.__signature__ = shown  # type: ignore[attr-defined]
        with_group.__annotations__ = {p.name: p.annotation for p in shown.parameters.values()}
        return with_group

    return decorate


@dataclass(frozen=True)
class TemporalFlags:
    """How to reach the Temporal cluster: ``--temporal-address`` … ``--task-queue``."""

    temporal_address: str
    namespace: str
    tls: bool
    tls_ca: Path | None
    tls_cert: Path | None
    tls_key: Path | None
    temporal_api_key: str | None
    task_queue: str

    def settings(self) -> TemporalSettings:
        """The connection settings (importing the service modules only now)."""
        from stripe_sync.service.temporal_connection import TemporalSettings

        return TemporalSettings(
            self.temporal_address,
            self.namespace,
            self.tls,
            self.tls_ca,
            self.tls_cert,
            self.tls_key,
            self.temporal_api_key,
        )


def _option(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


TEMPORAL_OPTIONS = [
    _option(
        "temporal_address",
        Annotated[
            str, typer.Option("--temporal-address", envvar="TEMPORAL_ADDRESS", help="HOST:PORT")
        ],
        "127.0.0.1:7233",
    ),
    _option(
        "namespace",
        Annotated[
            str, typer.Option("--namespace", envvar="TEMPORAL_NAMESPACE", help="Temporal namespace")
        ],
        "default",
    ),
    _option(
        "tls", Annotated[bool, typer.Option("--tls", help="connect with TLS (system roots)")], False
    ),
    _option(
        "tls_ca",
        Annotated[
            Path | None,
            typer.Option("--tls-ca", exists=True, dir_okay=False, help="CA certificate (PEM)"),
        ],
        None,
    ),
    _option(
        "tls_cert",
        Annotated[
            Path | None,
            typer.Option("--tls-cert", exists=True, dir_okay=False, help="client cert (PEM)"),
        ],
        None,
    ),
    _option(
        "tls_key",
        Annotated[
            Path | None,
            typer.Option("--tls-key", exists=True, dir_okay=False, help="client key (PEM)"),
        ],
        None,
    ),
    _option(
        "temporal_api_key",
        Annotated[
            str | None,
            typer.Option(
                "--temporal-api-key",
                envvar="TEMPORAL_API_KEY",
                help="Temporal Cloud API key (default: none)",
                show_default=False,
            ),
        ],
        None,
    ),
    _option(
        "task_queue",
        Annotated[str, typer.Option("--task-queue", help="Temporal task queue")],
        "stripe-sync",
    ),
]
temporal_options = option_group("temporal", TemporalFlags, TEMPORAL_OPTIONS)
"""Adds the Temporal flags to a command; it takes them as ``temporal: TemporalFlags``."""


@dataclass(frozen=True)
class CallLimits:
    """How long a worker's calls run: ``--backfill-time-limit`` and ``--live-time-limit``."""

    backfill_time_limit: float
    live_time_limit: float

    def activity_settings(self, connectors: ConnectorPolicy) -> ActivitySettings:
        """The worker's activity settings (importing the service modules only now)."""
        from stripe_sync.service.activities import ActivitySettings

        return ActivitySettings(
            backfill_time_limit=self.backfill_time_limit,
            live_time_limit=self.live_time_limit,
            connectors=connectors,
        )


call_limits = option_group(
    "limits",
    CallLimits,
    [
        _option(
            "backfill_time_limit",
            Annotated[
                float,
                typer.Option("--backfill-time-limit", min=1, help="seconds per backfill call"),
            ],
            300.0,
        ),
        _option(
            "live_time_limit",
            Annotated[
                float, typer.Option("--live-time-limit", min=1, help="seconds per live call")
            ],
            60.0,
        ),
    ],
)
"""Adds the call time limits to a command; it takes them as ``limits: CallLimits``."""
