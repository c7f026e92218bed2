"""Stripe's form encoding in the fake, and the merged sequence behind lists with writes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stripe_sync.fake_stripe.errors import StripeError
from stripe_sync.fake_stripe.forms import coerce, decode_form
from stripe_sync.fake_stripe.overlay import MergedSequence


def test_brackets_nest_and_number_keys_make_lists():
    body = (
        "email=a%40b.c&metadata[plan]=gold&metadata[seats]=3&items[1][price]=p2"
        "&items[0][price]=p1&expand[]=customer&expand[]=items&address[city]="
    )
    assert decode_form(body) == {
        "email": "a@b.c",
        "metadata": {"plan": "gold", "seats": "3"},
        "items": [{"price": "p1"}, {"price": "p2"}],
        "expand": ["customer", "items"],
        "address": {"city": ""},
    }


@pytest.mark.parametrize("body", ["[x]=1", "a[b=1", "a=1&a[b]=2"])
def test_malformed_names_are_400(body):
    with pytest.raises(StripeError) as caught:
        decode_form(body)
    assert caught.value.status == 400


def test_values_take_the_schema_type():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    assert coerce("x", {"n": "3"}, schema) == {"n": 3}
    assert coerce("b", "true", {"type": "boolean"}) is True
    assert coerce("s", "", {"type": ["string", "null"]}) is None
    assert coerce("u", "7", {"anyOf": [{"type": "integer"}, {"type": "string"}]}) == 7
    with pytest.raises(StripeError):
        coerce("n", "x", {"type": "integer"})


@given(
    head=st.lists(st.integers(), max_size=5),
    tail=st.lists(st.integers(), max_size=30),
    data=st.data(),
)
def test_merged_sequence_is_head_then_tail_without_skipped(head, tail, data):
    skipped = sorted(
        data.draw(st.sets(st.integers(0, max(len(tail) - 1, 0)))) & set(range(len(tail)))
    )
    merged = MergedSequence(head, tail, skipped)
    expected = head + [value for position, value in enumerate(tail) if position not in skipped]
    assert len(merged) == len(expected)
    assert [merged[i] for i in range(len(merged))] == expected
    assert list(merged) == expected
    assert list(merged[1:4]) == expected[1:4]
