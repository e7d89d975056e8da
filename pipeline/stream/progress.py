"""A partition that stops moving is a stall, even when nothing fails.

:mod:`pipeline.stream.health` hears of failures from the retry loops. A
partition can also stop with no error at all: records wait on it, and its
committed offset stays where it is (issue 16: after a rebalance the owner of
one partition held its commit below records it never read again, idle, with
``/healthz`` saying ready). :class:`PartitionProgress` looks at each partition
this worker consumes: one with records past its committed offset whose
committed offset has not moved since the last look is reported to
:class:`~pipeline.stream.health.Health` as failing (``partition <topic>[<n>]``),
so once that lasts ``CG_STALL_AFTER_SECONDS`` ``/healthz`` answers 503 with
the reason and ``cg_stalled{what="partition <topic>[<n>]"}`` is 1. A
partition caught up, or whose commit moved, is well again. Nothing is judged
while the worker rebalances (recovery legitimately holds commits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class Reporter(Protocol):
    def failing(self, what: str, error: BaseException | str) -> None: ...

    def recovered(self, what: str) -> None: ...


@dataclass
class PartitionProgress:
    health: Reporter
    _committed: dict[tuple[str, int], int] = field(default_factory=dict)

    @staticmethod
    def name(topic: str, partition: int) -> str:
        return f"partition {topic}[{partition}]"

    def observe(self, positions: Mapping[tuple[str, int], tuple[int | None, int | None]], *,
                rebalancing: bool) -> None:
        """One look: ``positions`` maps (topic, partition) to (committed offset, end offset) for
        every partition consumed now (None: not known yet)."""
        for key in [k for k in self._committed if rebalancing or k not in positions]:
            del self._committed[key]
            self.health.recovered(self.name(*key))
        if rebalancing:
            return
        for key, (committed, end) in positions.items():
            if committed is None or end is None:
                continue
            before = self._committed.get(key)
            self._committed[key] = committed
            if end > committed and before == committed:
                self.health.failing(self.name(*key), f"committed offset {committed} has not moved with "
                                    f"{end - committed} record(s) after it")
            else:
                self.health.recovered(self.name(*key))
