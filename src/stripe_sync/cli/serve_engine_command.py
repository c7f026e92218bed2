"""`stripe-sync serve-engine`: the engine HTTP API under uvicorn.

Prints ``listening http://HOST:PORT`` on stdout once requests are served (the real port when
``--port 0``). Ctrl-C aborts the syncs in flight, lets them end (their states are saved), then
stops. The access log names method, path and status only; request bodies are never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ipaddress
import socket
from typing import Annotated, Any

import typer
import uvicorn
from fastapi import FastAPI

from stripe_sync.protocol.errors import ConfigError
from stripe_sync.service.connector_policy import ConnectorPolicy
from stripe_sync.service.engine_api import RunningSyncs, create_engine_app

GRACEFUL_SHUTDOWN_S = 30


def log_config() -> dict[str, Any]:
    """uvicorn's logging with every line on stderr (stdout carries the address) and ours added."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    config["loggers"]["stripe_sync"] = {"handlers": ["default"], "level": "INFO"}
    return config


class EngineServer(uvicorn.Server):
    """A uvicorn server that announces its address and aborts running syncs on shutdown."""

    def __init__(self, app: FastAPI, address: str) -> None:
        super().__init__(
            uvicorn.Config(
                app,
                log_config=log_config(),
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
                server_header=False,
            )
        )
        self.running: RunningSyncs = app.state.running_syncs
        self.address = address

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(f"listening {self.address}", flush=True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.running.abort_all()
        await super().shutdown(sockets)


def url_for(host: str, port: int) -> str:
    try:
        is_ipv6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_ipv6 = False
    return f"http://[{host}]:{port}" if is_ipv6 else f"http://{host}:{port}"


def serve_engine_command(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="port to listen on (0: any free)")
    ] = 8000,
    api_token: Annotated[
        str | None,
        typer.Option(
            "--api-token",
            envvar="STRIPE_SYNC_ENGINE_TOKEN",
            help="require Authorization: Bearer TOKEN (default: no token)",
            show_default=False,
        ),
    ] = None,
    allow_connector: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-connector",
            help="an exec command line or module:Class type requests may name (repeatable; "
            "installed connector types are always allowed)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the engine HTTP API (POST /sync, /read, /write, /check, /discover, /setup, /teardown)."""
    try:
        policy = ConnectorPolicy.allowing(allow_connector or [])
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server((host, port), family=family)
    except OSError as exc:
        raise typer.BadParameter(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    if not api_token and not ipaddress.ip_address(sock.getsockname()[0]).is_loopback:
        sock.close()
        raise typer.BadParameter(
            f"--host {host} listens beyond this machine: set --api-token "
            "(or STRIPE_SYNC_ENGINE_TOKEN) so only its holders can run syncs"
        )
    app = create_engine_app(api_token or None, connectors=policy)
    server = EngineServer(app, url_for(host, sock.getsockname()[1]))
    # uvicorn raises the signal it stopped on again; Ctrl-C is how a server ends, so that is exit 0
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve(sockets=[sock]))
