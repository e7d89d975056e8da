"""``customer-groups rules apply``: the diff, member estimates from a live worker, and --prune."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

from redis.asyncio import Redis

from pipeline.assembly import build_worker
from pipeline.definitions.topic import read_definitions
from pipeline.settings import Settings

from .harness import Clock, View, apply, eventually, prepare, produce, start_worker, stop_worker

LEGO = {"id": "40", "name": "Lego fans", "type": "dynamic", "rules": [["brand", "viewed", "Lego"]]}
FILE_BOTH = """groups:
  - {id: 40, name: Lego fans, type: dynamic, rules: [[brand, viewed, Lego]]}
  - {id: 41, name: Sony, type: dynamic, rules: [[brand, viewed, Sony]]}
"""
FILE_SONY = """groups:
  - {id: 41, name: Sony, type: dynamic, rules: [[brand, viewed, Sony]]}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _cli(settings: Settings, *args: str) -> str:
    env = {**os.environ, **settings.as_env()}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pipeline.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await process.communicate()
    assert process.returncode == 0, out.decode()
    return out.decode()


async def test_apply_shows_estimates_keeps_unknown_groups_and_prunes(
        settings: Settings, redis: Redis, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"web_port": _free_port(), "admin_token": "s3cret"})
    clock, view = Clock(), View(redis, settings)
    await prepare(settings)
    await apply(settings, [LEGO])
    both, sony_only = tmp_path / "both.yaml", tmp_path / "sony.yaml"
    both.write_text(FILE_BOTH)
    sony_only.write_text(FILE_SONY)
    worker = build_worker(settings, clock=clock)
    try:
        await start_worker(worker)
        await produce(settings, [
            {"type": "view", "event_id": f"a{i}", "occurred_at": clock.now.isoformat(), "visitor_id": f"ck{i}",
             "product": {"product_id": "p", "brand": "Sony" if i < 3 else "Lego"}} for i in range(4)])
        await eventually(lambda: view.members("40"), lambda m: m[1] == {"ck3"})

        preview = await _cli(settings, "rules", "apply", str(both), "--dry-run")
        assert "+ 41 dynamic 'Sony'  -> 0 customers and 3 anonymous guests of 4 profiles" in preview
        assert "dry run: nothing published" in preview
        assert set(await read_definitions(settings)) == {"40"}

        kept = await _cli(settings, "rules", "apply", str(sony_only))
        assert "40 'Lego fans' is on the topic but not in" in kept and "--prune deletes it" in kept
        assert set(await read_definitions(settings)) == {"40", "41"}
        assert (await eventually(lambda: view.members("41"), lambda m: len(m[1]) == 3))[1] == {"ck0", "ck1", "ck2"}

        pruned = await _cli(settings, "rules", "apply", str(sony_only), "--prune")
        assert "- 40 dynamic 'Lego fans'" in pruned
        assert set(await read_definitions(settings)) == {"41"}
        assert await eventually(lambda: view.members("40"), lambda m: not m[1]) == (set(), set())
    finally:
        await stop_worker(worker)


async def test_apply_without_a_worker_says_no_estimate(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"web_port": _free_port()})
    await prepare(settings)
    rules = tmp_path / "sony.yaml"
    rules.write_text(FILE_SONY)
    out = await _cli(settings, "rules", "apply", str(rules))
    assert "(no estimate: no worker answering at" in out and "published 1 change(s)" in out
