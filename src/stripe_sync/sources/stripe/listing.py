"""Streams that cannot be split by time: cursor-only lists, one-shot lists, fan-out lists (one
list per parent object) and ``backfill_limit`` (the newest N objects of a range)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Coroutine, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from stripe_sync.sources.stripe.catalog import StreamDef
from stripe_sync.sources.stripe.client import StripeResponse
from stripe_sync.sources.stripe.embedded import complete_embedded_lists, embedded_field_for
from stripe_sync.sources.stripe.segments import PAGE_SIZE
from stripe_sync.sources.stripe.stream_context import StreamContext

EVENTS_PATH = "/v1/events"
MAX_EVENT_TYPES = 20
EVENTS_KEPT_S = 29 * 86_400
"""A previous listing older than this lists every parent again: the events that say which
parents changed since may be gone (Stripe keeps 30 days)."""
SINCE_MARGIN_S = 60
"""A later listing of a per-parent stream starts this long before the previous one began, so a
parent created while it ran (and listed by neither) cannot slip between them."""


async def pages(
    context: StreamContext,
    stream: StreamDef,
    params: dict[str, Any],
    cursor: str | None = None,
    *,
    path: str | None = None,
) -> AsyncIterator[tuple[StripeResponse, list[dict[str, Any]], str | None]]:
    """Page a list from ``cursor``: yields (response, objects, cursor after this page)."""
    path = path or stream.list_path
    query = {**stream.default_params, **params}
    if stream.supports_limit:
        query.setdefault("limit", PAGE_SIZE)
    while True:
        page_query = dict(query)
        if cursor is not None and stream.cursor == "starting_after":
            page_query["starting_after"] = cursor
        elif cursor is not None and stream.cursor == "page":
            page_query["page"] = cursor
        response = await context.get(path, page_query, endpoint=stream.list_path)
        objects: list[dict[str, Any]] = response.body.get("data") or []
        has_more = False
        if stream.cursor == "starting_after":
            has_more = bool(response.body.get("has_more")) and bool(objects)
            cursor = objects[-1]["id"] if objects else cursor
        elif stream.cursor == "page":
            cursor = _page_token(response.body.get("next_page_url"))
            has_more = cursor is not None
        yield response, objects, cursor
        if not has_more:
            return


async def children_from_parents(
    context: StreamContext,
    response: StripeResponse,
    parents: list[dict[str, Any]],
    field_name: str,
    parent: StreamDef,
) -> None:
    """Emit the children embedded in ``parents[*][field_name]`` (completed first)."""
    await complete_embedded_lists(context, parents, {field_name: parent.embedded_lists[field_name]})
    children = [
        child
        for obj in parents
        if isinstance(obj.get(field_name), dict)
        for child in obj[field_name].get("data") or []
    ]
    await context.emit_objects(response, children)


def _page_token(next_page_url: Any) -> str | None:
    if not isinstance(next_page_url, str) or not next_page_url:
        return None
    return dict(parse_qsl(urlsplit(next_page_url).query)).get("page")


async def list_by_cursor(context: StreamContext, saved: Any, *, follows_events: bool) -> None:
    """Page the whole list; the state after each page holds the cursor (resume point).

    Once listed whole, a stream whose changes all come as events (``follows_events``: it has
    event types and the read applies events) is kept current by them and not listed again;
    any other is listed from the top on every run.
    """
    if isinstance(saved, dict) and saved.get("complete") and follows_events:
        await context.emit_state(saved)
        return
    saved = saved if isinstance(saved, dict) and not saved.get("complete") else {}
    cursor = saved.get("cursor")
    async for response, objects, next_cursor in pages(context, context.stream, {}, cursor):
        await context.emit_objects(response, objects)
        cursor = next_cursor
        await context.emit_state({"cursor": cursor})
    await context.emit_state({"cursor": cursor, "complete": True})


async def list_newest(context: StreamContext, limit: int, params: dict[str, Any]) -> None:
    """The newest ``limit`` objects (within ``params``' time filter), without splitting."""
    remaining = limit
    query = dict(params)
    async for response, objects, _ in pages(context, context.stream, query):
        kept = objects[:remaining]
        await context.emit_objects(response, kept)
        remaining -= len(kept)
        if remaining <= 0:
            break
        query["limit"] = min(PAGE_SIZE, remaining)
    await context.emit_state({"complete": True, "newest": limit})


async def list_per_parent(context: StreamContext, parent: StreamDef, saved: Any) -> None:
    """Fan-out: page the parent list and, for each parent object, the child list.

    When the parent embeds the child list (subscription ``items``), the children come from the
    parent page itself (its embedded lists completed), without a request per parent. Otherwise the
    children of one parent page are fetched concurrently, as many at a time as the stream's share of
    the budget keeps busy; when one of them fails the others are cancelled (their requests are
    counted all the same). The state after each parent page holds the parent cursor.

    A request per parent is what such a stream costs, so after its first complete listing it
    lists only the children of parents created since the previous one began (``listed_at``, less
    a minute), when the parent list has a ``created`` filter, and of parents whose events say
    they changed since then (:func:`changed_objects`).
    """
    fan_out = context.stream.fan_out
    assert fan_out is not None
    saved = saved if isinstance(saved, dict) else {}
    if saved.get("complete"):
        since, started = saved.get("listed_at"), int(time.time())
        parent_cursor = None
    else:
        since, started = saved.get("since"), int(saved.get("started_at") or time.time())
        parent_cursor = saved.get("parent_cursor")
    limiter = asyncio.Semaphore(context.desired_in_flight())

    async def children(parent_object: dict[str, Any]) -> None:
        parent_id = parent_object.get(fan_out.parent_field)
        if not parent_id:
            return
        async with limiter:
            params = {fan_out.param: parent_id}
            async for response, objects, _ in pages(context, context.stream, params):
                await context.emit_objects(response, objects)

    embedded = embedded_field_for(parent.embedded_lists, context.stream.list_path, fan_out.param)
    params: dict[str, Any] = {}
    fresh = isinstance(since, int) and since > time.time() - EVENTS_KEPT_S
    if embedded is None and fresh and parent.time_filter is not None:
        params[parent.time_filter.gte_param] = since - SINCE_MARGIN_S
    else:
        since = None
    listed: set[str] = set()
    async for response, parents, next_cursor in pages(context, parent, params, parent_cursor):
        if embedded is not None:
            await children_from_parents(context, response, parents, embedded, parent)
        else:
            await _all_or_none(children(obj) for obj in parents)
            listed.update(str(obj.get(fan_out.parent_field)) for obj in parents)
        parent_cursor = next_cursor
        state = {"parent_cursor": parent_cursor, "started_at": started}
        await context.emit_state({**state, "since": since} if since is not None else state)
    if since is not None:
        changed = await changed_objects(context, parent, since - SINCE_MARGIN_S)
        await _all_or_none(
            children({fan_out.parent_field: object_id}) for object_id in changed - listed
        )
    await context.emit_state(
        {"parent_cursor": parent_cursor, "complete": True, "listed_at": started}
    )


async def changed_objects(context: StreamContext, stream: StreamDef, since: int) -> set[str]:
    """Ids of ``stream``'s objects that its events say changed since ``since`` (one list of
    ``/v1/events`` with the stream's event types, at most 20 of them, as Stripe allows)."""
    if not stream.event_types:
        return set()
    params: dict[str, Any] = {"created[gte]": since, "limit": PAGE_SIZE}
    for number, event_type in enumerate(stream.event_types[:MAX_EVENT_TYPES]):
        params[f"types[{number}]"] = event_type
    changed: set[str] = set()
    while True:
        response = await context.get(EVENTS_PATH, params, endpoint=EVENTS_PATH)
        events = [e for e in response.body.get("data") or [] if isinstance(e, dict)]
        for event in events:
            data = event.get("data")
            obj = data.get("object") if isinstance(data, dict) else None
            if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                changed.add(obj["id"])
        if not response.body.get("has_more") or not events:
            return changed
        params["starting_after"] = events[-1]["id"]


async def _all_or_none(work: Iterable[Coroutine[Any, Any, None]]) -> None:
    """Run ``work`` concurrently; the first failure cancels the rest and is raised as is."""
    try:
        async with asyncio.TaskGroup() as group:
            for item in work:
                group.create_task(item)
    except ExceptionGroup as failures:
        raise failures.exceptions[0] from None
