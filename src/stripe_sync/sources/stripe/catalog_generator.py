"""Derive the Stripe catalog from a Stripe OpenAPI specification.

Run from the repository root to refresh the committed catalog::

    python -m stripe_sync.sources.stripe.catalog_generator [--spec FILE] [--out FILE]

Everything in a :class:`StreamDef` comes from the spec: list endpoints and their query parameters,
object schemas (``x-resourceId``, ``x-expansionResources``), retrieve and delete operations, and the event
type list of ``POST /v1/webhook_endpoints``. The rules are written down in ``docs/stripe-catalog.md``.
Output is sorted, so the same spec always gives the same bytes.
"""

from __future__ import annotations

import argparse
import gzip
import lzma
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from stripe_sync.protocol.errors import ConfigError
from stripe_sync.sources.stripe.catalog_model import (
    CursorKind,
    EventRoute,
    Exclusion,
    ExclusionReason,
    FanOut,
    StreamDef,
    StripeCatalog,
    TimeFilter,
    TimeFormat,
)

DEFAULT_SPEC_PATH = Path(__file__).with_name("spec") / "spec3.json.xz"
"""Stripe's OpenAPI spec the committed catalog is generated from (xz-compressed; licence in ``spec/NOTICE.md``)."""
DEFAULT_CATALOG_PATH = Path(__file__).with_name("catalog.json")
LICENCE = (
    "Derived from Stripe's OpenAPI specification, MIT licence, Copyright (c) 2011- Stripe, Inc."
)
SCHEMA_DEPTH = 3
"""Object nesting kept in stream schemas: the object's fields (1), their fields (2) and one more level;
deeper objects are summarised as ``{"type": "object"}``."""

PREVIEW_SEGMENTS = frozenset({"preview", "upcoming"})
LISTED_PER_PARENT = {"/v1/payment_methods": "customer"}
"""Lists whose optional parameter decides what they show: without ``customer``,
``/v1/payment_methods`` lists only Treasury's payment methods, so customers' are listed per
customer (a fan-out, like a required parameter)."""
CREATION_TIME_DESCRIPTION = "Time at which the object was created"

JsonObject = dict[str, Any]


def read_spec(path: str | Path) -> JsonObject:
    """Parse a spec file (plain, ``.xz`` or ``.gz``); an unreadable or non-Stripe file is a :class:`ConfigError`."""
    try:
        spec = orjson.loads(_read_maybe_compressed(Path(path)))
    except OSError as exc:
        raise ConfigError(f"cannot read the OpenAPI spec {path}: {exc.strerror or exc}") from exc
    except lzma.LZMAError as exc:
        raise ConfigError(f"cannot read the OpenAPI spec {path}: {exc}") from exc
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"the OpenAPI spec {path} is not JSON: {exc}") from exc
    if not isinstance(spec, dict) or not {"info", "paths", "components"} <= spec.keys():
        raise ConfigError(f"{path} is not an OpenAPI specification (info, paths, components)")
    return spec


def _read_maybe_compressed(path: Path) -> bytes:
    if path.suffix == ".xz":
        return lzma.decompress(path.read_bytes())
    if path.suffix == ".gz":
        return gzip.decompress(path.read_bytes())
    return path.read_bytes()


def generate_catalog(spec: JsonObject) -> StripeCatalog:
    """Build the catalog of every list endpoint in ``spec`` (already parsed)."""
    return _CatalogBuilder(_SpecIndex(spec)).build()


def stream_name(path: str) -> str:
    """``/v1/checkout/sessions`` → ``checkout_sessions``; ``/v2/core/events`` → ``core_events``."""
    return path.split("/", 2)[2].replace("/", "_")


@dataclass(frozen=True)
class _ListEndpoint:
    """A ``GET`` operation answering with a page of objects."""

    path: str
    query_params: dict[str, JsonObject]
    item_schemas: tuple[str, ...]
    """Component names of the listed objects (more than one when the list is polymorphic)."""
    paged_by_token: bool
    """v2 style: the response carries ``next_page_url`` instead of ``has_more``."""

    @property
    def name(self) -> str:
        return stream_name(self.path)

    @property
    def is_top_level(self) -> bool:
        return "{" not in self.path

    @property
    def owner_path(self) -> str | None:
        """``/v1/invoices`` for ``/v1/invoices/{invoice}/lines``: the list of the owning objects."""
        *owner, param, _ = self.path.split("/")
        if param.startswith("{") and "{" not in "/".join(owner):
            return "/".join(owner)
        return None

    @property
    def required_params(self) -> list[str]:
        return sorted(name for name, param in self.query_params.items() if param.get("required"))


