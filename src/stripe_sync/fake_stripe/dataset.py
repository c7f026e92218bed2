"""One account's seeded data: every stream of the catalog as compact arrays plus lazy object bodies.

A top-level stream is a :class:`StreamCollection`: a timeline (8 bytes per object) and an id codec;
object ``i`` (0 = newest) is built when it is served. Objects that belong to a parent — the
children of fan-out streams (``subscription_items?subscription=``) and the items of embedded lists
with a path of their own (``/v1/invoices/{id}/lines``) — are a :class:`ChildCollection` addressed by
(parent index, position), sized by a formula, so they cost no memory either. Embedded lists show
their first page inside the parent and page the rest through their ``url``.

Objects created, changed or deleted through the API live in each collection's
:class:`~stripe_sync.fake_stripe.overlay.Overlay`: a collection addresses its objects by *ordinal*
(the seeded index, or a negative number for added objects; see :mod:`.overlay`). The platform and
each connected account hold one :class:`AccountData` each, built from these classes with a key
derived from the seed and the account id, so every account serves its own objects.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any

from stripe_sync.fake_stripe import subscription_histories
from stripe_sync.fake_stripe.config import DEFAULT_OBJECTS, FakeStripeConfig, ListSize
from stripe_sync.fake_stripe.errors import invalid_value
from stripe_sync.fake_stripe.ids import IdCodec, derive_key, mix64, prefix_for
from stripe_sync.fake_stripe.listing import View
from stripe_sync.fake_stripe.object_factory import TARGET_BYTES, ObjectFactory
from stripe_sync.fake_stripe.overlay import MergedSequence, Overlay
from stripe_sync.fake_stripe.timeline import YEAR_SECONDS, seed_timeline
from stripe_sync.protocol.errors import ConfigError
from stripe_sync.sources.stripe.catalog import StreamDef, StripeCatalog

POSITION_BITS = 20
"""Children of one parent are numbered below ``2**POSITION_BITS``; the parent index sits above."""
MAX_CHILDREN = (1 << POSITION_BITS) - 1
EMBEDDED_PAGE = 10
"""Items of an embedded list shown inside the parent object (Stripe's default first page)."""
EVENTS_WINDOW_SECONDS = 30 * 86_400
SAME_SECOND_DEFAULT_AGE = 3600
REFERENCE_POOL_SIZE = 1024

HIDDEN_BY_DEFAULT: dict[str, tuple[str, str]] = {"subscriptions": ("status", "canceled")}
"""Lists that leave out a status unless a status filter is given (``status=all`` shows all)."""


class AccountData:
    """The seeded objects of one Stripe account, from the catalog and the config."""

    def __init__(self, catalog: StripeCatalog, config: FakeStripeConfig, account_id: str) -> None:
        self.account_id = account_id
        self.now = config.end_of_history()
        self.start = self.now - int(config.years * YEAR_SECONDS)
        self.key = derive_key(config.seed, account_id)
        self._check_names(catalog, config)
        self.streams: dict[str, StreamCollection] = {}
        for stream in catalog.streams.values():
            if stream.fan_out is None:
                self.streams[stream.name] = self._seed_stream(stream, config)
        self.children: dict[str, ChildCollection] = {}
        for stream in catalog.streams.values():
            if stream.fan_out is not None:
                self.children[stream.name] = self._fan_out(stream, config)
        for collection in self.streams.values():
            self._attach_embedded_lists(collection)
        for size in config.list_sizes:
            self._resize(size)
        self._by_object = {c.stream.object: c for c in reversed(self.streams.values()) if len(c)}
        self._reference_pools: dict[str, list[str]] = {}
        oldest = min((c.created(len(c) - 1) for c in self.streams.values() if len(c)), default=0)
        self.created = min(self.start, oldest) - 86_400
        """When the account was opened: a day before its oldest object."""
        accounts = catalog.streams.get("accounts")
        self._account_schema = accounts.json_schema if accounts else {}
        if config.subscription_histories:
            subscription_histories.install(self)

    @cached_property
    def account_object(self) -> dict[str, Any]:
        """``GET /v1/account``."""
        factory = ObjectFactory(
            self._account_schema,
            "account",
            key=derive_key(self.key, "account"),
            epoch=self.created,
            references=self.references,
            created_field="created",
        )
        return factory.build(0, self.account_id, self.created)

    def references(self, object_names: Sequence[str]) -> Sequence[str]:
        """The ids a reference to one of ``object_names`` picks from.

        Seeded objects of the first type that has any, spread over its whole history; else made-up
        ids of the first type. A pool instead of any object keeps references cheap (an id costs
        microseconds to encode, and objects carry up to a dozen references).
        """
        name = next((name for name in object_names if name in self._by_object), object_names[0])
        pool = self._reference_pools.get(name)
        if pool is None:
            collection = self._by_object.get(name)
            if collection is not None:
                count = len(collection)
                size = min(count, REFERENCE_POOL_SIZE)
                pool = [collection.object_id(number * count // size) for number in range(size)]
            else:
                codec = IdCodec(prefix_for(name), derive_key(self.key, name))
                pool = [codec.encode(number) for number in range(REFERENCE_POOL_SIZE)]
            self._reference_pools[name] = pool
        return pool

    def _seed_stream(self, stream: StreamDef, config: FakeStripeConfig) -> StreamCollection:
        count = config.count_for(stream.name)
        start = self.start
        if stream.name == "events":
            start = max(start, self.now - EVENTS_WINDOW_SECONDS)
        extra = [
            (shape.at if shape.at is not None else self.now - SAME_SECOND_DEFAULT_AGE, shape.count)
            for shape in config.same_second
            if shape.stream == stream.name
        ]
        key = derive_key(self.key, stream.name)
        timeline = seed_timeline(
            key, DEFAULT_OBJECTS if count is None else count, start, self.now, extra
        )
        return StreamCollection(self, stream, key, timeline)

    def _fan_out(self, stream: StreamDef, config: FakeStripeConfig) -> ChildCollection:
        assert stream.fan_out is not None
        parent = self.streams[stream.fan_out.parent_stream]
        properties = stream.json_schema.get("properties", {})
        return ChildCollection(
            self,
            parent,
            stream.name,
            stream.object,
            stream.json_schema,
            created_field=stream.created_field,
            parent_field=stream.fan_out.param if stream.fan_out.param in properties else None,
            total=config.count_for(stream.name),
            list_path=stream.list_path,
        )

    def _attach_embedded_lists(self, collection: StreamCollection) -> None:
        stream = collection.stream
        for field, template in stream.embedded_lists.items():
            path = template.partition("?")[0]
            fanned_out = [
                children
                for children in self.children.values()
                if children.parent is collection and children.list_path == path
            ]
            if fanned_out:
                collection.embedded[field] = EmbeddedList(fanned_out[0], template)
                continue
            item = stream.json_schema["properties"][field]["properties"]["data"]["items"]
            item_properties = item.get("properties", {})
            object_name = item_properties.get("object", {}).get("enum", [field])[0]
            children = ChildCollection(
                self,
                collection,
                f"{stream.name}.{field}",
                object_name,
                item,
                created_field="created" if "created" in item_properties else None,
                parent_field=_parent_field(item_properties, stream.object),
                list_path=path,
                target_bytes=0,  # items travel inside their parent's record: no padding
            )
            collection.embedded[field] = EmbeddedList(children, template)

    def _resize(self, size: ListSize) -> None:
        collection = self.streams.get(size.stream)
        embedded = collection.embedded.get(size.field) if collection else None
        if collection is None or embedded is None:
            raise ConfigError(f"{size.stream} has no embedded list {size.field!r}")
        if not 0 <= size.index < len(collection) or not 0 <= size.size <= MAX_CHILDREN:
            raise ConfigError(f"list size out of range: {size}")
        embedded.children.sizes[size.index] = size.size

    @staticmethod
    def _check_names(catalog: StripeCatalog, config: FakeStripeConfig) -> None:
        named = {*config.objects, *(shape.stream for shape in config.same_second)}
        unknown = sorted(named - {*catalog.streams, "*"})
        if unknown:
            raise ConfigError(f"unknown streams: {', '.join(unknown)}")
        for shape in config.same_second:
            if catalog.streams[shape.stream].fan_out is not None:
                raise ConfigError(f"same_second needs a top-level stream, not {shape.stream}")


class StreamCollection:
    """The objects of one top-level stream, newest first, with the API's changes over them."""

    def __init__(
        self, account: AccountData, stream: StreamDef, key: int, timeline: array[int]
    ) -> None:
        self.account = account
        self.stream = stream
        self.codec = IdCodec(prefix_for(stream.object), key)
        self.embedded: dict[str, EmbeddedList] = {}
        self.overlay = Overlay()
        self._key = key
        self._timeline = timeline
        self._status_views: dict[str, tuple[array[int], array[int]]] = {}

    def __len__(self) -> int:
        """The number of seeded objects (objects added through the API are not counted)."""
        return len(self._timeline)

    def object_id(self, ordinal: int) -> str:
        return self.codec.encode(ordinal if ordinal >= 0 else len(self._timeline) - ordinal - 1)

    def created(self, ordinal: int) -> int:
        if ordinal < 0:
            return self.overlay.added[-ordinal - 1]
        return -self._timeline[ordinal]

    def find(self, object_id: str) -> int | None:
        """The ordinal of an id (deleted objects included), None when no such object exists."""
        index = self.codec.decode(object_id)
        if index is None:
            return None
        seeded = len(self._timeline)
        if index < seeded:
            return index
        return seeded - index - 1 if index - seeded < len(self.overlay.added) else None

    def is_deleted(self, ordinal: int) -> bool:
        return ordinal in self.overlay.deleted

    def render(self, ordinal: int) -> dict[str, Any]:
        """The object as it is now (a stored body is returned as is: do not change it)."""
        changed = self.overlay.bodies.get(ordinal)
        if changed is not None:
            return changed
        object_id = self.codec.encode(ordinal)
        obj = self.factory.build(ordinal, object_id, -self._timeline[ordinal])
        for field, embedded in self.embedded.items():
            obj[field] = embedded.first_page(ordinal, object_id)
        return obj

    def add(self, created: int) -> tuple[int, dict[str, Any]]:
        """A new object created at ``created`` (or just after the newest): its ordinal and body.

        The body is a fresh schema-shaped object with empty embedded lists; the caller fills it
        in and stores it with :meth:`store`.
        """
        overlay = self.overlay
        newest = overlay.added[-1] if overlay.added else (self.created(0) if len(self) else 0)
        overlay.added.append(max(created, newest))
        ordinal = -len(overlay.added)
        object_id = self.object_id(ordinal)
        index = len(self._timeline) + len(overlay.added) - 1
        body = self.factory.build(index, object_id, overlay.added[-1])
        for field, embedded in self.embedded.items():
            body[field] = embedded.first_page(ordinal, object_id)
        return ordinal, body

    def store(self, ordinal: int, body: dict[str, Any]) -> None:
        self.overlay.bodies[ordinal] = body
        self._changed()

    def delete(self, ordinal: int) -> None:
        self.overlay.deleted.add(ordinal)
        self._changed()

    def _changed(self) -> None:
        self.overlay.generation += 1
        self._status_views.clear()

    @cached_property
    def factory(self) -> ObjectFactory:
        hidden = HIDDEN_BY_DEFAULT.get(self.stream.name)
        return ObjectFactory(
            self.stream.json_schema,
            self.stream.object,
            key=self._key,
            epoch=self.account.start,
            references=self.account.references,
            created_field=self.stream.created_field,
            skipped_fields=self.stream.embedded_lists,
            cycled_field=hidden[0] if hidden else None,
        )

    def full_view(self) -> View:
        """Every object that is not deleted, newest first."""
        overlay = self.overlay
        if not overlay:
            return View(
                self._timeline, range(len(self)), self.render, self.find, self.stream.object
            )
        head = overlay.added_ordinals()
        skipped = overlay.deleted_seeded()
        keys = MergedSequence([-self.created(o) for o in head], self._timeline, skipped)
        ordinals = MergedSequence(head, range(len(self)), skipped)
        return View(keys, ordinals, self.render, self.find, self.stream.object)

    def list_view(self, params: Mapping[str, str]) -> View:
        """The objects a list request sees (all of them, or those of the requested status)."""
        hidden = HIDDEN_BY_DEFAULT.get(self.stream.name)
        if hidden is None or params.get(hidden[0]) == "all":
            return self.full_view()
        field, hidden_value = hidden
        wanted = params.get(field)
        if wanted is not None and wanted not in self._field_values(field):
            raise invalid_value(field, wanted)
        label = wanted if wanted is not None else f"not {hidden_value}"
        if label not in self._status_views:
            value_of = self._value_of(field)
            keep: Callable[[Any], bool] = (
                (lambda value: value == wanted)
                if wanted is not None
                else (lambda value: value != hidden_value)
            )
            indices = array("q", (o for o in self.full_view().indices if keep(value_of(o))))
            keys = array("q", (-self.created(o) for o in indices))
            self._status_views[label] = (keys, indices)
        keys, indices = self._status_views[label]
        return View(keys, indices, self.render, self.find, self.stream.object)

    def _value_of(self, field: str) -> Callable[[int], Any]:
        """A field's current value by ordinal, without building unchanged seeded objects."""
        bodies = self.overlay.bodies
        seeded = self.factory.cycled_value

        def value_of(ordinal: int) -> Any:
            body = bodies.get(ordinal)
            return body.get(field) if body is not None else seeded(ordinal)

        return value_of

    def _field_values(self, field: str) -> list[str]:
        return list(self.stream.json_schema["properties"][field].get("enum", ()))


class ChildCollection:
    """Objects that belong to a parent object: fan-out children or the items of an embedded list.

    Child ``k`` of parent ``p`` has index ``p << POSITION_BITS | k``. Without explicit sizes each
    parent has one to three children; a ``total`` spreads that many evenly over the parents.
    Children are newest first, a second apart, starting at their parent's ``created``.
    """

    def __init__(
        self,
        account: AccountData,
        parent: StreamCollection,
        name: str,
        object_name: str,
        schema: dict[str, Any],
        *,
        created_field: str | None,
        parent_field: str | None,
        total: int | None = None,
        list_path: str,
        target_bytes: int = TARGET_BYTES,
    ) -> None:
        self.account = account
        self.parent = parent
        self.name = name
        self.object_name = object_name
        self.list_path = list_path
        self.sizes: dict[int, int] = {}
        self._schema = schema
        self._created_field = created_field
        self._parent_field = parent_field
        self._total = total
        self._target_bytes = target_bytes
        self._key = derive_key(account.key, name)
        self.codec = IdCodec(prefix_for(object_name), self._key)
        parents = len(parent)
        if total is not None and parents and (total + parents - 1) // parents > MAX_CHILDREN:
            raise ConfigError(f"{name}: more than {MAX_CHILDREN} children per parent")

    def size(self, parent_index: int) -> int:
        if parent_index < 0:
            return 0  # parents added through the API start without children
        explicit = self.sizes.get(parent_index)
        if explicit is not None:
            return explicit
        if self._total is None:
            return 1 + mix64(self._key ^ parent_index) % 3
        parents = len(self.parent)
        return (parent_index + 1) * self._total // parents - parent_index * self._total // parents

    def total(self) -> int:
        return sum(self.size(parent_index) for parent_index in range(len(self.parent)))

    def object_id(self, parent_index: int, position: int) -> str:
        return self.codec.encode(parent_index << POSITION_BITS | position)

    def created(self, parent_index: int, position: int) -> int:
        return min(self.account.now, self._newest(parent_index) - position)

    def _newest(self, parent_index: int) -> int:
        """When the first child of a parent was created (later ones are a second apart, older)."""
        return self.parent.created(parent_index) + self.size(parent_index) - 1

    def find(self, object_id: str) -> tuple[int, int] | None:
        """(parent index, position) of a child id, None when no such child exists."""
        index = self.codec.decode(object_id)
        if index is None:
            return None
        parent_index, position = index >> POSITION_BITS, index & MAX_CHILDREN
        if parent_index >= len(self.parent) or position >= self.size(parent_index):
            return None
        return parent_index, position

    def render(self, parent_index: int, position: int) -> dict[str, Any]:
        return self.renderer(parent_index)(position)

    def renderer(
        self, parent_index: int, parent_id: str | None = None
    ) -> Callable[[int], dict[str, Any]]:
        """Builds the children of one parent by position (what they share is worked out once)."""
        build = self.factory.build
        encode = self.codec.encode
        base = parent_index << POSITION_BITS
        now = self.account.now
        newest = self._newest(parent_index)
        parent_id = parent_id or self.parent.object_id(parent_index)

        def render(position: int) -> dict[str, Any]:
            index = base | position
            return build(index, encode(index), min(now, newest - position), parent_id)

        return render

    @cached_property
    def factory(self) -> ObjectFactory:
        return ObjectFactory(
            self._schema,
            self.object_name,
            key=self._key,
            epoch=self.account.start,
            references=self.account.references,
            created_field=self._created_field,
            parent_field=self._parent_field,
            target_bytes=self._target_bytes,
        )

    def view(self, parent_index: int) -> View:
        """The children of one parent, newest first."""
        count = self.size(parent_index)
        newest = self._newest(parent_index)
        keys = [-min(self.account.now, newest - position) for position in range(count)]

        def find(object_id: str) -> int | None:
            found = self.find(object_id)
            return found[1] if found is not None and found[0] == parent_index else None

        return View(keys, range(count), self.renderer(parent_index), find, self.object_name)


class EmbeddedList:
    """A list field of a parent object: the first page inline, the rest behind its ``url``."""

    def __init__(self, children: ChildCollection, url_template: str) -> None:
        self.children = children
        self.url_template = url_template

    def first_page(self, parent_index: int, parent_id: str) -> dict[str, Any]:
        count = self.children.size(parent_index)
        shown = min(count, EMBEDDED_PAGE)
        render = self.children.renderer(parent_index, parent_id)
        return {
            "object": "list",
            "data": [render(position) for position in range(shown)],
            "has_more": count > shown,
            "url": self.url_template.replace("{id}", parent_id),
        }


def _parent_field(properties: Mapping[str, Any], parent_object: str) -> str | None:
    """The item field holding its parent's id: named after the parent, or expandable to it."""
    for name, schema in properties.items():
        if name == parent_object or parent_object in schema.get("x-expandable", ()):
            return name
    return None
