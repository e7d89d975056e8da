"""A table write Kafka refuses stops the worker; restarted, it ends exactly right.

The profiles changelog is made to refuse every record (``max.message.bytes``
below any profile's size) while a worker process runs. The worker must exit
at the first refused record (status 71), committing nothing past it; with the
topic mended, a restarted worker rebuilds the table from the changelog, reads
again what was not committed, and Redis holds exactly what the pure core
computes from every event. (Before, this case ended too, less directly: the
stage's flush raised while the failure was pending, and Faust's next commit
crashed the consumer, status 1. The loss was a send that failed *between*
flushes, which the next flush forgot; tests/unit/stream/test_producer_flush.py
and tests/integration/test_faust_overrides.py show that one.)
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from redis.asyncio import Redis

from pipeline.profile import ProfilePolicy
from pipeline.rules import load
from pipeline.settings import Settings
from pipeline.stream.process import EXIT_SEND_LOST

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


async def _changelog_takes(settings: Settings, max_bytes: int) -> None:
    """Set the profiles changelog's record limit (AlterConfigs replaces them all: compaction kept)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        topic = f"{settings.app_id}-profiles-changelog"
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={
            "cleanup.policy": "compact", "max.message.bytes": str(max_bytes)})])
    finally:
        await admin.close()


async def _exit_status(worker: subprocess.Popen[bytes], timeout: float) -> int | None:
    deadline = asyncio.get_running_loop().time() + timeout
    while worker.poll() is None and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.2)
    return worker.poll()


@pytest.mark.timeout(420)  # two worker starts, waits of up to 90 + 90 + 180 s
async def test_a_changelog_record_kafka_refuses_stops_the_worker_and_a_restart_is_exact(
        settings: Settings, redis: Redis, tmp_path: Path) -> None:
    view = View(redis, settings)
    await prepare(settings)
    policy = ProfilePolicy.from_settings(settings)
    await apply(settings, load(RULES, policy).definitions)
    events = mixed_traffic(1500, seed=11, prefix="lost")
    expected = expected_groups(events, settings)
    subjects = sorted(expected)
    log = tmp_path / "worker.log"

    worker, _ = worker_process(settings, log)
    try:
        await produce(settings, events[:500])
        first = expected_groups(events[:500], settings)
        state = await eventually(lambda: subject_groups(view, sorted(first)), lambda s: s == first, timeout=90)
        assert state == first, "the worker did not process the first 500 events"
        await _changelog_takes(settings, 60)  # below any profile record: every table write refused
        await produce(settings, events[500:])
        status = await _exit_status(worker, 90)
        assert status == EXIT_SEND_LOST, f"the worker went on (status {status}):\n{log.read_text()[-3000:]}"
        assert "was never written to Kafka" in log.read_text()

        await _changelog_takes(settings, 1_048_588)
        worker, _ = worker_process(settings, log)
        state = await eventually(lambda: subject_groups(view, subjects), lambda s: s == expected, timeout=180)
    finally:
        stop_process(worker)
    wrong = {s: (state[s], expected[s]) for s in subjects if state[s] != expected[s]}
    assert not wrong, f"(in Redis, expected) per subject: {wrong}\nworker log:\n{log.read_text()[-3000:]}"
    await assert_group_members(view, expected, {g.id for g in load(RULES, policy).definitions})