class _SpecIndex:
    """Lookups over one parsed spec: components, resources and list endpoints."""

    def __init__(self, spec: JsonObject) -> None:
        self.spec = spec
        self.schemas: dict[str, JsonObject] = spec["components"].get("schemas", {})
        self.resources = {
            schema["x-resourceId"]: name
            for name, schema in self.schemas.items()
            if "x-resourceId" in schema
        }
        self.resources_by_normal_name = {
            resource_id.replace(".", "_"): name for resource_id, name in self.resources.items()
        }
        self.list_endpoints = {endpoint.path: endpoint for endpoint in self._find_list_endpoints()}

    @property
    def api_version(self) -> str:
        return str(self.spec["info"]["version"])

    def deref(self, node: JsonObject) -> JsonObject:
        while "$ref" in node:
            node = self.schemas[node["$ref"].rsplit("/", 1)[1]]
        return node

    def resource_id(self, schema_name: str) -> str | None:
        return self.schemas[schema_name].get("x-resourceId")

    def resource_named(self, name: str) -> str | None:
        """The component of resource ``name``, where ``.`` and ``_`` are interchangeable."""
        return self.resources_by_normal_name.get(name.replace(".", "_"))

    def operation(self, path: str, method: str) -> JsonObject | None:
        return self.spec["paths"].get(path, {}).get(method)

    def response_schema(self, operation: JsonObject) -> JsonObject:
        content = operation.get("responses", {}).get("200", {}).get("content", {})
        return self.deref(content.get("application/json", {}).get("schema", {}))

    def properties(self, schema_name: str) -> JsonObject:
        return self.deref(self.schemas[schema_name]).get("properties", {})

    def referenced_resources(self, node: JsonObject) -> list[str]:
        """Resource ids an expandable field can expand to (deleted variants left out)."""
        targets = node.get("x-expansionResources", {}).get("oneOf", [])
        names = [target["$ref"].rsplit("/", 1)[1] for target in targets]
        resources = [self.resource_id(name) or name for name in names]
        return [resource for resource in resources if not resource.startswith("deleted_")]

    def field_referencing(self, schema_names: Sequence[str], resource_id: str) -> str | None:
        """The field every one of ``schema_names`` uses to point at a ``resource_id`` object."""
        common = set.intersection(*(set(self.properties(name)) for name in schema_names))
        for field_name in sorted(common):
            if all(
                self._references(field_name, self.properties(name)[field_name], resource_id)
                for name in schema_names
            ):
                return field_name
        return None

    def _references(self, field_name: str, node: JsonObject, resource_id: str) -> bool:
        if resource_id in self.referenced_resources(node):
            return True
        return field_name == resource_id.rpartition(".")[2] and node.get("type") == "string"

    def _find_list_endpoints(self) -> Iterator[_ListEndpoint]:
        for path in sorted(self.spec["paths"]):
            operation = self.operation(path, "get")
            if operation is None or not path.startswith(("/v1/", "/v2/")):
                continue
            properties = self.response_schema(operation).get("properties", {})
            data = properties.get("data", {})
            if data.get("type") != "array" or not {"has_more", "next_page_url"} & properties.keys():
                continue
            yield _ListEndpoint(
                path=path,
                query_params={
                    param["name"]: param
                    for param in map(self.deref, operation.get("parameters", []))
                    if param.get("in") == "query"
                },
                item_schemas=_schema_names(data["items"]),
                paged_by_token="next_page_url" in properties,
            )


