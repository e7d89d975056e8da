"""The back-fill loop's order: a chunk's Redis writes, then its stored values; the next chunk
evaluated while the previous one's writes are in flight; nothing stored for a failed write."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from pipeline.processor import SubjectProcessor
from pipeline.profile.stored import pack, unpack
from pipeline.registry import GroupRegistry
from pipeline.store.keys import KeySpace
from pipeline.stream.backfill import Update, backfill
from pipeline.stream.context import Writer
from pipeline.stream.memory import RecordingWriter
from schemas.groups import GroupDefinition

from ..rules.conftest import NOW, POLICY, profile_of, view

OLD = [GroupDefinition.model_validate({"id": "12", "name": "Sony", "type": "dynamic",
                                       "rules": [["brand", "viewed", "Sony"]]})]
NEW = GroupDefinition.model_validate({"id": "40", "name": "TVs", "type": "dynamic",
                                      "rules": [["category", "viewed", "TV"]]})
REGISTRY = GroupRegistry.from_definitions([*OLD, NEW], POLICY)
CHANGED, _ = REGISTRY.changed_since({"12": REGISTRY.fingerprints["12"]})


def stored_values(count: int) -> dict[str, bytes]:
    """Half the visitors viewed a TV (they join group 40), half a phone (they do not)."""
    values = {}
    for i in range(count):
        profile = profile_of(view(category="TV" if i % 2 == 0 else "Phone", visitor_id=f"v{i}"))
        values[profile.subject] = pack(profile, None)
    return values


class Log:
    """What happened, in order, across the loop and the writes it started."""

    def __init__(self, values: dict[str, bytes], fail_on: int | None = None) -> None:
        self.values, self.fail_on = values, fail_on
        self.entries: list[str] = []
        self.flushes = 0
        self.root = RecordingWriter(KeySpace("t"))

    def read(self, subject: str) -> bytes | None:
        self.entries.append(f"read {subject}")
        return self.values.get(subject)

    async def flush(self, writer: Writer) -> None:
        number = self.flushes = self.flushes + 1
        self.entries.append(f"write {number} starts")
        await asyncio.sleep(0.01)
        if number == self.fail_on:
            raise ConnectionError("Redis went away")
        await writer.flush()
        self.entries.append(f"write {number} done")

    def store(self, updates: Sequence[Update]) -> None:
        self.entries.append(f"store {len(updates)}")
        for subject, value, _ in updates:
            self.values[subject] = value


async def run(log: Log, subjects: list[str], chunk: int) -> None:
    await backfill(subjects, log.read, SubjectProcessor(REGISTRY, POLICY), CHANGED, NOW,
                   new_writer=log.root.fresh, flush=log.flush, store=log.store, chunk=chunk)


@pytest.mark.timeout(30)
async def test_writes_then_stores_per_chunk_with_the_next_chunk_evaluated_meanwhile() -> None:
    log = Log(stored_values(6))
    subjects = [*sorted(log.values), "v:gone"]  # a subject deleted since the list was made is skipped
    await run(log, subjects, chunk=3)
    assert [e for e in log.entries if not e.startswith("read")] == [
        "write 1 starts", "write 1 done", "store 2", "write 2 starts", "write 2 done", "store 1",
        "write 3 starts", "write 3 done", "store 0"]
    # chunk 2 was read (evaluated) before chunk 1's write was awaited and its values stored
    assert log.entries.index(f"read {subjects[3]}") < log.entries.index("store 2")
    members = {s for s, v in log.values.items() if "40" in unpack(v)[0].groups}
    assert members == {"v:v0", "v:v2", "v:v4"}
    sadds = sorted(c[2] for batch in log.root.flushed for c in batch if c[:2] == ("SADD", "t:g:{40}:v"))
    assert sadds == ["v0", "v2", "v4"]


@pytest.mark.timeout(30)
async def test_a_failed_write_stores_nothing_of_its_chunk() -> None:
    log = Log(stored_values(6), fail_on=2)
    before = dict(log.values)
    with pytest.raises(ConnectionError):
        await run(log, sorted(log.values), chunk=2)
    changed = {s for s in log.values if log.values[s] != before[s]}
    assert changed == {"v:v0"}  # chunk 1 (v0 joins, v1 not) only; chunk 2's write failed
    # run again, as the stage's retry does: the end state is complete
    await run(log, sorted(log.values), chunk=2)
    assert {s for s, v in log.values.items() if "40" in unpack(v)[0].groups} == {"v:v0", "v:v2", "v:v4"}


@pytest.mark.timeout(30)
async def test_cancelling_the_loop_cancels_the_write_in_flight() -> None:
    started = asyncio.Event()
    writes: list[asyncio.Task[None]] = []

    async def slow_flush(writer: Writer) -> None:
        writes.append(asyncio.current_task())  # type: ignore[arg-type]
        started.set()
        await asyncio.sleep(60)

    values = stored_values(4)
    task = asyncio.ensure_future(backfill(
        sorted(values), values.get, SubjectProcessor(REGISTRY, POLICY), CHANGED, NOW,
        new_writer=RecordingWriter(KeySpace("t")).fresh, flush=slow_flush, store=lambda u: None, chunk=2))
    await started.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert writes and all(w.cancelled() for w in writes)
