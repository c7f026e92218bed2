"""The Stripe catalog's typed model and its JSON document format.

A catalog describes every Stripe list endpoint the source can sync as a :class:`StreamDef`, the list
endpoints it deliberately leaves out (:class:`Exclusion`), and how events reach streams
(:class:`EventRoute`). :mod:`.catalog_generator` builds one from an OpenAPI spec; :mod:`.catalog` loads the
committed one. The document is plain JSON (see ``docs/stripe-catalog.md``): a header, one stream per
line, then the exclusions, so a regenerated catalog diffs stream by stream.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import orjson

CATALOG_FORMAT = 1
PRIMARY_KEY: list[list[str]] = [["id"], ["_account_id"]]
ACCOUNT_ID_FIELD = "_account_id"

CursorKind = Literal["starting_after", "page", "none"]
"""``starting_after``: v1 object-id cursor; ``page``: v2 page token (follow ``next_page_url``);
``none``: the endpoint returns everything in one response."""

TimeFormat = Literal["unix", "iso"]
"""How a time filter's values are written: unix seconds (v1) or ISO-8601 UTC strings (v2)."""

ExclusionReason = Literal["search duplicate", "alias", "preview", "no parent list"]


@dataclass(frozen=True)
class TimeFilter:
    """The query parameters that restrict a list to objects created in ``[gte, lt)``."""

    gte_param: str
    lt_param: str
    value_format: TimeFormat


@dataclass(frozen=True)
class FanOut:
    """A list that needs a parent's id: ``param`` takes ``parent_field`` of each ``parent_stream`` record."""

    param: str
    parent_stream: str
    parent_field: str = "id"


@dataclass(frozen=True)
class EventRoute:
    """Where an event's ``data.object`` goes.

    With ``parent_id_field`` None the object is a record of ``stream``; otherwise it is a sub-object
    (a discount, a person, a fee refund, ...) and the record to refresh is the ``stream`` object whose id
    is ``data.object[parent_id_field]``.
    """

    stream: str
    parent_id_field: str | None = None


