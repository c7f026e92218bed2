"""Complete embedded lists: an object's list field (invoice ``lines``, subscription ``items``)
carries only its first page; page the rest through its own list path so the record is whole."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from stripe_sync.sources.stripe.stream_context import StreamContext

PAGE_LIMIT = 100


def embedded_field_for(parent_lists: dict[str, str], child_path: str, param: str) -> str | None:
    """The parent's field that embeds the child list ``child_path?param={id}``, if any."""
    for field_name, template in parent_lists.items():
        split = urlsplit(template)
        if split.path == child_path and dict(parse_qsl(split.query)).get(param) == "{id}":
            return field_name
    return None


async def complete_embedded_lists(
    context: StreamContext,
    objects: list[dict[str, Any]],
    lists: dict[str, str] | None = None,
) -> None:
    """Fetch the missing pages of every embedded list with ``has_more`` (concurrently).

    ``lists`` (field → list path template) defaults to the context stream's embedded lists.
    """
    jobs = []
    for obj in objects:
        for field_name, template in (lists or context.stream.embedded_lists).items():
            value = obj.get(field_name)
            if isinstance(value, dict) and value.get("has_more") and obj.get("id"):
                jobs.append(_complete(context, value, template, str(obj["id"])))
    if jobs:
        await asyncio.gather(*jobs)


async def _complete(
    context: StreamContext, embedded: dict[str, Any], template: str, object_id: str
) -> None:
    split = urlsplit(template.replace("{id}", object_id))
    endpoint = urlsplit(template).path
    params: dict[str, Any] = dict(parse_qsl(split.query))
    items: list[dict[str, Any]] = list(embedded.get("data") or [])
    has_more = True
    while has_more:
        page_params = {**params, "limit": PAGE_LIMIT}
        if items:
            page_params["starting_after"] = items[-1]["id"]
        response = await context.get(split.path, page_params, endpoint=endpoint)
        page = response.body.get("data") or []
        items.extend(page)
        has_more = bool(response.body.get("has_more")) and bool(page)
    embedded["data"] = items
    embedded["has_more"] = False
