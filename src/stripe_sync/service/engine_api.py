"""The engine HTTP API: the connector verbs and ``sync`` of a pipeline given in each request.

Stateless: a request brings its pipeline and, for ``/sync``, its state (or asks for the
destination's own store with ``use_destination_state``); nothing is kept between requests.
``/read``, ``/write`` and ``/sync`` stream NDJSON (see ``ndjson_response``); bad input found before
a stream starts is a 400 with a one-line message, a connector that fails before it starts is a 422.
With an API token every route but ``/health`` and ``/openapi.json`` needs
``Authorization: Bearer <token>``. Request bodies (they hold secrets) are never logged.
"""

from __future__ import annotations

import asyncio
import copy
import hmac
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, aclosing
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from stripe_sync.engine import connector_calls
from stripe_sync.engine.pipeline import Pipeline, parse_pipeline
from stripe_sync.engine.registry import destination_state_store
from stripe_sync.engine.remote import SYNC_STATE_FIELD
from stripe_sync.engine.run_lease import PipelineBusy
from stripe_sync.engine.state_store import StateStore
from stripe_sync.engine.sync import sync
from stripe_sync.protocol.connector import Message
from stripe_sync.protocol.errors import ConfigError, SyncError
from stripe_sync.protocol.ndjson import NDJSONError, aread_ndjson
from stripe_sync.protocol.state import coerce_sync_state, empty_state
from stripe_sync.service.connector_policy import ConnectorPolicy
from stripe_sync.service.ndjson_response import NDJSON, NDJSONStream

logger = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/health", "/openapi.json"})


EXAMPLE_PIPELINE: dict[str, Any] = {
    "name": "example",
    "source": {"type": "test", "config": {"streams": {"customers": {"records": 3}}}},
    "destination": {"type": "test"},
}


class PipelineRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"pipeline": EXAMPLE_PIPELINE}]}
    )

    pipeline: Pipeline


class SideRequest(PipelineRequest):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"pipeline": EXAMPLE_PIPELINE, "side": "source"}]}
    )

    side: Literal["source", "destination"]


class ReadRequest(PipelineRequest):
    state: dict[str, Any] | None = Field(default=None, description="SyncState to resume from")
    time_limit: float | None = Field(default=None, ge=0, allow_inf_nan=False, description="s")
    state_limit: int | None = Field(default=None, ge=1)


class SyncRequest(ReadRequest):
    sync_run_id: str | None = Field(default=None, min_length=1)
    fresh: bool = False
    live: bool = False
    use_destination_state: bool = Field(
        default=False,
        description="load and save the state in the destination's own store instead of `state`",
    )


class ErrorBody(BaseModel):
    level: Literal["global"] = "global"
    failure_type: str
    message: str


class ErrorResponse(BaseModel):
    type: Literal["error"] = "error"
    error: ErrorBody


def error_response(status: int, failure_type: str, message: str, **kwargs: Any) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(failure_type=failure_type, message=message))
    return JSONResponse(body.model_dump(), status_code=status, **kwargs)


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "invalid request, pipeline, config or state"},
    401: {"model": ErrorResponse, "description": "missing or wrong bearer token"},
    422: {"model": ErrorResponse, "description": "a connector failed before any data moved"},
}
SYNC_ERRORS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorResponse, "description": "a run of this pipeline is already under way"},
}
STREAMED: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    200: {
        "description": "protocol messages, one JSON object a line, sent as they are produced",
        "content": {NDJSON: {"schema": {"type": "string"}}},
    },
}
WRITE_BODY = {
    "required": True,
    "content": {
        NDJSON: {
            "schema": {
                "type": "array",
                "items": {"type": "object"},
                "description": 'one JSON object a line: first {"pipeline": Pipeline}, then '
                "`record` and `source_state` messages",
            }
        }
    },
}


class RecordingStateStore:
    """Passes loads and saves to an optional store and keeps a copy of the latest state.

    It shows the wrapped store's ``location`` and ``lease`` (when it has them), so a run on the
    destination's own store holds the pipeline's lease and saves its state with the data, as
    in-process (see ``engine/run_lease.py`` and ``engine/state_commit.py``).
    """

    def __init__(self, inner: StateStore | None) -> None:
        self.inner = inner
        self.latest: dict[str, Any] | None = None

    @property
    def location(self) -> object | None:
        return getattr(self.inner, "location", None)

    @property
    def lease(self) -> Callable[..., AbstractAsyncContextManager[None]] | None:
        return getattr(self.inner, "lease", None)

    async def load(self, pipeline: str) -> dict[str, Any] | None:
        state = await self.inner.load(pipeline) if self.inner is not None else None
        self.latest = copy.deepcopy(state)
        return state

    async def save(self, pipeline: str, state: dict[str, Any]) -> None:
        if self.inner is not None:
            await self.inner.save(pipeline, state)
        self.latest = copy.deepcopy(state)


class RunningSyncs:
    """The abort events of the ``/sync`` calls in flight, so a server shutting down ends them."""

    def __init__(self) -> None:
        self.events: set[asyncio.Event] = set()

    def abort_all(self) -> None:
        for event in self.events:
            event.set()


