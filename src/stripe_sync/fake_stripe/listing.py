"""Stripe's list semantics over a newest-first sequence: limit, cursors, ``created`` filters, pages.

A :class:`View` is what one list URL pages through — a whole stream, the children of one parent,
the subscriptions of one status — as sorted keys (negated ``created``, so ascending) beside the
object indexes at those positions. Paging is arithmetic on positions: ``starting_after`` walks on
from the given object, ``ending_before`` back towards newer ones, both inside the ``created``
window; objects sharing a second keep their order, so every object is listed exactly once.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stripe_sync.fake_stripe import errors

DEFAULT_LIMIT = 10
MAX_LIMIT = 100
PAGING_PARAMS = frozenset({"limit", "starting_after", "ending_before"})
_CREATED_BOUNDS = ("gt", "gte", "lt", "lte")


@dataclass(frozen=True)
class View:
    """A newest-first sequence of one collection's objects."""

    keys: Sequence[int]
    """``-created`` of each position, ascending."""
    indices: Sequence[int]
    """The collection index (ordinal) of the object at each position, ascending."""
    render: Callable[[int], dict[str, Any]]
    """The object with a given collection index."""
    find: Callable[[str], int | None]
    """The collection index of an id (None when no such object exists; a deleted object's index
    when it was deleted)."""
    object_name: str


@dataclass(frozen=True)
class PageRequest:
    """The paging parameters of one list request, validated."""

    limit: int | None = DEFAULT_LIMIT
    """None: the endpoint takes no paging parameters and answers with everything."""
    starting_after: str | None = None
    ending_before: str | None = None
    created_gte: int | None = None
    created_lt: int | None = None


def parse_page_request(
    params: Mapping[str, str],
    *,
    other_params: Collection[str],
    created_filter: bool,
    paging: bool = True,
) -> PageRequest:
    """Validate paging and ``created`` parameters; anything not in ``other_params`` is unknown.

    ``paging=False`` is for endpoints without ``limit`` and cursors, which list everything.
    """
    created_gte: int | None = None
    created_lt: int | None = None
    for name, value in params.items():
        if (paging and name in PAGING_PARAMS) or name in other_params or name.startswith("expand"):
            continue
        bound = _created_bound(name)
        if bound is not None and not created_filter:
            raise errors.parameter_unknown("created")
        if bound is None or bound not in (*_CREATED_BOUNDS, "eq"):
            raise errors.parameter_unknown(name)
        second = _integer(name, value)
        if bound in ("gt", "gte"):
            lowest = second + 1 if bound == "gt" else second
            created_gte = lowest if created_gte is None else max(created_gte, lowest)
        if bound in ("lt", "lte", "eq"):
            highest = second if bound == "lt" else second + 1
            created_lt = highest if created_lt is None else min(created_lt, highest)
        if bound == "eq":
            created_gte = second if created_gte is None else max(created_gte, second)
    if not paging:
        return PageRequest(None, None, None, created_gte, created_lt)
    limit = _integer("limit", params["limit"]) if "limit" in params else DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.parameter_invalid(
            "limit", f"This value must be between 1 and {MAX_LIMIT} (got {limit})."
        )
    starting_after = params.get("starting_after") or None
    ending_before = params.get("ending_before") or None
    if starting_after and ending_before:
        raise errors.exclusive_parameters("starting_after", "ending_before")
    return PageRequest(limit, starting_after, ending_before, created_gte, created_lt)


def list_page(view: View, request: PageRequest, url: str) -> dict[str, Any]:
    """The list object Stripe returns for ``request`` over ``view``."""
    keys = view.keys
    start = 0 if request.created_lt is None else bisect_right(keys, -request.created_lt)
    stop = len(keys) if request.created_gte is None else bisect_right(keys, -request.created_gte)
    limit = stop if request.limit is None else request.limit
    if request.ending_before is not None:
        end = min(stop, _position(view, request.ending_before, "ending_before")[0])
        begin = max(start, end - limit)
        has_more = begin > start
    else:
        begin = start
        if request.starting_after is not None:
            position, present = _position(view, request.starting_after, "starting_after")
            begin = max(start, position + 1 if present else position)
        end = min(stop, begin + limit)
        has_more = end < stop
    indices = view.indices
    render = view.render
    data = [render(indices[position]) for position in range(begin, max(begin, end))]
    return {"object": "list", "data": data, "has_more": has_more, "url": url}


def _position(view: View, object_id: str, param: str) -> tuple[int, bool]:
    """Where ``object_id`` is in the view, and whether it is there: an object the view leaves out
    (deleted since, or of another status) is placed where it would be, so a cursor survives it."""
    index = view.find(object_id)
    if index is None:
        raise errors.resource_missing(view.object_name, object_id, param)
    position = bisect_left(view.indices, index)
    return position, position < len(view.indices) and view.indices[position] == index


def _created_bound(name: str) -> str | None:
    """``created`` → ``eq``, ``created[gte]`` → ``gte`` (any bracketed word); None otherwise."""
    if name == "created":
        return "eq"
    if name.startswith("created[") and name.endswith("]"):
        return name[len("created[") : -1]
    return None


def _integer(param: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise errors.parameter_invalid(param, f"Invalid integer: {value}") from None
