"""The service HTTP API: pipelines in the store, run by Temporal workflows.

Every route but ``/health``, ``/openapi.json``, ``/webhooks/{id}`` and the dashboard's static
files (``/``, ``/assets/…``) needs ``Authorization: Bearer <token>``. Pipelines are validated
against their connectors' specs before they are stored; answers never carry a secret
(``pipeline_specs.redact``). Each answer about one pipeline has an ``ETag`` (its version);
``PATCH`` and ``DELETE`` honour ``If-Match`` (412 when the pipeline changed since). Commands reach
the pipeline's workflow as signals (signal-with-start, so a workflow that is not running is
started): a ``PlatformWorkflow`` for a platform pipeline (``platform.is_platform``), else a
``PipelineWorkflow``. Its status comes from the workflow's ``status`` query (a platform
pipeline's with its accounts'), its progress from what the activities saved in the store.
When no worker answers that query, the status is ``no_worker`` with the time a worker last
answered (``no_worker_since``) and the figures are marked stale (``progress_view.without_worker``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.client import Client, WorkflowQueryFailedError, WorkflowQueryRejectedError
from temporalio.service import RPCError, RPCStatusCode

from stripe_sync.metrics import monthly_metrics
from stripe_sync.protocol.errors import ConfigError
from stripe_sync.service.api_errors import install_error_answers
from stripe_sync.service.connector_policy import ConnectorPolicy
from stripe_sync.service.connectors_api import connectors_router
from stripe_sync.service.dashboard import mount_dashboard
from stripe_sync.service.engine_api import ErrorResponse, error_response
from stripe_sync.service.hints import reason_hint, with_service_hint
from stripe_sync.service.pipeline_specs import (
    ServicePipeline,
    apply_patch,
    redact,
    validate_spec,
)
from stripe_sync.service.platform import is_platform
from stripe_sync.service.platform_progress import combined_document
from stripe_sync.service.platform_workflow import PlatformWorkflow
from stripe_sync.service.progress_view import display_model, without_worker
from stripe_sync.service.store import (
    DesiredStatus,
    InboxFull,
    PipelineNotFound,
    PipelineStore,
    StoredPipeline,
    VersionConflict,
    utc_timestamp,
)
from stripe_sync.service.workflow_end import ended_status
from stripe_sync.service.workflow_types import (
    TASK_QUEUE,
    Carry,
    PipelineStatus,
    PipelineWorkflowInput,
    PlatformCarry,
    PlatformWorkflowInput,
    WebhookRef,
    workflow_id,
)
from stripe_sync.service.workflows import PipelineWorkflow
from stripe_sync.sources.stripe.webhook_signature import SIGNATURE_HEADER, SignatureError, verify

logger = logging.getLogger(__name__)

QUERY_TIMEOUT = timedelta(seconds=3)
NO_WORKER = "no_worker"
TIMED_OUT = (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)


def unanswered(exc: RPCError) -> bool:
    """The query timed out, or Temporal saw no worker polling the task queue lately."""
    no_poller = exc.status == RPCStatusCode.FAILED_PRECONDITION and "poller" in exc.message
    return exc.status in TIMED_OUT or no_poller


BearerCredentials = Annotated[
    HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))
]
SSE_POLL_S = 1.0
WEBHOOK_BODY_LIMIT = 512 * 1024
"""Stripe's events are a few KiB; a larger body is refused (413) before it is read whole."""
SSE_KEEPALIVE_S = 15.0


IfMatch = Annotated[str | None, Header()]
Signal = Callable[..., Any]
"""A :class:`PipelineWorkflow` signal method, sent by reference rather than by a typed name."""


def signal_name(signal: Signal) -> str:
    """The name a signal method is registered under (signal-with-start takes the name)."""
    return workflow._SignalDefinition.must_name_from_fn_or_str(signal)


