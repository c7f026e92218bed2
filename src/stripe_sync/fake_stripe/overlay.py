"""Changes made through the API over a collection's seeded objects.

Seeded objects keep their index as their *ordinal* (0 = newest seeded). An object created through
the API gets ordinal ``-(k + 1)`` for the k-th one, so that ordinals still ascend newest first:
added objects are never older than what was there before (their ``created`` is the later of the
clock and the newest object's). An :class:`Overlay` holds the current body of every changed or
added object and the ordinals of deleted ones; a :class:`MergedSequence` lists added and seeded
positions together without copying the seeded arrays, skipping deleted ones.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload


@dataclass
class Overlay:
    """What the API changed in one collection; ``generation`` counts the changes."""

    bodies: dict[int, dict[str, Any]] = field(default_factory=dict)
    added: list[int] = field(default_factory=list)
    """``created`` of each added object, in the order they were added."""
    deleted: set[int] = field(default_factory=set)
    generation: int = 0

    def __bool__(self) -> bool:
        return self.generation > 0

    def added_ordinals(self) -> list[int]:
        """The ordinals of the added objects that are not deleted, newest first."""
        return [o for o in range(-len(self.added), 0) if o not in self.deleted]

    def deleted_seeded(self) -> list[int]:
        """Deleted seeded ordinals (= positions in the seeded arrays), ascending."""
        return sorted(o for o in self.deleted if o >= 0)


class MergedSequence(Sequence[int]):
    """``head`` followed by ``tail`` without the tail positions in ``skipped`` (ascending)."""

    def __init__(self, head: Sequence[int], tail: Sequence[int], skipped: list[int]) -> None:
        self._head = head
        self._tail = tail
        self._skipped = skipped

    def __len__(self) -> int:
        return len(self._head) + len(self._tail) - len(self._skipped)

    @overload
    def __getitem__(self, position: int) -> int: ...

    @overload
    def __getitem__(self, position: slice) -> Sequence[int]: ...

    def __getitem__(self, position: int | slice) -> int | Sequence[int]:
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError(position)
        if position < len(self._head):
            return self._head[position]
        wanted = position - len(self._head)
        # the tail position t holding the wanted-th kept item: t - (skipped ≤ t) == wanted
        tail_position = wanted
        while True:
            moved = wanted + bisect_right(self._skipped, tail_position)
            if moved == tail_position:
                return self._tail[tail_position]
            tail_position = moved

    def __iter__(self) -> Iterator[int]:
        yield from self._head
        skipped = set(self._skipped)
        for position, value in enumerate(self._tail):
            if position not in skipped:
                yield value
