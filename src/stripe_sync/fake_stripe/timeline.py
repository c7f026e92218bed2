"""When the seeded objects of a stream were created: a skewed, clustered history, stored compactly.

A timeline is an ``array('q')`` of *negated* ``created`` seconds in ascending order, so position 0 is
the newest object and ``bisect`` finds time bounds directly. Activity grows over the years (the
density doubles every year, so recent years are denser) and some moments are bursts in which up to
``MAX_CLUSTER`` objects share one second, as imports and batch jobs do on real accounts.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterable

YEAR_SECONDS = 365 * 86_400
GROWTH_PER_YEAR = 2.0
CLUSTER_PROBABILITY = 0.02
MAX_CLUSTER = 300
_CLUSTER_SHAPE = 1.1  # Pareto tail of cluster sizes: most are small, a few reach MAX_CLUSTER


def seed_timeline(
    key: int,
    count: int,
    start: int,
    end: int,
    extra_seconds: Iterable[tuple[int, int]] = (),
) -> array[int]:
    """``count`` creation times in ``[start, end]`` plus ``(second, n)`` groups, newest first, negated."""
    rng = random.Random(key)
    span = max(end - start, 1)
    rate = math.log(GROWTH_PER_YEAR) / YEAR_SECONDS
    growth = math.expm1(rate * span)
    times = array("q")
    while len(times) < count:
        offset = int(math.log1p(rng.random() * growth) / rate)
        second = -min(start + offset, end)
        size = 1
        if rng.random() < CLUSTER_PROBABILITY:
            size = int(2.0 * (1.0 - rng.random()) ** (-1.0 / _CLUSTER_SHAPE))
        times.extend([second] * min(size, MAX_CLUSTER, count - len(times)))
    for second, size in extra_seconds:
        times.extend([-second] * size)
    return array("q", sorted(times))
