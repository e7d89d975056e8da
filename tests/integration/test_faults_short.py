"""A short run of the fault suite inside ``make test`` (the full one is ``make faults``).

Login-heavy traffic (hand-overs, merges, duplicates, unkeyed events), one real
worker process SIGKILLed twice while it processes and restarted: the whole
Redis state must equal an uninterrupted run of the same events.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from faults.cases import Context, reference, sigkill
from faults.run import Run
from faults.state import diff
from faults.traffic import traffic
from pipeline.profile import ProfilePolicy
from pipeline.rules import load
from pipeline.settings import Settings

RULES = Path(__file__).parents[2] / "rules_config"


@pytest.mark.timeout(600)
async def test_sigkills_with_logins_end_exactly_as_an_uninterrupted_run(
        base_settings: Settings, tmp_path: Path) -> None:
    definitions = load(RULES, ProfilePolicy.from_settings(base_settings)).definitions
    records = traffic(8000, seed=3, cookies=800, customers=250)
    redis = Redis.from_url(base_settings.redis_url)
    ctx = Context(base_settings, records, definitions, redis, tmp_path, seed=3, produce_seconds=12)
    runs = [Run.create(base_settings, "t-reference", tmp_path), Run.create(base_settings, "t-sigkill", tmp_path)]
    try:
        for run in runs:
            await run.prepare(definitions)
        try:
            await reference(ctx, runs[0])
        finally:
            runs[0].stop()
        try:
            await sigkill(ctx, runs[1], kills=2)
        finally:
            runs[1].stop()
        expected, got = await runs[0].snapshot(redis), await runs[1].snapshot(redis)
        assert expected.count("l") > 100 and expected.count("d") > 50  # logins and customers happened
        result = diff(expected, got)
        assert result.exact, result.describe(expected, got)
    finally:
        for run in runs:
            await run.cleanup(redis)
        await redis.aclose()
