"""One fault case against an uninterrupted reference run of the same events, for short tests.

``make faults`` (faults/__main__.py) runs many cases against one reference; a test of
``make test`` runs one, and this is its whole shape: prepare both runs, run the
reference, run the case, snapshot both Redis states, clean up whatever happens.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from faults.cases import Case, Context, reference
from faults.run import Run
from faults.state import Snapshot
from faults.traffic import Record
from pipeline.settings import Settings
from schemas.groups import GroupDefinition


@dataclass
class Compared:
    expected: Snapshot  # the reference run's whole Redis state
    got: Snapshot  # the case's
    reference: Run
    case: Run
    redis: Redis


@asynccontextmanager
async def against_reference(base: Settings, root: Path, name: str, case: Case, records: list[Record],
                            definitions: list[GroupDefinition], *, seed: int,
                            produce_seconds: float) -> AsyncIterator[Compared]:
    """Run the reference, then ``case``, over ``records``; yield both states (runs cleaned up after)."""
    redis = Redis.from_url(base.redis_url)
    ctx = Context(base, records, definitions, redis, root, seed=seed, produce_seconds=produce_seconds)
    runs = [Run.create(base, f"{name}-ref", root), Run.create(base, name, root)]
    try:
        for run in runs:
            await run.prepare(definitions)
        for run, body in zip(runs, (reference, case), strict=True):
            try:
                await body(ctx, run)
            finally:
                run.stop()
        yield Compared(await runs[0].snapshot(redis), await runs[1].snapshot(redis), runs[0], runs[1], redis)
    finally:
        for run in runs:
            await run.cleanup(redis)
        await redis.aclose()