class _CatalogBuilder:
    """Classifies the top-level list endpoints and turns the syncable ones into streams."""

    def __init__(self, index: _SpecIndex) -> None:
        self.index = index
        self.summariser = _SchemaSummariser(index)
        self.excluded: list[Exclusion] = []
        self.fan_outs: dict[str, FanOut] = {}
        self.default_params: dict[str, dict[str, str]] = {}

    def build(self) -> StripeCatalog:
        endpoints = self._classify(
            [e for e in self.index.list_endpoints.values() if e.is_top_level]
        )
        streams = [self._stream(endpoint) for endpoint in endpoints]
        routes = _EventRouter(self.index, streams).routes()
        streams = [_with_events(stream, routes.get(stream.name, {})) for stream in streams]
        return StripeCatalog(
            api_version=self.index.api_version,
            licence=LICENCE,
            streams={stream.name: stream for stream in sorted(streams, key=lambda s: s.name)},
            excluded=tuple(sorted(self.excluded, key=lambda exclusion: exclusion.path)),
        )

    def _classify(self, top_level: list[_ListEndpoint]) -> list[_ListEndpoint]:
        """Record exclusions, fan-outs and default parameters; return the stream endpoints."""
        by_path = {endpoint.path: endpoint for endpoint in top_level}
        candidates: list[_ListEndpoint] = []
        for endpoint in top_level:
            if endpoint.path.endswith("/search"):
                listed = by_path.get(endpoint.path.removesuffix("/search"))
                self._exclude(
                    endpoint,
                    "search duplicate",
                    "query-based search over a list endpoint",
                    listed.name if listed else None,
                )
            elif PREVIEW_SEGMENTS & set(endpoint.path.split("/")):
                self._exclude(endpoint, "preview", "lists a preview of an object that is not saved")
            else:
                candidates.append(endpoint)
        candidates = self._drop_aliases(candidates)
        plain = {}
        for endpoint in candidates:
            self.default_params[endpoint.path] = self._default_params(endpoint)
            if not self._parent_params(endpoint):
                plain[self.index.resource_id(endpoint.item_schemas[0])] = endpoint
        streams = []
        for endpoint in candidates:
            parent_params = self._parent_params(endpoint)
            if not parent_params:
                streams.append(endpoint)
                continue
            parent = self._parent_endpoint(endpoint, parent_params, plain)
            if parent is None:
                self._exclude(
                    endpoint,
                    "no parent list",
                    f"requires {', '.join(parent_params)} and no stream lists its values",
                )
            else:
                self.fan_outs[endpoint.path] = FanOut(parent_params[0], parent.name)
                streams.append(endpoint)
        return streams

    def _drop_aliases(self, endpoints: list[_ListEndpoint]) -> list[_ListEndpoint]:
        """Keep one endpoint per (objects, query parameters); the others are aliases of it."""
        groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[_ListEndpoint]] = {}
        for endpoint in endpoints:
            key = (endpoint.item_schemas, tuple(sorted(endpoint.query_params)))
            groups.setdefault(key, []).append(endpoint)
        kept = []
        for group in groups.values():
            canonical = min(group, key=self._alias_preference)
            kept.append(canonical)
            for alias in group:
                if alias is not canonical:
                    self._exclude(
                        alias, "alias", f"another path of {canonical.path}", canonical.name
                    )
        return sorted(kept, key=lambda endpoint: endpoint.path)

    def _alias_preference(self, endpoint: _ListEndpoint) -> tuple[bool, str]:
        """The canonical path is the one named after the object (``balance_transactions``)."""
        resource = self.index.resource_id(endpoint.item_schemas[0]) or ""
        return (endpoint.name != resource.replace(".", "_") + "s", endpoint.path)

    def _parent_params(self, endpoint: _ListEndpoint) -> list[str]:
        if endpoint.path in LISTED_PER_PARENT:
            return [LISTED_PER_PARENT[endpoint.path]]
        return [
            name
            for name in endpoint.required_params
            if not _is_account_scope(endpoint.query_params[name])
        ]

    def _parent_endpoint(
        self,
        endpoint: _ListEndpoint,
        parent_params: list[str],
        plain: dict[str | None, _ListEndpoint],
    ) -> _ListEndpoint | None:
        """The stream whose ids feed the single required parameter (one level of fan-out)."""
        if len(parent_params) != 1:
            return None
        param = parent_params[0]
        item = endpoint.item_schemas[0]
        namespace, _, _ = (self.index.resource_id(item) or "").rpartition(".")
        candidates = self.index.referenced_resources(self.index.properties(item).get(param, {}))
        if namespace:
            candidates.append(f"{namespace}.{param}")
        candidates.append(param)
        return next((plain[c] for c in candidates if c in plain), None)

    def _default_params(self, endpoint: _ListEndpoint) -> dict[str, str]:
        """Parameters that widen a list to every object: ``status=all``, account scope."""
        params = {}
        for name, param in sorted(endpoint.query_params.items()):
            if _is_account_scope(param):
                params[f"{name}[type]"] = "account"
            elif "all" in self.index.deref(param.get("schema", {})).get("enum", []):
                params[name] = "all"
        return params

    def _exclude(
        self,
        endpoint: _ListEndpoint,
        reason: ExclusionReason,
        detail: str,
        canonical_stream: str | None = None,
    ) -> None:
        self.excluded.append(
            Exclusion(endpoint.path, endpoint.name, reason, detail, canonical_stream)
        )

    def _stream(self, endpoint: _ListEndpoint) -> StreamDef:
        item = endpoint.item_schemas[0]
        return StreamDef(
            name=endpoint.name,
            list_path=endpoint.path,
            object=self.index.resource_id(item) or item,
            json_schema=self.summariser.object_schema(item),
            created_field=self._created_field(item),
            time_filter=self._time_filter(endpoint),
            supports_limit="limit" in endpoint.query_params,
            cursor=_cursor_kind(endpoint),
            default_params=self.default_params[endpoint.path],
            fan_out=self.fan_outs.get(endpoint.path),
            embedded_lists=self._embedded_lists(endpoint),
            retrieve_path=self._retrieve_path(endpoint),
            deletable=self._deletable(endpoint),
        )

    def _created_field(self, schema_name: str) -> str | None:
        """``created``, or the time field documented as the creation time (``date`` of invoice items)."""
        properties = self.index.properties(schema_name)
        if "created" in properties:
            return "created"
        return next(
            (
                name
                for name, node in sorted(properties.items())
                if node.get("format") in ("unix-time", "date-time")
                and node.get("description", "").startswith(CREATION_TIME_DESCRIPTION)
            ),
            None,
        )

    def _time_filter(self, endpoint: _ListEndpoint) -> TimeFilter | None:
        """``created[gte]``/``created[lt]`` (v1, unix) or flat ISO bounds (v2 ``created_gte``/``gte``)."""
        params = endpoint.query_params
        if "created" in params:
            for option in _alternatives(self.index.deref(params["created"].get("schema", {}))):
                bounds = self.index.deref(option).get("properties", {})
                if {"gte", "lt"} <= bounds.keys():
                    return TimeFilter("created[gte]", "created[lt]", _time_format(bounds["gte"]))
        for gte, lt in (("created_gte", "created_lt"), ("gte", "lt")):
            if gte in params and lt in params:
                return TimeFilter(gte, lt, _time_format(params[gte].get("schema", {})))
        return None

    def _retrieve_path(self, endpoint: _ListEndpoint) -> str | None:
        for path in self._item_paths(endpoint):
            if self.index.operation(path, "get") is not None:
                return endpoint.path + "/{id}"
        return None

    def _deletable(self, endpoint: _ListEndpoint) -> bool:
        """A ``DELETE`` that answers with a deleted-object stub (not, e.g., a canceled subscription)."""
        for path in self._item_paths(endpoint):
            operation = self.index.operation(path, "delete")
            if operation is not None:
                schema = self.index.response_schema(operation)
                return "deleted" in schema.get("properties", {})
        return False

    def _item_paths(self, endpoint: _ListEndpoint) -> list[str]:
        """Paths ``<list path>/{param}`` addressing one object of the list."""
        prefix = endpoint.path + "/{"
        return [
            path
            for path in sorted(self.index.spec["paths"])
            if path.startswith(prefix)
            and path.endswith("}")
            and path.count("/") == prefix.count("/")
        ]

    def _embedded_lists(self, endpoint: _ListEndpoint) -> dict[str, str]:
        """Lists always present in the object (first page only) and the path that pages each."""
        item = endpoint.item_schemas[0]
        schema = self.index.deref(self.index.schemas[item])
        embedded = {}
        for field_name in sorted(schema.get("required", [])):
            node = self.index.deref(schema["properties"][field_name])
            list_properties = node.get("properties", {})
            if list_properties.get("object", {}).get("enum") != ["list"]:
                continue
            path = self._list_path_for(endpoint, _schema_names(list_properties["data"]["items"]))
            if path is not None:
                embedded[field_name] = path
        return embedded

    def _list_path_for(self, owner: _ListEndpoint, item_schemas: tuple[str, ...]) -> str | None:
        """``/v1/invoices/{id}/lines`` (nested) or ``/v1/subscription_items?subscription={id}``."""
        for candidate in self.index.list_endpoints.values():
            if candidate.item_schemas != item_schemas:
                continue
            if candidate.owner_path == owner.path:
                return f"{owner.path}/{{id}}/{candidate.path.rpartition('/')[2]}"
            fan_out = self.fan_outs.get(candidate.path)
            if fan_out is not None and fan_out.parent_stream == owner.name:
                return f"{candidate.path}?{fan_out.param}={{id}}"
        return None