class PipelinePatch(BaseModel):
    """Fields to change; config keys merge (``null`` removes one, the redaction mark keeps it)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1)
    source: dict[str, Any] | None = None
    destination: dict[str, Any] | None = None
    streams: list[str] | None = None
    backfill_limit: int | None = Field(default=None, ge=1)
    max_parallel_accounts: int | None = Field(default=None, ge=1)


class AccountView(BaseModel):
    status: str = Field(description="waiting (not started yet), or the status of its workflow")
    reason: str | None = Field(default=None, description="why the account is in `error`")


class PipelineView(BaseModel):
    id: str
    name: str
    source: dict[str, Any]
    destination: dict[str, Any]
    streams: list[str] | None = None
    backfill_limit: int | None = None
    max_parallel_accounts: int | None = None
    status: str = Field(
        description="setup, backfilling, live, paused, error, deleting, or no_worker when no "
        "worker answers"
    )
    reason: str | None = Field(default=None, description="why the pipeline is in `error`")
    hint: str | None = Field(default=None, description="what to do about `reason`")
    no_worker_since: str | None = Field(
        default=None, description="status no_worker: when a worker last answered for it"
    )
    desired_status: str
    stream_retry_at: str | None = Field(default=None, description="next retry of failed streams")
    version: int
    created_at: str
    updated_at: str
    progress: dict[str, Any] | None = Field(
        default=None, description="the latest progress payload (protocol.md, ProgressPayload)"
    )
    last_error: dict[str, Any] | None = Field(
        default=None, description="the global error of the latest call (retried when transient)"
    )
    accounts: dict[str, AccountView] | None = Field(
        default=None, description="a platform pipeline's connected accounts, in list order"
    )


class PipelineList(BaseModel):
    pipelines: list[PipelineView]


class RunList(BaseModel):
    runs: list[dict[str, Any]]


class MetricsView(BaseModel):
    metrics: list[dict[str, Any]] = Field(
        description="one row per month and currency, the oldest first (docs/metrics.md)"
    )


class Unauthorized(Exception):
    pass


class PreconditionFailed(Exception):
    pass


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "invalid request, pipeline or config"},
    401: {"model": ErrorResponse, "description": "missing or wrong bearer token"},
    404: {"model": ErrorResponse, "description": "no such pipeline"},
    412: {"model": ErrorResponse, "description": "If-Match does not match the pipeline's ETag"},
}


def etag(pipeline: StoredPipeline) -> str:
    return f'"{pipeline.version}"'


def expected_version(if_match: str | None) -> int | None:
    """The version an ``If-Match`` names (None: no condition); 412 when it cannot match."""
    if if_match is None or if_match.strip() == "*":
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise PreconditionFailed()
    return int(value)


class Service:
    """What the routes share: the store, the Temporal client and the task queue."""

    def __init__(self, store: PipelineStore, task_queue: str) -> None:
        self.store = store
        self.task_queue = task_queue
        self.client: Client | None = None
        self.started_at = utc_timestamp()
        self.answered_at: dict[str, str] = {}
        """When a worker last answered the status query of each pipeline (this process)."""

    @property
    def temporal(self) -> Client:
        assert self.client is not None, "the service API is not started"
        return self.client

    async def start(
        self, pipeline: StoredPipeline, signal: Signal | None = None, *args: Any
    ) -> None:
        """Signal the pipeline's workflow, starting it first when it is not running (a new one
        starts paused when the pipeline is). ``signal`` is a :class:`PipelineWorkflow` method; a
        :class:`PlatformWorkflow` takes the same signals under the same names."""
        paused = pipeline.desired_status == "paused"
        options: dict[str, Any] = {
            "id": workflow_id(pipeline.id),
            "task_queue": self.task_queue,
            "start_signal": None if signal is None else signal_name(signal),
            "start_signal_args": list(args),
        }
        if is_platform(pipeline.spec):
            platform = PlatformWorkflowInput(pipeline.id, PlatformCarry(paused=paused))
            await self.temporal.start_workflow(PlatformWorkflow.run, platform, **options)
        else:
            single = PipelineWorkflowInput(pipeline.id, Carry(paused=paused))
            await self.temporal.start_workflow(PipelineWorkflow.run, single, **options)

    async def status(self, pipeline: StoredPipeline) -> PipelineStatus:
        handle = self.temporal.get_workflow_handle(workflow_id(pipeline.id))
        ended = await ended_status(handle)
        if ended is not None:
            return ended
        try:
            status: PipelineStatus = await handle.query(
                PipelineWorkflow.status, rpc_timeout=QUERY_TIMEOUT
            )
            self.answered_at[pipeline.id] = utc_timestamp()
            return status
        except RPCError as exc:
            if unanswered(exc):
                return PipelineStatus(NO_WORKER, reason=None)
            logger.warning(
                "pipeline %s: status query failed: %s: %s",
                pipeline.id,
                exc.status.name,
                exc.message,
            )
        except (WorkflowQueryFailedError, WorkflowQueryRejectedError) as exc:
            logger.warning("pipeline %s: status query failed: %s", pipeline.id, type(exc).__name__)
        fallback = {"deleting": "deleting", "paused": "paused"}.get(pipeline.desired_status)
        return PipelineStatus(fallback or "setup", reason=None)

    def no_worker_since(self, pipeline_id: str, status: str) -> str | None:
        """When a worker last answered for the pipeline (at the latest: this process's start)."""
        if status != NO_WORKER:
            return None
        return self.answered_at.get(pipeline_id, self.started_at)

    async def progress_document(self, pipeline: StoredPipeline) -> dict[str, Any] | None:
        """The latest progress; a platform pipeline's folds its accounts' together."""
        if is_platform(pipeline.spec):
            return combined_document(await self.store.account_progress(pipeline.id))
        return await self.store.progress(pipeline.id)

    async def view(self, pipeline: StoredPipeline) -> PipelineView:
        status, document = await asyncio.gather(
            self.status(pipeline), self.progress_document(pipeline)
        )
        shown = redact(pipeline.spec)
        return PipelineView(
            id=pipeline.id,
            name=shown["name"],
            source=shown["source"],
            destination=shown["destination"],
            streams=shown.get("streams"),
            backfill_limit=shown.get("backfill_limit"),
            max_parallel_accounts=shown.get("max_parallel_accounts"),
            status=status.status,
            reason=status.reason,
            hint=reason_hint(status.reason),
            no_worker_since=self.no_worker_since(pipeline.id, status.status),
            desired_status=pipeline.desired_status,
            stream_retry_at=status.stream_retry_at,
            version=pipeline.version,
            created_at=pipeline.created_at,
            updated_at=pipeline.updated_at,
            progress=(document or {}).get("progress"),
            last_error=with_service_hint((document or {}).get("error")),
            accounts=None
            if status.accounts is None
            else {
                entry.account: AccountView(status=entry.status, reason=entry.reason)
                for entry in status.accounts
            },
        )

    async def command(
        self, pipeline_id: str, signal: Signal, desired: DesiredStatus | None, if_match: str | None
    ) -> StoredPipeline:
        stored = await self.store.get(pipeline_id)
        if desired is not None:
            version = expected_version(if_match)
            stored = await self.store.update(
                pipeline_id, expected_version=version, desired_status=desired
            )
        await self.start(stored, signal)
        return stored


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"][1:]) or "body"
        return error_response(400, "config_error", f"invalid request: {field}: {first['msg']}")

    @app.exception_handler(ConfigError)
    async def bad_input(request: Request, exc: ConfigError) -> JSONResponse:
        return error_response(400, "config_error", str(exc))

    @app.exception_handler(Unauthorized)
    async def unauthorized(request: Request, exc: Unauthorized) -> JSONResponse:
        return error_response(
            401,
            "auth_error",
            "missing or wrong bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(PipelineNotFound)
    async def not_found(request: Request, exc: PipelineNotFound) -> JSONResponse:
        return error_response(404, "config_error", f"no pipeline {exc.args[0]}")

    @app.exception_handler(VersionConflict)
    async def conflict(request: Request, exc: VersionConflict) -> JSONResponse:
        return error_response(412, "config_error", str(exc))

    @app.exception_handler(PreconditionFailed)
    async def precondition(request: Request, exc: PreconditionFailed) -> JSONResponse:
        return error_response(412, "config_error", "If-Match does not name a version")


def create_service_app(
    store: PipelineStore,
    connect: Callable[[], Awaitable[Client]],
    *,
    api_token: str,
    task_queue: str = TASK_QUEUE,
    connectors: ConnectorPolicy | None = None,
) -> FastAPI:
    """The service API; ``connect`` gives the Temporal client once the server's loop runs;
    ``connectors`` names the external connectors pipelines may use (default: installed only)."""
    service = Service(store, task_queue)
    policy = connectors or ConnectorPolicy()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.client = await connect()
        yield

    app = FastAPI(
        title="stripe-sync service",
        version="1",
        description="Pipelines run by Temporal workflows: create, watch, pause, resume, delete.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    _install_handlers(app)
    install_error_answers(app)
    expected = api_token.encode()

    async def authorized(credentials: BearerCredentials) -> None:
        given = credentials.credentials.encode() if credentials is not None else b""
        if not hmac.compare_digest(given, expected):
            raise Unauthorized()

    api = APIRouter(dependencies=[Depends(authorized)], responses=ERRORS)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/pipelines", status_code=201)
    async def create_pipeline(body: ServicePipeline, response: Response) -> PipelineView:
        spec = await validate_spec(body.model_dump(exclude_none=True), policy)
        stored = await store.create(spec)
        await service.start(stored)
        response.headers["ETag"] = etag(stored)
        response.headers["Location"] = f"/pipelines/{stored.id}"
        return await service.view(stored)

    @api.get("/pipelines")
    async def list_pipelines() -> PipelineList:
        stored = await store.all()
        return PipelineList(pipelines=list(await asyncio.gather(*map(service.view, stored))))

    @api.get("/pipelines/{pipeline_id}")
    async def get_pipeline(pipeline_id: str, response: Response) -> PipelineView:
        stored = await store.get(pipeline_id)
        response.headers["ETag"] = etag(stored)
        return await service.view(stored)

    @api.patch("/pipelines/{pipeline_id}")
    async def patch_pipeline(
        pipeline_id: str, body: PipelinePatch, response: Response, if_match: IfMatch = None
    ) -> PipelineView:
        version = expected_version(if_match)
        stored = await store.get(pipeline_id)
        if version is not None and version != stored.version:
            raise VersionConflict(stored.version)
        patch = body.model_dump(include=body.model_fields_set)
        spec = await validate_spec(apply_patch(stored.spec, patch), policy)
        stored = await store.update(pipeline_id, expected_version=stored.version, spec=spec)
        response.headers["ETag"] = etag(stored)
        return await service.view(stored)

    @api.delete("/pipelines/{pipeline_id}", status_code=202)
    async def delete_pipeline(
        pipeline_id: str, response: Response, if_match: IfMatch = None
    ) -> PipelineView:
        """Tear the destination's tables down and forget the pipeline (asynchronously)."""
        stored = await service.command(pipeline_id, PipelineWorkflow.delete, "deleting", if_match)
        response.headers["ETag"] = etag(stored)
        return await service.view(stored)

    @api.post("/pipelines/{pipeline_id}/pause", status_code=202)
    async def pause(pipeline_id: str, if_match: IfMatch = None) -> PipelineView:
        return await service.view(
            await service.command(pipeline_id, PipelineWorkflow.pause, "paused", if_match)
        )

    @api.post("/pipelines/{pipeline_id}/resume", status_code=202)
    async def resume(pipeline_id: str, if_match: IfMatch = None) -> PipelineView:
        return await service.view(
            await service.command(pipeline_id, PipelineWorkflow.resume, "active", if_match)
        )

    @api.post("/pipelines/{pipeline_id}/sync", status_code=202)
    async def sync_now(pipeline_id: str) -> PipelineView:
        """Start a new, incremental run now (after the backfill in flight, if any)."""
        return await service.view(
            await service.command(pipeline_id, PipelineWorkflow.sync_now, None, None)
        )

    @api.get("/pipelines/{pipeline_id}/runs")
    async def runs(pipeline_id: str, limit: int = 50) -> RunList:
        await store.get(pipeline_id)
        return RunList(runs=await store.runs(pipeline_id, max(1, min(limit, 500))))

    @api.get("/pipelines/{pipeline_id}/metrics")
    async def metrics(
        pipeline_id: str, months: Annotated[int, Query(ge=1, le=120)] = 12
    ) -> MetricsView:
        """MRR, its movements, subscribers and churn by month, read from the pipeline's
        destination (``stripe-sync metrics``); the query runs in a thread, off the event loop."""
        stored = await store.get(pipeline_id)
        url, schema = destination_database(stored.spec)
        rows = await asyncio.to_thread(monthly_metrics, url, months=months, schema=schema)
        return MetricsView(metrics=[row.as_dict() for row in rows])

    @api.get(
        "/pipelines/{pipeline_id}/progress",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def progress(pipeline_id: str) -> StreamingResponse:
        """Server-sent events: ``progress`` (status and display model) on each change."""
        await store.get(pipeline_id)
        return StreamingResponse(
            _progress_events(service, pipeline_id),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    @app.post(
        "/webhooks/{pipeline_id}",
        responses={
            400: {"model": ErrorResponse},
            413: {"model": ErrorResponse, "description": "body over the webhook size cap"},
            503: {"model": ErrorResponse, "description": "too many events waiting; resend later"},
        },
    )
    async def webhook(pipeline_id: str, request: Request) -> JSONResponse:
        """A Stripe event; the signature is checked with the source's ``webhook_secrets``, the
        event kept in the store and its id signalled to the workflow."""
        payload = await capped_body(request)
        if payload is None:
            return error_response(
                413, "config_error", f"webhook refused: the body exceeds {WEBHOOK_BODY_LIMIT} bytes"
            )
        try:
            stored = await store.get(pipeline_id)
            secrets = stored.spec["source"].get("config", {}).get("webhook_secrets") or []
            verify(payload, request.headers.get(SIGNATURE_HEADER), secrets)
        except (PipelineNotFound, SignatureError) as exc:
            reason = str(exc) if isinstance(exc, SignatureError) else "unknown pipeline"
            return error_response(400, "auth_error", f"webhook refused: {reason}")
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            event = None
        if (
            not isinstance(event, dict)
            or "type" not in event
            or not isinstance(event.get("id"), str)
        ):
            return error_response(400, "config_error", "webhook refused: not a Stripe event")
        account = event.get("account") if isinstance(event.get("account"), str) else None
        if account is None and is_platform(stored.spec):
            return JSONResponse({"received": True})  # for no account's child: nothing to apply
        try:
            await store.add_event(pipeline_id, event["id"], payload)
        except InboxFull:
            return error_response(
                503, "rate_limit", "webhook deferred: too many events wait for this pipeline"
            )
        ref = WebhookRef(event["id"], account)
        await service.start(stored, PipelineWorkflow.webhook_event, ref)
        return JSONResponse({"received": True})

    app.include_router(api)
    app.include_router(
        connectors_router(policy), dependencies=[Depends(authorized)], responses=ERRORS
    )
    mount_dashboard(app)
    return app


def destination_database(spec: dict[str, Any]) -> tuple[str, str]:
    """The URL and schema of a pipeline's database destination (400 for any other kind)."""
    destination = spec["destination"]
    config = destination.get("config") or {}
    url = config.get("url")
    if destination.get("type") not in ("postgres", "sqlite") or not isinstance(url, str):
        raise ConfigError("metrics need a SQLite or Postgres destination")
    return url, str(config.get("schema") or "stripe")


async def capped_body(request: Request) -> bytes | None:
    """The request body, or None once it passes :data:`WEBHOOK_BODY_LIMIT` (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > WEBHOOK_BODY_LIMIT:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > WEBHOOK_BODY_LIMIT:
            return None
    return bytes(body)


async def _progress_events(service: Service, pipeline_id: str) -> AsyncIterator[bytes]:
    last: bytes | None = None
    quiet_since = asyncio.get_running_loop().time()
    while True:
        try:
            stored = await service.store.get(pipeline_id)
        except PipelineNotFound:
            yield b'event: deleted\ndata: {"id": "%s"}\n\n' % pipeline_id.encode()
            return
        status, document = await asyncio.gather(
            service.status(stored), service.progress_document(stored)
        )
        view = display_model(document)
        data = orjson.dumps(
            {
                "id": pipeline_id,
                "status": status.status,
                "reason": status.reason,
                "hint": reason_hint(status.reason),
                "no_worker_since": service.no_worker_since(pipeline_id, status.status),
                "view": without_worker(view) if status.status == NO_WORKER else view,
            }
        )
        now = asyncio.get_running_loop().time()
        if data != last:
            last, quiet_since = data, now
            yield b"event: progress\ndata: " + data + b"\n\n"
        elif now - quiet_since >= SSE_KEEPALIVE_S:
            quiet_since = now
            yield b": keep-alive\n\n"
        await asyncio.sleep(SSE_POLL_S)
