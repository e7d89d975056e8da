"""Member IDs in sorted order, without holding a group in memory.

SSCAN walks a set without blocking Redis, but in hash order and, if the set
is resized during the walk, with some IDs twice. Sorting the IDs through
files on disk (sorted runs merged with :func:`heapq.merge`) removes the
repeats, keeps memory bounded whatever the group's size, and makes a re-run
over the same members byte-identical, so its checksums match.

The same order lets ``--delta`` compare today's members with the previous
export's snapshot (a sorted file of IDs) in one pass over both files.

IDs are stored one per line, so an ID with a line break could not be written.
The event contract enforces one ID policy (:mod:`schemas.identifiers`), but a
set written before that policy, or by hand, can hold an ID outside it: such an
ID is skipped, counted in :attr:`IdSorter.rejected` and reported in the
manifest (``skipped_reasons.invalid_id``), never dropped silently.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from schemas.identifiers import all_valid_ids, id_problem

log = logging.getLogger(__name__)
RUN_SIZE = 200_000


class IdSorter:
    """Collects IDs in any order, with repeats; yields them sorted and unique."""

    def __init__(self, workdir: Path, run_size: int = RUN_SIZE) -> None:
        self.workdir = workdir
        self.run_size = run_size
        self._rejected: set[str] = set()  # SSCAN may return a bad ID twice: count it once
        self._buffer: list[str] = []
        self._runs: list[Path] = []

    def add(self, ids: Iterable[str]) -> None:
        chunk = list(ids)
        if not all_valid_ids(chunk):
            valid = []
            for member in chunk:
                problem = id_problem(member)
                if problem is None:
                    valid.append(member)
                elif member not in self._rejected:
                    self._rejected.add(member)
                    log.warning("member ID %r skipped: %s (outside the ID policy, schemas/identifiers.py)",
                                member, problem)
            chunk = valid
        self._buffer += chunk
        if len(self._buffer) >= self.run_size:
            self._spill()

    @property
    def rejected(self) -> int:
        """How many distinct IDs were skipped for being outside the ID policy."""
        return len(self._rejected)

    def _spill(self) -> None:
        self._buffer.sort()
        path = self.workdir / f"run-{len(self._runs):05d}.ids"
        write_ids(path, self._buffer)
        self._runs.append(path)
        self._buffer = []

    def sorted_unique(self) -> Iterator[str]:
        """Every ID added, ascending, once. Small sets never touch the disk."""
        self._buffer.sort()
        streams: list[Iterable[str]] = [read_ids(p) for p in self._runs] + [self._buffer]
        merged = heapq.merge(*streams) if len(streams) > 1 else streams[0]
        last: str | None = None
        for member in merged:
            if member != last:
                yield member
                last = member

    def close(self) -> None:
        for path in self._runs:
            path.unlink(missing_ok=True)
        self._runs, self._buffer = [], []


def write_ids(path: Path, ids: list[str]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        if ids:
            out.write("\n".join(ids))
            out.write("\n")


def read_ids(path: Path) -> Iterator[str]:
    """IDs from a file written by :func:`write_ids` or a snapshot; checks the order."""
    last = ""
    with open(path, encoding="utf-8", newline="\n") as source:
        for line in source:
            member = line.rstrip("\n")
            if member < last:
                raise ValueError(f"{path} is not sorted ({member!r} after {last!r})")
            last = member
            yield member


class DeltaJoin:
    """Who joined and who left, walking today's IDs against the previous snapshot.

    Both streams ascend, so only the previous IDs up to today's current batch
    are held: memory stays bounded however large the groups are.
    """

    def __init__(self, previous: Iterable[str]) -> None:
        self._previous = iter(previous)
        self._next = next(self._previous, None)
        self._last: str | None = None

    def step(self, members: Sequence[str]) -> tuple[list[str], set[str]]:
        """For today's next batch (ascending, unique, after the last batch):
        the previous IDs up to its end that are gone, and the batch's new IDs."""
        if not members:
            return [], set()
        if self._last is not None and members[0] <= self._last:
            raise ValueError(f"members out of order: {members[0]!r} after {self._last!r}")
        self._last = last = members[-1]
        upto: list[str] = []
        while self._next is not None and self._next <= last:
            upto.append(self._next)
            self._next = next(self._previous, None)
        today = set(members)
        return [p for p in upto if p not in today], today.difference(upto)

    def remaining(self) -> Iterator[str]:
        """Previous IDs after today's last member: they all left."""
        while self._next is not None:
            yield self._next
            self._next = next(self._previous, None)