class _EventRouter:
    """Maps the spec's event types to the streams they change (see :class:`EventRoute`).

    An event type ``<prefix>.<action>`` concerns the objects named by its prefix: a resource
    (``invoice``, ``checkout.session``), the objects a parent lists under it (``customer.subscription``:
    ``/v1/customers/{customer}/subscriptions``), or a resource in a namespace
    (``sigma.scheduled_query_run``). Objects that are no stream's records refresh their parent
    stream's record when they point at it (``customer.discount``, ``person``).
    """

    def __init__(self, index: _SpecIndex, streams: list[StreamDef]) -> None:
        self.index = index
        self.stream_by_object = {stream.object: stream for stream in streams}

    def routes(self) -> dict[str, dict[str, EventRoute]]:
        """Stream name → event type → route."""
        by_stream: dict[str, dict[str, EventRoute]] = {}
        for event_type in _event_types(self.index):
            route = self._route(event_type.rpartition(".")[0])
            if route is not None:
                by_stream.setdefault(route.stream, {})[event_type] = route
        return by_stream

    def _route(self, prefix: str) -> EventRoute | None:
        objects = self._event_objects(prefix)
        if not objects:
            return None
        for name in objects:
            stream = self.stream_by_object.get(self.index.resource_id(name) or "")
            if stream is not None:
                return EventRoute(stream.name)
        for parent in self._parent_candidates(prefix, objects):
            field_name = self.index.field_referencing(objects, parent.object)
            if field_name is not None:
                return EventRoute(parent.name, field_name)
        return None

    def _event_objects(self, prefix: str) -> tuple[str, ...]:
        """Component names of the objects events with this prefix carry."""
        resource = self.index.resource_named(prefix)
        if resource is not None:
            return (resource,)
        parent_object, _, child = prefix.rpartition(".")
        parent = self.stream_by_object.get(parent_object)
        if parent is not None:
            listed = self._listed_under(parent, child + "s")
            child_resource = self.index.resource_named(child)
            return listed or ((child_resource,) if child_resource else ())
        namespaced = self.index.list_endpoints.get(f"/v1/{prefix.replace('.', '/')}s")
        return namespaced.item_schemas if namespaced else ()

    def _listed_under(self, parent: StreamDef, segment: str) -> tuple[str, ...]:
        for endpoint in self.index.list_endpoints.values():
            if endpoint.owner_path == parent.list_path and endpoint.path.endswith("/" + segment):
                return endpoint.item_schemas
        return ()

    def _parent_candidates(self, prefix: str, objects: tuple[str, ...]) -> list[StreamDef]:
        parent = self.stream_by_object.get(prefix.rpartition(".")[0])
        if parent is not None:
            return [parent]
        return [
            stream
            for stream in self.stream_by_object.values()
            if any(
                endpoint.owner_path == stream.list_path and endpoint.item_schemas == objects
                for endpoint in self.index.list_endpoints.values()
            )
        ]


