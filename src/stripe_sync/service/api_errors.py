"""The service API's failures as JSON: every error answer is the engine API's error shape with a
one-line message, never a bare 500 with a traceback.

- a connector that failed while the API asked it (``SyncError``): 422 with its failure type;
- the pipeline store or Temporal unreachable: 503 (``transient_error``), the request may be
  sent again;
- a pipeline sealed with a key this process lacks: 500 saying so;
- anything else: 500 ``system_error`` naming the exception's type; the log gets one line too.
"""

from __future__ import annotations

import logging
import sqlite3

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.service import RPCError

from stripe_sync.protocol.errors import SyncError
from stripe_sync.service.engine_api import error_response
from stripe_sync.service.sealing import StoreKeyError

logger = logging.getLogger(__name__)


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


class OneLineErrors:
    """Answers an exception no handler took with a JSON 500 (when no answer has started yet)
    and logs one line instead of a traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            logger.error("%s %s failed: %s", scope["method"], scope["path"], type(exc).__name__)
            if not started:
                response = error_response(
                    500, "system_error", f"internal error: {type(exc).__name__}"
                )
                await response(scope, receive, send)


def install_error_answers(app: FastAPI) -> None:
    """Register the handlers and the middleware described in the module docstring."""

    @app.exception_handler(SyncError)
    async def connector_failed(request: Request, exc: SyncError) -> JSONResponse:
        return error_response(422, exc.failure_type, first_line(str(exc)))

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(sqlite3.OperationalError)
    async def store_down(request: Request, exc: Exception) -> JSONResponse:
        logger.warning("pipeline store: %s", type(exc).__name__)
        return error_response(
            503, "transient_error", "the pipeline store is unreachable; try again"
        )

    @app.exception_handler(RPCError)
    async def temporal_down(request: Request, exc: RPCError) -> JSONResponse:
        logger.warning("Temporal: %s", first_line(exc.message))
        return error_response(
            503, "transient_error", f"Temporal did not answer: {first_line(exc.message)}"
        )

    @app.exception_handler(StoreKeyError)
    async def cannot_unseal(request: Request, exc: StoreKeyError) -> JSONResponse:
        logger.error("pipeline store: %s", exc)
        return error_response(500, "system_error", str(exc))

    app.add_middleware(OneLineErrors)
