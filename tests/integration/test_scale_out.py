"""Three workers in one consumer group over 12 partitions (``make faults`` runs the longer cases).

The whole Redis state after three workers ran to the end must equal a one-worker
run of the same events, and the share of events that take the extra re-keying hop
(``cg_events_rekeyed_total``: events not on their cookie's partition) must be the
same as with one worker: only the storefront's unkeyed events, whichever worker
reads them. (Faust's partition count is known only on the group's leader; before
:func:`pipeline.stream.faust_compat.topic_partition_count` every other worker sent
all its events through the identity stage.)
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from bench.worker_process import WorkerProcess
from faults.run import Run
from faults.state import diff
from faults.traffic import Record, traffic
from pipeline.profile import ProfilePolicy
from pipeline.rules import load
from pipeline.settings import Settings

RULES = Path(__file__).parents[2] / "rules_config"


def _counter(run: Run, metric: str) -> float:
    return sum(value for worker in run.workers.values() for (name, _), value in worker.metrics().items()
               if name == metric)


@pytest.mark.timeout(600)
async def test_three_workers_end_as_one_worker_does_and_rekey_no_more(base_settings: Settings, tmp_path: Path) -> None:
    definitions = load(RULES, ProfilePolicy.from_settings(base_settings)).definitions
    records = traffic(6000, seed=5, cookies=600, customers=200)
    redis = Redis.from_url(base_settings.redis_url)
    one = Run.create(base_settings, "t-one", tmp_path, topic_partitions=12)
    three = Run.create(base_settings, "t-three", tmp_path, topic_partitions=12, admin_token=TOKEN)
    shares: dict[str, float] = {}
    counts: dict[str, list[dict[str, object]]] = {}
    try:
        for run, names in ((one, ["a"]), (three, ["a", "b", "c"])):
            await run.prepare(definitions)
            try:
                for name in names:
                    run.worker(name)
                await run.produce(records, chunk=300, pause=1.0)  # paced: all three join while it flows
                await run.wait_done()
                ingested = sum(_counter_one(w) for w in run.workers.values())
                rekeyed = _counter(run, "cg_events_rekeyed_total")
                shares[run.name] = rekeyed / ingested  # of the events read (a rebalance re-reads some)
                counts[run.name] = [await _dry_run(worker) for worker in run.workers.values()]
                if run is three:
                    await _explain_from_every_worker(run, _customers(records)[:8])
                assert all(_counter_one(w) > 0 for w in run.workers.values()), "a worker took no events"
            finally:
                run.stop()
        expected, got = await one.snapshot(redis), await three.snapshot(redis)
        result = diff(expected, got)
        assert result.exact, result.describe(expected, got)
        # three workers started at once: no assignment left a topic to no one (changelogs included)
        assert three.topics_left_out() == [] and one.topics_left_out() == []
        assert 0.02 < shares["t-one"] < 0.10  # the traffic's unkeyed events (about 5%)
        assert shares["t-three"] <= shares["t-one"] + 0.01, shares  # before the fix: 0.85 on a non-leader
        # a dry run answered by any of the three counts every partition, as the one worker does
        (alone,) = counts["t-one"]
        assert alone["complete"] and alone["customers"] > 10 and alone["anonymous_guests"] > 10, alone
        for answer in counts["t-three"]:
            assert answer["complete"] and answer["partitions_answered"] == 12, answer
            assert [w["answered"] for w in answer["workers"]] == [True, True, True], answer
            assert {k: answer[k] for k in DRY_RUN_COUNTS} == {k: alone[k] for k in DRY_RUN_COUNTS}
    finally:
        for run in (one, three):
            await run.cleanup(redis)
        await redis.aclose()


DRY_RUN_COUNTS = ("customers", "anonymous_guests", "profiles_scanned")
SONY = {"rules": [{"connector": "or", "field": "brand", "operator": "viewed", "value": "Sony"},
                  {"connector": "or", "field": "brand", "operator": "basket", "value": "Sony"}]}


async def _dry_run(worker: WorkerProcess) -> dict[str, object]:
    """``POST /api/groups/dry-run`` to one worker (every worker must count every partition)."""
    import aiohttp

    token = worker.settings.admin_token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"http://{worker.settings.web_host}:{worker.settings.web_port}/api/groups/dry-run"
    async with aiohttp.ClientSession() as http, http.post(url, json=SONY, headers=headers) as response:
        assert response.status == 200, await response.text()
        body: dict[str, object] = await response.json()
        return body


TOKEN = "scale-out-admin-token-0123456789abcdef"


def _customers(records: list[Record]) -> list[str]:
    """Subjects that surely have a profile: customers who signed up."""
    return sorted({f"c:{event['customer_id']}" for _, value in records
                   if (event := orjson.loads(value)).get("type") == "signup"})


async def _explain_from_every_worker(run: Run, subjects: list[str]) -> None:
    """Explain reaches each subject's owner from any worker (Faust's table_route), carrying the
    token between workers; without the token every worker answers 401."""
    import aiohttp

    assert len(subjects) >= 4
    owners_asked = 0
    async with aiohttp.ClientSession() as http:
        for worker in run.workers.values():
            base = f"http://{worker.settings.web_host}:{worker.settings.web_port}"
            for subject in subjects:
                url = f"{base}/api/subjects/{subject}/explain"
                async with http.get(url) as response:
                    assert response.status == 401, (url, response.status)
                async with http.get(url, headers={"Authorization": f"Bearer {TOKEN}"}) as response:
                    assert response.status == 200, (url, response.status, await response.text())
                    body = await response.json()
                    assert body["subject"] == subject, body
                owners_asked += 1
    assert owners_asked == 3 * len(subjects)  # 12 partitions over 3 workers: most asked a non-owner


def _counter_one(worker: WorkerProcess) -> float:
    samples = worker.metrics()
    return sum(v for (name, labels), v in samples.items()
               if name == "cg_events_in_total" and ("stage", "ingest") in labels)
