"""The back-fill loop: new or changed groups over every stored profile of a partition.

One loop for the worker (:meth:`pipeline.stream.maintenance.Maintenance.backfill`)
and the benchmark (``bench/backfill.py``), so the bench measures the worker's code.

Chunks of :data:`BACKFILL_CHUNK` subjects. For each chunk: evaluate (pure CPU),
then send its Redis writes, then store its new values in the profile table,
in that order per chunk, so a profile never says "member" before Redis shows it.
The Redis writes of one chunk are in flight while the next chunk is evaluated:
Redis works on its own core, so a million profiles wait for it only once, at
the end, not once per chunk. The next chunk's subjects are other subjects, so
nothing it reads depends on the write in flight.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pipeline.processor import SubjectProcessor
from pipeline.rules.compiler import CompiledGroup
from pipeline.stream.context import Writer

BACKFILL_CHUNK = 2000
#: Profiles evaluated between two turns of the event loop. The previous chunk's write is in
#: flight meanwhile, but only a turn of the loop sends more of it and reads Redis's answers:
#: evaluating a whole chunk without one left Redis idle most of that time and the last of
#: each write waited for afterwards (1M profiles: 5.5 s of wall time over the CPU time).
YIELD_EVERY = 200


@dataclass
class BackfillStats:
    profiles: int = 0  # stored profiles read
    changed: int = 0  # profiles whose stored value changed
    joined: int = 0  # memberships gained
    commands: int = 0  # Redis commands staged (before coalescing)


Update = tuple[str, bytes, int | None]  # subject, new stored value, next re-check day


async def backfill(
    subjects: Sequence[str],
    read: Callable[[str], bytes | None],
    processor: SubjectProcessor,
    groups: list[CompiledGroup],
    now: datetime,
    *,
    new_writer: Callable[[], Writer],
    flush: Callable[[Writer], Awaitable[None]],
    store: Callable[[Sequence[Update]], None],
    done: Callable[[int], None] = lambda count: None,
    chunk: int = BACKFILL_CHUNK,
) -> BackfillStats:
    """Evaluate ``groups`` over the stored value of each subject; write Redis, then the table.

    ``read`` gives a subject's stored value (None: gone since the list was made);
    ``flush`` sends a chunk's writer to Redis (retrying as the caller sees fit);
    ``store`` stores a chunk's new values once its writes are in Redis; ``done``
    hears how many subjects are finished after each chunk.
    """
    stats = BackfillStats()
    in_flight: tuple[asyncio.Future[None], list[Update], int] | None = None

    async def finish(write: asyncio.Future[None], updates: list[Update], upto: int) -> None:
        await write
        store(updates)
        done(upto)

    try:
        for start in range(0, len(subjects), chunk):
            writer, updates = new_writer(), []
            for n, subject in enumerate(subjects[start:start + chunk], 1):
                if not n % YIELD_EVERY:
                    await asyncio.sleep(0)  # the write in flight goes on being sent and answered
                value = read(subject)
                if value is None:
                    continue
                stats.profiles += 1
                changed = processor.backfill_stored(value, groups, now)
                if changed is not None:
                    result, new_value = changed
                    writer.stage(subject, result.change)
                    stats.joined += len(result.joined)
                    updates.append((subject, new_value, result.next_check))
            stats.changed += len(updates)
            stats.commands += writer.pending
            if in_flight is not None:
                await finish(*in_flight)
            in_flight = (asyncio.ensure_future(flush(writer)), updates, min(start + chunk, len(subjects)))
            await asyncio.sleep(0)  # the write starts; heartbeats and other partitions run
        if in_flight is not None:
            await finish(*in_flight)
            in_flight = None
    finally:
        if in_flight is not None and not in_flight[0].done():
            in_flight[0].cancel()
    return stats
