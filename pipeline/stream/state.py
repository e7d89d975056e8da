"""The stages' state behind small protocols: a Faust table in the worker, a dict in unit tests.

A :class:`Table` is what a stage needs of one Faust table: get, set and delete
by key, each *at* the message being handled. Faust writes a table's changelog
to the partition of the current event, a context variable it sets only while an
agent iterates its stream; batching (:mod:`pipeline.stream.batches`) leaves it unset, so
:class:`FaustTable` sets it to the message given (faust-streaming #497, #300).
Nothing else in the stages touches Faust's tables or that variable.

:class:`ProfileStore` is the profile table seen as what it stores: each
subject's profile and re-check day (the codec is :mod:`pipeline.profile.stored`),
and which subjects each partition holds (the back-fill and reconcile walk one
partition's subjects).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from pipeline.profile import Profile
from pipeline.profile.stored import pack, peek_next_check, unpack
from pipeline.stream.faust_compat import event_context

V = TypeVar("V")


class Table(Protocol[V]):
    """One key-value table of the worker's; ``at`` is the message being handled (or None to read)."""

    def get(self, key: str, at: Any = None) -> V | None: ...

    def set(self, key: str, value: V, at: Any) -> None: ...

    def delete(self, key: str, at: Any) -> None: ...

    def items(self) -> Iterator[tuple[str, V]]:
        """Every entry this worker holds (the partitions it owns)."""
        ...

    def keys(self) -> Iterator[str]: ...


class FaustTable(Generic[V]):
    """A Faust table; writes go to the changelog partition of the message ``at``."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, key: str, at: Any = None) -> V | None:
        if at is None:
            return self.table.get(key)
        with event_context(at):
            return self.table.get(key)

    def set(self, key: str, value: V, at: Any) -> None:
        with event_context(at):
            self.table[key] = value

    def delete(self, key: str, at: Any) -> None:
        with event_context(at):
            if key in self.table:
                del self.table[key]

    def items(self) -> Iterator[tuple[str, V]]:
        yield from self.table.items()

    def keys(self) -> Iterator[str]:
        yield from self.table.keys()


class MemoryTable(Generic[V]):
    """A dict with the table protocol: the in-memory backend of the stage unit tests."""

    def __init__(self) -> None:
        self.data: dict[str, V] = {}

    def get(self, key: str, at: Any = None) -> V | None:
        return self.data.get(key)

    def set(self, key: str, value: V, at: Any) -> None:
        self.data[key] = value

    def delete(self, key: str, at: Any) -> None:
        self.data.pop(key, None)

    def items(self) -> Iterator[tuple[str, V]]:
        yield from list(self.data.items())

    def keys(self) -> Iterator[str]:
        yield from list(self.data)


class ProfileStore:
    """Stored profiles by subject, and the subjects of each partition this worker owns.

    Decoding a stored profile costs more than folding an event into it, and a
    subject's events come in sessions, so the store keeps the profiles it saved
    last, decoded (``cache_size`` of them, least recently used out). A cached
    profile is used only while the table still holds the very bytes it was
    saved as (compared on every load: a rebalance, a recovery or another
    writer makes it miss), and :meth:`load` hands it out *once*: the caller
    owns and may change it, and only :meth:`save` puts it back. So a batch that
    fails halfway, or a caller that changes a profile without storing it, can
    never leave the cache ahead of the table.
    """

    def __init__(self, table: Table[bytes], partition_of: Callable[[str], int], cache_size: int = 10_000,
                 *, split_layout: bool = True) -> None:
        self.table = table
        self.partition_of = partition_of
        self.cache_size = cache_size
        self.split_layout = split_layout  # CG_PROFILE_LAYOUT
        self._by_partition: dict[int, set[str]] = {}
        self._decoded: OrderedDict[str, tuple[bytes, Profile, int | None]] = OrderedDict()
        self.hits = self.misses = 0

    def cached(self) -> int:
        """How many decoded profiles the cache holds."""
        return len(self._decoded)

    def raw(self, subject: str, at: Any = None) -> bytes | None:
        """The stored value as it is (the back-fill decodes only what a group reads)."""
        return self.table.get(subject, at)

    def load(self, subject: str, at: Any = None) -> tuple[Profile, int | None] | None:
        """(profile, re-check day), or None when the subject has no profile; the caller owns it."""
        stored = self.table.get(subject, at)
        cached = self._decoded.pop(subject, None)
        if stored is None:
            return None
        if cached is not None and cached[0] == stored:
            self.hits += 1
            return cached[1], cached[2]
        self.misses += 1
        return unpack(stored)

    def read(self, subject: str, at: Any = None) -> Profile | None:
        """The stored profile, to read only (never to change: it may be the cached one)."""
        stored = self.table.get(subject, at)
        if stored is None:
            return None
        cached = self._decoded.get(subject)
        if cached is not None and cached[0] == stored:
            return cached[1]
        return unpack(stored)[0]

    def save(self, subject: str, profile: Profile, next_check: int | None, at: Any) -> None:
        value = pack(profile, next_check, split=self.split_layout)
        self.put_raw(subject, value, at)
        if self.cache_size:
            self._decoded[subject] = (value, profile, next_check)
            if len(self._decoded) > self.cache_size:
                self._decoded.popitem(last=False)

    def put_raw(self, subject: str, value: bytes, at: Any) -> None:
        self.table.set(subject, value, at)
        self._by_partition.setdefault(self.partition_of(subject), set()).add(subject)

    def delete(self, subject: str, at: Any) -> None:
        self.table.delete(subject, at)
        self._decoded.pop(subject, None)
        self._by_partition.get(self.partition_of(subject), set()).discard(subject)

    def stored_subjects(self) -> list[str]:
        """Every subject this worker stores, as a snapshot (the stages keep writing meanwhile)."""
        return list(self.table.keys())

    def subjects(self, partition: int) -> list[str]:
        """The subjects stored on ``partition``, sorted (a stable order to walk them in)."""
        return sorted(self._by_partition.get(partition, ()))

    def rebuild_index(self, owned: set[int]) -> Iterator[tuple[str, int | None]]:
        """After recovery: index the owned partitions' subjects; yields (subject, re-check day)."""
        self._by_partition = {}
        self._decoded.clear()  # the table was rebuilt: nothing cached is known to match it
        for subject, value in self.table.items():
            partition = self.partition_of(subject)
            if partition in owned:
                self._by_partition.setdefault(partition, set()).add(subject)
                yield subject, peek_next_check(value)
