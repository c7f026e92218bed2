"""Which connectors a server may run: the operator's choice, made when the server starts.

The connector types installed as entry points (``stripe_sync.sources``/``.destinations``) are
always allowed. ``exec`` commands and dotted ``module:Class`` types run code a request names, so
a server (``serve-engine``, the service's API and workers) takes them only when the operator
listed them with ``--allow-connector`` (the exact command line, or the ``module:Class``). A
refused connector is a ConfigError (a 400 in the APIs, ``error`` for a stored pipeline).

The service's API process never loads an external (listed) connector: it cannot know its spec,
so it checks the listing, shows every config value of it redacted, and leaves validating its
config and streams to the worker that sets the pipeline up. :func:`prepare` is the worker's and
``serve-engine``'s side: the listing checked, then each side's ``spec()`` asked in a thread, so
an exec connector's blocking ``spec`` call (cached per command) never holds the event loop.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from stripe_sync.engine.pipeline import ConnectorRef, Pipeline
from stripe_sync.engine.registry import Role, connector_types, load_connector
from stripe_sync.protocol.errors import ConfigError

SIDES: tuple[Role, Role] = ("source", "destination")


def _command_key(command: str) -> str:
    """One spelling of a command line (quoting and spacing normalised)."""
    try:
        return shlex.join(shlex.split(command))
    except ValueError:
        return command.strip()


@dataclass(frozen=True)
class ConnectorPolicy:
    """Installed connector types, plus the exec commands and dotted types in ``allowed``."""

    allowed: frozenset[str] = frozenset()

    @classmethod
    def allowing(cls, entries: Iterable[str]) -> ConnectorPolicy:
        """The policy for ``--allow-connector`` values (commands or ``module:Class`` types)."""
        keys = set()
        for entry in entries:
            if not entry.strip():
                raise ConfigError("--allow-connector needs a command or a module:Class type")
            keys.add(_command_key(entry))
        return cls(frozenset(keys))

    @staticmethod
    def installed(role: Role, ref: ConnectorRef) -> bool:
        return ref.type in connector_types(role)

    def check(self, role: Role, ref: ConnectorRef) -> None:
        """ConfigError unless this connector is installed or listed by the operator."""
        if self.installed(role, ref):
            return
        if ref.type == "exec":
            if _command_key(ref.command or "") in self.allowed:
                return
            raise ConfigError(
                f"{role} exec command not allowed: this server runs only the commands its "
                "operator listed with --allow-connector"
            )
        if ":" in ref.type:
            if ref.type in self.allowed:
                return
            raise ConfigError(
                f"{role} type '{ref.type}' not allowed: this server loads only the module:Class "
                "types its operator listed with --allow-connector"
            )
        known = ", ".join(connector_types(role))
        raise ConfigError(f"unknown {role} type '{ref.type}' (known: {known})")

    def check_pipeline(self, pipeline: Pipeline) -> None:
        for role in SIDES:
            self.check(role, getattr(pipeline, role))

    async def prepare(self, pipeline: Pipeline) -> None:
        """Check both sides, then ask their specs in a thread (see the module docstring)."""
        self.check_pipeline(pipeline)

        def specs() -> None:
            for role in SIDES:
                load_connector(role, getattr(pipeline, role)).spec()

        await asyncio.to_thread(specs)
