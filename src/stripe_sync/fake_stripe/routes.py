"""Which catalog endpoint a request names: a list, a retrieve, an embedded list, the account, or a
write (create, update, delete, an action such as ``/void``) of the streams :mod:`.mutations` allows.

Routes come from the catalog alone (list paths, retrieve paths, embedded list templates), so every
stream the catalog knows is served. Each route also names its *endpoint*, Stripe's unit of
per-endpoint rate limits (``GET /v1/customers/{id}``), which limits and stats are keyed by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from stripe_sync.fake_stripe.mutations import MUTABLE_STREAMS
from stripe_sync.sources.stripe.catalog import StreamDef, StripeCatalog

RouteKind = Literal[
    "account", "list", "retrieve", "embedded", "create", "update", "delete", "action"
]
ACCOUNT_PATH = "/v1/account"


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    endpoint: str
    stream: StreamDef | None = None
    object_id: str | None = None
    field: str | None = None
    """The embedded list's field (``lines``) for ``embedded`` routes, the action (``void``) for
    ``action`` routes."""


class Router:
    def __init__(self, catalog: StripeCatalog) -> None:
        streams = catalog.streams.values()
        self._lists = {stream.list_path: stream for stream in streams}
        self._retrieves = {
            stream.retrieve_path.removesuffix("/{id}"): stream
            for stream in streams
            if stream.retrieve_path
        }
        self._embedded: dict[tuple[str, str], tuple[StreamDef, str]] = {}
        for stream in streams:
            for field, template in stream.embedded_lists.items():
                if "?" not in template:  # the others page through a fan-out stream's list
                    base, _, suffix = template.partition("/{id}/")
                    self._embedded[(base, suffix)] = (stream, field)

    def match(self, method: str, path: str) -> Route | None:
        """The route of a request, None for a URL Stripe would not recognise."""
        if method in ("POST", "DELETE"):
            return self._write(method, path)
        if method != "GET":
            return None
        if path == ACCOUNT_PATH:
            return Route("account", f"GET {ACCOUNT_PATH}")
        stream = self._lists.get(path)
        if stream is not None:
            return Route("list", f"GET {path}", stream)
        head, _, last = path.rpartition("/")
        stream = self._retrieves.get(head)
        if stream is not None and last:
            return Route("retrieve", f"GET {head}/{{id}}", stream, last)
        base, _, object_id = head.rpartition("/")
        embedded = self._embedded.get((base, last))
        if embedded is not None and object_id:
            stream, field = embedded
            return Route("embedded", f"GET {base}/{{id}}/{last}", stream, object_id, field)
        return None

    def _write(self, method: str, path: str) -> Route | None:
        stream = self._lists.get(path)
        if stream is not None:
            allowed = MUTABLE_STREAMS.get(stream.name)
            if method == "POST" and allowed is not None and allowed.create:
                return Route("create", f"POST {path}", stream)
            return None
        head, _, last = path.rpartition("/")
        stream = self._retrieves.get(head)
        allowed = MUTABLE_STREAMS.get(stream.name) if stream is not None else None
        if stream is not None and allowed is not None and last:
            if method == "POST" and allowed.update:
                return Route("update", f"POST {head}/{{id}}", stream, last)
            if method == "DELETE" and allowed.delete is not None:
                return Route("delete", f"DELETE {head}/{{id}}", stream, last)
            return None
        base, _, object_id = head.rpartition("/")
        stream = self._retrieves.get(base)
        allowed = MUTABLE_STREAMS.get(stream.name) if stream is not None else None
        if method == "POST" and allowed is not None and last in allowed.actions and object_id:
            return Route("action", f"POST {base}/{{id}}/{last}", stream, object_id, last)
        return None
