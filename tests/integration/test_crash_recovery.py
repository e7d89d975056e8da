"""A worker killed with SIGKILL mid-stream and restarted converges to exactly the right state.

The expected membership is computed by the pure core alone (fold every event
into its subject's profile, evaluate every group); the real worker runs as a
separate process so the kill is a real one.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import urllib.request
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from pipeline.profile import ProfilePolicy
from pipeline.rules import load
from pipeline.settings import Settings

from .harness import View, apply, eventually, prepare, produce
from .processes import (
    RULES,
    assert_group_members,
    expected_groups,
    mixed_traffic,
    stop_process,
    subject_groups,
    worker_process,
)


def _metrics(port: int) -> str:
    """The worker's /metrics (lag per partition, messages per stage): stalled, or wrong?"""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            return response.read().decode()
    except OSError as exc:
        return f"could not read /metrics: {exc!r}"


@pytest.mark.timeout(600)  # two worker starts, 4,000 events and waits of up to 90 + 180 s
@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
async def test_sigkilled_worker_converges_to_exact_membership(
        settings: Settings, redis: Redis, tmp_path: Path, store: str) -> None:
    settings = settings.model_copy(update={"table_store": store})
    view = View(redis, settings)
    await prepare(settings)
    policy = ProfilePolicy.from_settings(settings)
    await apply(settings, load(RULES, policy).definitions)
    events = mixed_traffic(4000)
    expected = expected_groups(events, settings)
    subjects = sorted(expected)
    log = tmp_path / "worker.log"

    worker, port = worker_process(settings, log)
    metrics = ""
    try:
        await produce(settings, events[:2500])
        # wait until the worker is visibly mid-stream, then kill it without warning
        await eventually(lambda: redis.scard(view.keys.members("20", False)), lambda n: n >= 3, timeout=90)
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(10) == -signal.SIGKILL
        # the kill really was mid-stream: Redis does not yet show what 2,500 events give
        partial = {s: g for s, g in (await subject_groups(view, subjects)).items() if g}
        first_part = {s: g for s, g in expected_groups(events[:2500], settings).items() if g}
        assert partial != first_part
        await produce(settings, events[2500:] + events[:1000])  # the rest, and a storefront retry

        worker, port = worker_process(settings, log)
        state = await eventually(lambda: subject_groups(view, subjects), lambda s: s == expected, timeout=180)
        if state != expected:
            metrics = _metrics(port)
            worker.send_signal(signal.SIGUSR1)  # every task's stack into the log: stalled where?
            await asyncio.sleep(2)
    finally:
        stop_process(worker)
    wrong = {s: (state[s], expected[s]) for s in subjects if state[s] != expected[s]}
    if wrong:  # keep the evidence: pytest keeps only its last three temporary directories
        kept = Path(__file__).parents[2] / "var" / "failed-tests" / f"{tmp_path.name}-{settings.app_id}"
        kept.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, kept / "worker.log")
        (kept / "wrong.json").write_bytes(orjson.dumps(
            {s: {"redis": sorted(r), "expected": sorted(e)} for s, (r, e) in wrong.items()}))
        (kept / "events.json").write_bytes(orjson.dumps(events))
        (kept / "metrics.txt").write_text(metrics)
    assert not wrong, (f"(in Redis, expected) per subject: {wrong}\nkept in var/failed-tests/\n"
                       f"worker log:\n{log.read_text()[-2000:]}")
    await assert_group_members(view, expected, {g.id for g in load(RULES, policy).definitions})
