"""Offsets as merged ranges: a partition's accounted offsets stay a handful of ranges, not millions of ints."""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Iterable

Offset = tuple[str, int, int]  # (topic, partition, offset)


class RangeSet:
    """Merged inclusive integer ranges."""

    def __init__(self, ranges: Iterable[Iterable[int]] = ()):
        self._ranges: list[tuple[int, int]] = []
        self.add_ranges(ranges)

    def add(self, offsets: Iterable[int]) -> None:
        self.add_ranges(runs(sorted(set(offsets))))

    def add_ranges(self, ranges: Iterable[Iterable[int]]) -> None:
        """Merge in O(batch log batch + existing ranges) with one linear pass over both sorted lists."""
        merged: list[tuple[int, int]] = []
        for first, last in heapq.merge(self._ranges, sorted((int(a), int(b)) for a, b in ranges)):
            if merged and first <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
            else:
                merged.append((first, last))
        self._ranges = merged

    def __contains__(self, x: int) -> bool:
        i = self._covering(x)
        return i >= 0 and self._ranges[i][1] >= x

    def first_gap(self, start: int) -> int:
        """First value >= start not in the set; ranges are merged, so the end of the covering one + 1."""
        return self._ranges[self._covering(start)][1] + 1 if start in self else start

    @property
    def ranges(self) -> list[tuple[int, int]]:
        return list(self._ranges)

    def _covering(self, x: int) -> int:
        return bisect.bisect_right(self._ranges, (x, math.inf)) - 1


def runs(sorted_values: list[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for v in sorted_values:
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def ranges_json(offsets: Iterable[Offset]) -> dict[str, dict[str, list[list[int]]]]:
    """The manifest's form: {topic: {partition: [[first, last], ...]}}."""
    by_tp: dict[tuple[str, int], list[int]] = {}
    for topic, partition, offset in offsets:
        by_tp.setdefault((topic, partition), []).append(offset)
    out: dict[str, dict[str, list[list[int]]]] = {}
    for (topic, partition), values in sorted(by_tp.items()):
        out.setdefault(topic, {})[str(partition)] = [list(r) for r in runs(sorted(set(values)))]
    return out