class _SchemaSummariser:
    """Turns OpenAPI schemas into compact JSON Schema.

    Kept: types (``nullable`` becomes a ``"null"`` type), enums, formats (``unix-time`` marks unix
    seconds), required fields, nesting down to :data:`SCHEMA_DEPTH`. Dropped: descriptions and
    length limits. An expandable field is what the list returns when nothing is expanded, the id:
    ``{"type": "string", "x-expandable": [resource, ...]}``.
    """

    def __init__(self, index: _SpecIndex) -> None:
        self.index = index

    def object_schema(self, schema_name: str) -> JsonObject:
        return self.summarise(self.index.schemas[schema_name], 0)

    def summarise(self, node: JsonObject, depth: int) -> JsonObject:
        node = self.index.deref(node)
        if "x-expansionResources" in node:
            summary: JsonObject = {
                "type": "string",
                "x-expandable": self.index.referenced_resources(node),
            }
        elif "anyOf" in node:
            summary = self._any_of(node["anyOf"], depth)
        elif node.get("type") == "object" or "properties" in node:
            summary = self._object(node, depth)
        elif node.get("type") == "array":
            summary = {"type": "array", "items": self.summarise(node.get("items", {}), depth)}
        else:
            summary = {key: node[key] for key in ("type", "enum", "format") if key in node}
        return _nullable(summary) if node.get("nullable") else summary

    def _object(self, node: JsonObject, depth: int) -> JsonObject:
        if depth >= SCHEMA_DEPTH:
            return {"type": "object"}
        properties = node.get("properties", {})
        summary: JsonObject = {"type": "object"}
        if properties:
            summary["properties"] = {
                name: self.summarise(properties[name], depth + 1) for name in sorted(properties)
            }
            required = sorted(set(node.get("required", [])) & properties.keys())
            if required:
                summary["required"] = required
        elif isinstance(node.get("additionalProperties"), dict):
            summary["additionalProperties"] = self.summarise(
                node["additionalProperties"], depth + 1
            )
        return summary

    def _any_of(self, options: list[JsonObject], depth: int) -> JsonObject:
        summaries = []
        for option in options:
            summary = self.summarise(option, depth)
            if summary not in summaries:
                summaries.append(summary)
        if len(summaries) == 1:
            return summaries[0]
        if all(summary.keys() == {"type"} for summary in summaries):
            return {"type": sorted({_type for s in summaries for _type in _types(s)})}
        return {"anyOf": summaries}