@dataclass(frozen=True)
class StreamDef:
    """One syncable Stripe list endpoint and everything the source and the fake server need about it.

    ``embedded_lists`` maps a field of the object that carries a list (first page only) to the path that
    pages the rest, with ``{id}`` standing for the object's id. ``event_types`` are the events whose
    ``data.object`` is one of this stream's objects; ``sub_object_events`` maps events about embedded
    sub-objects to the ``data.object`` field that holds this stream's object id.
    """

    name: str
    list_path: str
    object: str
    json_schema: dict[str, Any]
    created_field: str | None = None
    time_filter: TimeFilter | None = None
    supports_limit: bool = True
    cursor: CursorKind = "starting_after"
    default_params: dict[str, str] = field(default_factory=dict)
    fan_out: FanOut | None = None
    embedded_lists: dict[str, str] = field(default_factory=dict)
    retrieve_path: str | None = None
    event_types: tuple[str, ...] = ()
    sub_object_events: dict[str, str] = field(default_factory=dict)
    deletable: bool = False

    @property
    def supports_time_range(self) -> bool:
        """True when the list can be restricted to a ``created`` window (parallel backfill is possible)."""
        return self.time_filter is not None and self.created_field is not None

    def is_deletion(self, event_type: str) -> bool:
        """True when ``event_type`` means the object is gone (not e.g. a canceled subscription)."""
        return self.deletable and event_type in self.event_types and event_type.endswith(".deleted")

    def to_document(self) -> dict[str, Any]:
        """The stream as stored in the catalog file (capabilities first, the schema last)."""
        return {
            "name": self.name,
            "list_path": self.list_path,
            "object": self.object,
            "supports_time_range": self.supports_time_range,
            "created_field": self.created_field,
            "time_filter": asdict(self.time_filter) if self.time_filter else None,
            "supports_limit": self.supports_limit,
            "cursor": self.cursor,
            "default_params": self.default_params,
            "fan_out": asdict(self.fan_out) if self.fan_out else None,
            "embedded_lists": self.embedded_lists,
            "retrieve_path": self.retrieve_path,
            "deletable": self.deletable,
            "event_types": list(self.event_types),
            "sub_object_events": self.sub_object_events,
            "json_schema": self.json_schema,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> StreamDef:
        """Rebuild a stream from :meth:`to_document` output."""
        time_filter = document["time_filter"]
        fan_out = document["fan_out"]
        return cls(
            name=document["name"],
            list_path=document["list_path"],
            object=document["object"],
            json_schema=document["json_schema"],
            created_field=document["created_field"],
            time_filter=TimeFilter(**time_filter) if time_filter else None,
            supports_limit=document["supports_limit"],
            cursor=document["cursor"],
            default_params=document["default_params"],
            fan_out=FanOut(**fan_out) if fan_out else None,
            embedded_lists=document["embedded_lists"],
            retrieve_path=document["retrieve_path"],
            event_types=tuple(document["event_types"]),
            sub_object_events=document["sub_object_events"],
            deletable=document["deletable"],
        )

    def to_protocol_stream(self) -> dict[str, Any]:
        """The protocol's ``Stream``: records carry ``_account_id``, which completes the primary key.

        Nested schema dicts are shared with the (cached) catalog: treat them as read-only.
        """
        properties = dict(self.json_schema.get("properties", {}))
        properties[ACCOUNT_ID_FIELD] = {"type": "string"}
        required = sorted({*self.json_schema.get("required", []), ACCOUNT_ID_FIELD})
        metadata = self.to_document()
        del metadata["name"], metadata["json_schema"], metadata["supports_time_range"]
        return {
            "name": self.name,
            "json_schema": {**self.json_schema, "properties": properties, "required": required},
            "primary_key": [list(path) for path in PRIMARY_KEY],
            "supports_time_range": self.supports_time_range,
            "metadata": metadata,
        }


FEW_PER_ACCOUNT = frozenset({"treasury_financial_accounts", "radar_value_lists"})
"""Parent streams with a handful of objects per account: a stream listed per parent of these is
cheap enough for the default selection."""


@dataclass(frozen=True)
class Exclusion:
    """A top-level list endpoint that is not a stream, and why.

    ``canonical_stream`` names the stream that already covers it (aliases and search duplicates).
    """

    path: str
    name: str
    reason: ExclusionReason
    detail: str
    canonical_stream: str | None = None

    def to_document(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StripeCatalog:
    """Every stream derived from one spec, ordered by name, with the exclusions and the event map."""

    api_version: str
    licence: str
    streams: dict[str, StreamDef]
    excluded: tuple[Exclusion, ...] = ()
    _event_routes: dict[str, tuple[EventRoute, ...]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        routes: dict[str, list[EventRoute]] = {}
        for stream in self.streams.values():
            for event_type in stream.event_types:
                routes.setdefault(event_type, []).append(EventRoute(stream.name))
            for event_type, parent_id_field in stream.sub_object_events.items():
                routes.setdefault(event_type, []).append(EventRoute(stream.name, parent_id_field))
        self._event_routes.update({key: tuple(value) for key, value in routes.items()})

    @property
    def aliases(self) -> dict[str, str]:
        """Alias stream names (``balance_history``) mapped to their canonical stream."""
        return {
            exclusion.name: exclusion.canonical_stream
            for exclusion in self.excluded
            if exclusion.reason == "alias" and exclusion.canonical_stream
        }

    def stream(self, name: str) -> StreamDef:
        """The stream called ``name`` or whose alias is ``name``; KeyError when there is none."""
        return self.streams[self.aliases.get(name, name)]

    def routes_for_event_type(self, event_type: str) -> tuple[EventRoute, ...]:
        """The streams an event of this type changes (empty for events no stream follows)."""
        return self._event_routes.get(event_type, ())

    def event_types_for(self, stream_names: Iterable[str]) -> list[str]:
        """Sorted event types that change any of the named streams (for ``/v1/events?types[]=``)."""
        selected: set[str] = set()
        for name in stream_names:
            stream = self.stream(name)
            selected.update(stream.event_types, stream.sub_object_events)
        return sorted(selected)

    def protocol_streams(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Protocol ``Stream`` dicts for ``discover``: all streams, or the named ones in that order.

        A stream that costs a request per parent object carries ``metadata.request_cost`` and,
        when its parents are many, ``metadata.default_selected: false``: a pipeline that names no
        streams leaves it out, naming it selects it.
        """
        selected = self.streams.values() if names is None else map(self.stream, names)
        protocol = []
        for stream in selected:
            entry = stream.to_protocol_stream()
            cost = self.request_cost(stream)
            if cost is not None:
                entry["metadata"]["request_cost"] = cost
                parent = stream.fan_out.parent_stream if stream.fan_out else None
                entry["metadata"]["default_selected"] = parent in FEW_PER_ACCOUNT
            protocol.append(entry)
        return protocol

    def request_cost(self, stream: StreamDef) -> str | None:
        """``1 request per customer`` for a stream listed once per parent object; None when its
        pages cost what any list's do (children embedded in the parent's pages included)."""
        fan_out = stream.fan_out
        if fan_out is None:
            return None
        parent = self.streams.get(fan_out.parent_stream)
        embedded = parent.embedded_lists.values() if parent is not None else ()
        if any(template.startswith(f"{stream.list_path}?") for template in embedded):
            return None  # the children come with the parent's pages
        parent_object = parent.object if parent is not None else fan_out.parent_stream
        return f"1 request per {parent_object}"

    def to_document(self) -> dict[str, Any]:
        return {
            "header": {
                "format": CATALOG_FORMAT,
                "api_version": self.api_version,
                "licence": self.licence,
            },
            "streams": [stream.to_document() for stream in self.streams.values()],
            "excluded": [exclusion.to_document() for exclusion in self.excluded],
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> StripeCatalog:
        """Rebuild a catalog from :meth:`to_document` output (or a parsed catalog file)."""
        header = document["header"]
        if header.get("format") != CATALOG_FORMAT:
            raise ValueError(f"unsupported catalog format {header.get('format')!r}")
        streams = [StreamDef.from_document(item) for item in document["streams"]]
        return cls(
            api_version=header["api_version"],
            licence=header["licence"],
            streams={stream.name: stream for stream in sorted(streams, key=lambda s: s.name)},
            excluded=tuple(Exclusion(**item) for item in document["excluded"]),
        )

    def encode(self) -> bytes:
        """The catalog file: compact JSON, one stream or exclusion per line, newline-terminated."""
        document = self.to_document()

        def lines(items: list[dict[str, Any]]) -> bytes:
            return b",\n".join(orjson.dumps(item) for item in items)

        return b"".join(
            [
                b'{"header":' + orjson.dumps(document["header"]) + b",\n",
                b'"streams":[\n' + lines(document["streams"]) + b"\n],\n",
                b'"excluded":[\n' + lines(document["excluded"]) + b"\n]}\n",
            ]
        )
