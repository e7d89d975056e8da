"""A bounded memo that forgets its oldest entry at a time, never all of them at once.

The hot path memoises what recurs across events (a product's keys and rows, an
event's key set's groups and scalar nodes, a comparison's answer per value and day). Each memo is bounded, and was
emptied whole on reaching its bound: freeing 100,000 entries of nested tuples
and dicts at once held the worker's one event loop for tens of milliseconds,
and the memos filled up at the same point of the same traffic, so the latency
benchmark's slowest probes came in one cluster (~0.2 s, docs/benchmarks.md),
followed by a burst of misses. :class:`Memo` is an ``OrderedDict`` (lookups are
a dict's) that drops its oldest entry for each new one past ``limit``: about
0.5 µs per miss, and no pause.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")

DEFAULT_LIMIT = 100_000


class Memo(OrderedDict[K, V]):
    """First in, first out past ``limit`` entries; read with ``get`` as any dict."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        super().__init__()
        if limit < 1:
            raise ValueError("a memo holds at least one entry")
        self.limit = limit

    def put(self, key: K, value: V) -> V:
        """Remember ``value`` for ``key`` (the oldest entry goes when full) and return it."""
        if key not in self and len(self) >= self.limit:
            self.popitem(last=False)
        self[key] = value
        return value
