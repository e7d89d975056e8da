"""When each subject is next due for a time-based re-check.

A rolling window or relative date makes membership change at a local midnight
with no event; the evaluator says which day, and this schedule remembers it.
In memory, per worker, rebuilt from the profile table after each rebalance
(the day is in each stored value's header, so that needs no decoding).
"""

from __future__ import annotations

import heapq


class RecheckSchedule:
    def __init__(self) -> None:
        self._heap: list[tuple[int, str]] = []
        self._due: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._due)

    def set(self, subject: str, day: int | None) -> None:
        """Schedule (or, with None, unschedule) a subject; the latest call wins."""
        if day is None:
            self._due.pop(subject, None)
            return
        if self._due.get(subject) == day:
            return
        self._due[subject] = day
        heapq.heappush(self._heap, (day, subject))

    def pop_due(self, today: int, limit: int = 10_000) -> list[str]:
        """Subjects due on or before ``today`` (at most ``limit``), removed from the schedule."""
        due: list[str] = []
        while self._heap and self._heap[0][0] <= today and len(due) < limit:
            day, subject = heapq.heappop(self._heap)
            if self._due.get(subject) == day:  # skip entries a later set() replaced
                del self._due[subject]
                due.append(subject)
        return due

    def clear(self) -> None:
        self._heap.clear()
        self._due.clear()

    def next_day(self) -> int | None:
        while self._heap and self._due.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None