class BearerTokenMiddleware:
    """Refuses requests without ``Authorization: Bearer <token>``, before anything is read."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = error_response(
                    401,
                    "auth_error",
                    "missing or wrong bearer token",
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _first_error(errors: list[Any], drop: int = 0) -> str:
    first = errors[0]
    if first["type"] == "json_invalid":
        return f"invalid request: the body is not valid JSON: {first['ctx']['error']}"
    field = ".".join(str(part) for part in first["loc"][drop:]) or "body"
    return f"invalid request: {field}: {first['msg']}"


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        if "json" not in request.headers.get("content-type", ""):
            message = "invalid request: send a JSON body with content-type: application/json"
        else:
            message = _first_error(list(exc.errors()), drop=1)
        return error_response(400, "config_error", message)

    @app.exception_handler(ConfigError)
    async def bad_input(request: Request, exc: ConfigError) -> JSONResponse:
        return error_response(400, "config_error", str(exc))

    @app.exception_handler(PipelineBusy)
    async def pipeline_busy(request: Request, exc: PipelineBusy) -> JSONResponse:
        return error_response(409, exc.failure_type, str(exc))

    @app.exception_handler(SyncError)
    async def connector_failed(request: Request, exc: SyncError) -> JSONResponse:
        return error_response(422, exc.failure_type, str(exc))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error_response(exc.status_code, "config_error", str(exc.detail))

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        logger.error("internal error on %s: %s", request.url.path, type(exc).__name__)
        return error_response(500, "system_error", f"internal error: {type(exc).__name__}")


async def _request_body(request: Request, done: asyncio.Event) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        yield chunk
    done.set()


def create_engine_app(
    api_token: str | None = None,
    *,
    connectors: ConnectorPolicy | None = None,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The engine API; ``connectors`` names the exec commands and dotted types it may run
    (default: installed connectors only); ``clock`` pins ``now`` for tests, as in ``sync``."""
    policy = connectors or ConnectorPolicy()

    async def _pipeline(model: Pipeline) -> Pipeline:
        """A request's pipeline re-checked with every rule of ``parse_pipeline``, its connectors
        allowed by the policy, their specs asked off the event loop."""
        pipeline = parse_pipeline(model.model_dump())
        await policy.prepare(pipeline)
        return pipeline

    app = FastAPI(
        title="stripe-sync engine",
        version="1",
        description="Run a pipeline's connector verbs and sync calls; NDJSON streams.",
        docs_url=None,
        redoc_url=None,
    )
    running = RunningSyncs()
    app.state.running_syncs = running
    _install_error_handlers(app)
    # documents the scheme in /openapi.json; BearerTokenMiddleware is what enforces it
    security = [Security(HTTPBearer(auto_error=False))] if api_token else []
    api = APIRouter(dependencies=security, responses=ERRORS)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.post("/check")
    async def check(body: SideRequest) -> dict[str, Any]:
        status = await connector_calls.check(await _pipeline(body.pipeline), body.side)
        return {"type": "connection_status", "connection_status": status}

    @api.post("/discover")
    async def discover(body: PipelineRequest) -> dict[str, Any]:
        catalog = await connector_calls.discover(await _pipeline(body.pipeline))
        return {"type": "catalog", "catalog": catalog}

    @api.post("/setup", status_code=204)
    async def setup(body: SideRequest) -> Response:
        await connector_calls.setup(await _pipeline(body.pipeline), body.side)
        return Response(status_code=204)

    @api.post("/teardown", status_code=204)
    async def teardown(body: SideRequest) -> Response:
        await connector_calls.teardown(await _pipeline(body.pipeline), body.side)
        return Response(status_code=204)

    @api.post("/read", response_class=NDJSONStream, responses=STREAMED, status_code=200)
    async def read(body: ReadRequest) -> NDJSONStream:
        messages = connector_calls.read(
            await _pipeline(body.pipeline),
            body.state,
            time_limit=body.time_limit,
            state_limit=body.state_limit,
        )
        return await NDJSONStream.start(
            messages, ending_state=lambda: coerce_sync_state(body.state)
        )

    @api.post(
        "/write",
        response_class=NDJSONStream,
        status_code=200,
        responses=STREAMED,
        openapi_extra={"requestBody": WRITE_BODY},
    )
    async def write(request: Request) -> NDJSONStream:
        body_read = asyncio.Event()
        lines = aread_ndjson(_request_body(request, body_read))
        try:
            header = PipelineRequest.model_validate(await anext(lines, None))
        except NDJSONError as exc:
            raise ConfigError(f"invalid request: {exc}") from None
        except ValidationError as exc:
            raise ConfigError(_first_error(exc.errors())) from None
        messages = connector_calls.write(await _pipeline(header.pipeline), lines)
        return await NDJSONStream.start(messages, ending_state=empty_state, body_read=body_read)

    @api.post(
        "/sync",
        response_class=NDJSONStream,
        responses={**STREAMED, **SYNC_ERRORS},
        status_code=200,
    )
    async def sync_route(body: SyncRequest) -> NDJSONStream:
        pipeline = await _pipeline(body.pipeline)
        if body.use_destination_state and body.state is not None:
            raise ConfigError("invalid request: give either state or use_destination_state")
        store = RecordingStateStore(
            destination_state_store(pipeline) if body.use_destination_state else None
        )

        async def messages() -> AsyncGenerator[Message, None]:
            abort = asyncio.Event()
            running.events.add(abort)
            try:
                calls = sync(
                    pipeline,
                    body.state,
                    sync_run_id=body.sync_run_id,
                    fresh=body.fresh,
                    live=body.live,
                    time_limit=body.time_limit,
                    state_limit=body.state_limit,
                    state_store=store,
                    clock=clock,
                    abort=abort,
                )
                async with aclosing(calls):
                    async for message in calls:
                        if (
                            message["type"] == "source_state"
                            and not body.use_destination_state
                            and store.latest is not None
                        ):
                            message = {**message, SYNC_STATE_FIELD: store.latest}
                        yield message
            finally:
                running.events.discard(abort)
                close = getattr(store.inner, "close", None)
                if close is not None:
                    await close()

        return await NDJSONStream.start(
            messages(), ending_state=lambda: store.latest or coerce_sync_state(body.state)
        )

    app.include_router(api)
    if api_token:
        app.add_middleware(BearerTokenMiddleware, token=api_token)
    return app