def _with_events(stream: StreamDef, routes: dict[str, EventRoute]) -> StreamDef:
    return replace(
        stream,
        event_types=tuple(
            sorted(event for event, route in routes.items() if route.parent_id_field is None)
        ),
        sub_object_events={
            event: route.parent_id_field
            for event, route in sorted(routes.items())
            if route.parent_id_field is not None
        },
    )


def _event_types(index: _SpecIndex) -> list[str]:
    """Every event type, from the ``enabled_events`` enum of webhook endpoint creation."""
    operation = index.operation("/v1/webhook_endpoints", "post") or {}
    content = operation.get("requestBody", {}).get("content", {})
    form = index.deref(content.get("application/x-www-form-urlencoded", {}).get("schema", {}))
    enabled = form.get("properties", {}).get("enabled_events", {})
    return sorted(event for event in enabled.get("items", {}).get("enum", []) if event != "*")


def _schema_names(items: JsonObject) -> tuple[str, ...]:
    options = items.get("anyOf", [items])
    return tuple(option["$ref"].rsplit("/", 1)[1] for option in options if "$ref" in option)


def _alternatives(schema: JsonObject) -> list[JsonObject]:
    return list(schema.get("anyOf", [schema]))


def _is_account_scope(param: JsonObject) -> bool:
    """A required scope object that can be ``{"type": "account"}`` (``apps/secrets``)."""
    schema = param.get("schema", {})
    scope_type = schema.get("properties", {}).get("type", {})
    return (
        bool(param.get("required"))
        and schema.get("type") == "object"
        and "account" in scope_type.get("enum", [])
    )


def _cursor_kind(endpoint: _ListEndpoint) -> CursorKind:
    if "starting_after" in endpoint.query_params:
        return "starting_after"
    if endpoint.paged_by_token:
        return "page"
    return "none"


def _time_format(schema: JsonObject) -> TimeFormat:
    return "iso" if schema.get("format") == "date-time" else "unix"


def _types(summary: JsonObject) -> list[str]:
    value = summary["type"]
    return value if isinstance(value, list) else [value]


def _nullable(summary: JsonObject) -> JsonObject:
    if "type" in summary:
        types = [_type for _type in _types(summary) if _type != "null"]
        return {**summary, "type": [*types, "null"]}
    if "anyOf" in summary:
        return {"anyOf": [*summary["anyOf"], {"type": "null"}]}
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the catalog generated from ``--spec`` to ``--out``."""
    parser = argparse.ArgumentParser(
        prog="python -m stripe_sync.sources.stripe.catalog_generator",
        description="Generate the Stripe catalog from a Stripe OpenAPI specification.",
    )
    parser.add_argument(
        "--spec",
        type=Path,
        default=DEFAULT_SPEC_PATH,
        help="OpenAPI spec (JSON, .xz or .gz; default: the packaged copy)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_CATALOG_PATH, help="catalog to write")
    args = parser.parse_args(argv)
    try:
        catalog = generate_catalog(read_spec(args.spec))
    except ConfigError as exc:
        print(f"catalog_generator: {exc}", file=sys.stderr)
        return 2
    args.out.write_bytes(catalog.encode())
    print(
        f"wrote {len(catalog.streams)} streams, {len(catalog.excluded)} exclusions "
        f"(API {catalog.api_version}) to {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
