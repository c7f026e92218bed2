"""List semantics: limit, cursors both ways, created windows, every object exactly once."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stripe_sync.fake_stripe.errors import StripeError
from stripe_sync.fake_stripe.listing import View, list_page, parse_page_request


def make_view(created: list[int]) -> View:
    """A view of objects ``o0, o1, ...`` with the given (non-increasing) creation times."""
    ordered = sorted(created, reverse=True)

    def find(object_id: str) -> int | None:
        number = int(object_id[1:]) if object_id[1:].isdigit() else -1
        return number if 0 <= number < len(ordered) else None

    return View(
        keys=[-second for second in ordered],
        indices=range(len(ordered)),
        render=lambda index: {"id": f"o{index}", "created": ordered[index]},
        find=find,
        object_name="thing",
    )


def page(view: View, **params: str | int) -> dict:
    request = parse_page_request(
        {name: str(value) for name, value in params.items()}, other_params=(), created_filter=True
    )
    return list_page(view, request, "/v1/things")


def walk(view: View, **params: str | int) -> list[dict]:
    seen: list[dict] = []
    cursor: dict[str, str] = {}
    while True:
        result = page(view, **params, **cursor)
        seen += result["data"]
        if not result["has_more"]:
            return seen
        cursor = {"starting_after": result["data"][-1]["id"]}


@given(
    st.lists(st.integers(min_value=100, max_value=110), max_size=60),
    st.integers(min_value=1, max_value=7),
    st.integers(min_value=99, max_value=112),
    st.integers(min_value=99, max_value=112),
)
def test_walking_a_window_lists_each_object_in_it_once(created, limit, gte, lt):
    view = make_view(created)
    listed = walk(view, limit=limit, **{"created[gte]": gte, "created[lt]": lt})
    expected = [o for o in map(view.render, view.indices) if gte <= o["created"] < lt]
    assert listed == expected


def test_defaults_and_list_object():
    result = page(make_view([5] * 25))
    assert result["object"] == "list" and result["url"] == "/v1/things"
    assert len(result["data"]) == 10 and result["has_more"] is True


def test_ending_before_pages_towards_newer_objects():
    view = make_view(list(range(100, 120)))
    result = page(view, limit=3, ending_before="o10")
    assert [o["id"] for o in result["data"]] == ["o7", "o8", "o9"]
    assert result["has_more"] is True
    result = page(view, limit=5, ending_before="o3")
    assert [o["id"] for o in result["data"]] == ["o0", "o1", "o2"]
    assert result["has_more"] is False


def test_gt_lte_and_exact_created():
    view = make_view(list(range(100, 110)))
    assert [o["created"] for o in walk(view, **{"created[gt]": 104, "created[lte]": 106})] == [
        106,
        105,
    ]
    assert [o["created"] for o in walk(view, created=103)] == [103]


@pytest.mark.parametrize(
    ("params", "status", "param"),
    [
        ({"limit": "0"}, 400, "limit"),
        ({"limit": "101"}, 400, "limit"),
        ({"limit": "ten"}, 400, "limit"),
        ({"created[gte]": "soon"}, 400, "created[gte]"),
        ({"created[after]": "1"}, 400, "created[after]"),
        ({"colour": "red"}, 400, "colour"),
        ({"starting_after": "o999"}, 404, "starting_after"),
        ({"ending_before": "nope"}, 404, "ending_before"),
    ],
)
def test_bad_parameters_get_stripe_errors(params, status, param):
    with pytest.raises(StripeError) as raised:
        page(make_view([1, 2, 3]), **params)
    assert raised.value.status == status
    assert raised.value.body()["error"]["param"] == param


def test_created_is_unknown_where_the_endpoint_has_no_created_filter():
    with pytest.raises(StripeError) as raised:
        parse_page_request({"created[gte]": "1"}, other_params=(), created_filter=False)
    assert raised.value.body()["error"]["message"] == "Received unknown parameter: created"


def test_both_cursors_at_once_are_refused():
    with pytest.raises(StripeError, match="only specify one"):
        page(make_view([1, 2]), starting_after="o0", ending_before="o1")


def test_endpoints_without_paging_list_everything_and_refuse_limit():
    request = parse_page_request({}, other_params=(), created_filter=False, paging=False)
    result = list_page(make_view(list(range(150))), request, "/v1/all")
    assert len(result["data"]) == 150 and result["has_more"] is False
    with pytest.raises(StripeError, match="unknown parameter: limit"):
        parse_page_request({"limit": "5"}, other_params=(), created_filter=False, paging=False)
