"""A worker's own web pages: Prometheus metrics and readiness."""

from __future__ import annotations

import socket

import aiohttp
from redis.asyncio import Redis

from pipeline.assembly import build_worker
from pipeline.settings import Settings

from .harness import Clock, View, apply, eventually, prepare, produce, start_worker, stop_worker


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_metrics_and_health_are_served(settings: Settings, redis: Redis) -> None:
    settings = settings.model_copy(update={"web_port": _free_port(), "web_host": "127.0.0.1"})
    clock, view = Clock(), View(redis, settings)
    await prepare(settings)
    await apply(settings, [{"id": "12", "name": "Sony", "type": "dynamic", "rules": [["brand", "viewed", "Sony"]]}])
    worker = build_worker(settings, clock=clock)
    base = f"http://127.0.0.1:{settings.web_port}"
    try:
        await start_worker(worker)
        await produce(settings, [
            {"type": "view", "event_id": "w1", "occurred_at": clock.now.isoformat(), "visitor_id": "ck1",
             "product": {"product_id": "p", "brand": "Sony"}},
            b"not json",
        ])
        await eventually(lambda: view.groups_of("v:ck1"), lambda g: g == {"12"})
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as response:
                health = await response.json()
                assert response.status == 200 and health["ready"] is True and health["groups"] == 1

            async def metrics() -> str:
                async with http.get(f"{base}/metrics") as response:
                    assert response.status == 200
                    assert response.headers["Content-Type"].startswith("text/plain")
                    return await response.text()

            # batch metrics are recorded when a batch ends, just after its Redis write
            text = await eventually(metrics, lambda t: 'cg_batch_events_sum{stage="ingest"} 2.0' in t)
            # the cookie's next event finds its profile still decoded (CG_PROFILE_CACHE_SIZE)
            await produce(settings, [{"type": "view", "event_id": "w2", "occurred_at": clock.now.isoformat(),
                                      "visitor_id": "ck1", "product": {"product_id": "p", "brand": "Sony"}}])
            cached = await eventually(metrics, lambda t: 'cg_batch_events_sum{stage="ingest"} 3.0' in t)
    finally:
        await stop_worker(worker)
    assert 'cg_events_in_total{stage="ingest"} 2.0' in text
    assert 'cg_dead_lettered_total{reason="malformed JSON",stage="ingest"} 1.0' in text
    assert 'cg_membership_changes_total{change="joined"} 1.0' in text
    assert 'cg_groups{type="dynamic"} 1.0' in text
    assert "cg_consumer_lag" in text and "cg_evaluation_seconds_bucket" in text
    assert 'cg_batch_events_sum{stage="ingest"} 2.0' in text
    assert 'cg_batch_seconds_count{stage="ingest"}' in text
    assert 'cg_profile_cache_loads_total{source="cache"} 0.0' in text  # a new cookie: nothing to load
    assert 'cg_profile_cache_profiles 1.0' in text
    assert 'cg_profile_cache_loads_total{source="cache"} 1.0' in cached
    assert 'cg_profile_cache_loads_total{source="table"} 0.0' in cached
