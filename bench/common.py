"""What every step shares: progress output, the run's private names, clean-up, small maths."""

from __future__ import annotations

import asyncio
import math
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.settings import Settings

_STARTED = time.monotonic()


def say(text: str) -> None:
    """Progress on stdout, stamped with the seconds since the run began."""
    print(f"[{time.monotonic() - _STARTED:7.1f}s] {text}", flush=True)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (p in 0-100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int | None = None) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process from /proc, in bytes."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid or os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024
    return values


@dataclass
class BenchEnv:
    """The run's own names (topics, app ids, Redis prefix), so it never touches anyone else's data.

    Every topic this run creates starts with ``run_id`` and every Redis key with
    ``run_id:``; :meth:`cleanup` deletes both.
    """

    base: Settings
    run_id: str
    data_dir: Path
    app_ids: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, base: Settings, root: Path) -> BenchEnv:
        run_id = "bench-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        data_dir = root / run_id
        data_dir.mkdir(parents=True, exist_ok=True)
        return cls(base, run_id, data_dir)

    @property
    def prefix(self) -> str:
        return self.run_id

    def settings(self, app: str, *, definitions: str = "definitions", **update: object) -> Settings:
        """Settings for one worker (or client) of this run: its own app id, the run's topics."""
        app_id = f"{self.run_id}-{app}"
        self.app_ids.append(app_id)
        values: dict[str, object] = {
            "app_id": app_id,
            "topic_events": f"{self.run_id}.events",
            "topic_definitions": f"{self.run_id}.{definitions}",
            "topic_dead_letter": f"{self.run_id}.dead-letter",
            "redis_prefix": self.prefix,
            "data_dir": self.data_dir / "worker",
            "web_port": free_port(),
        }
        values.update(update)
        return self.base.model_copy(update=values)

    async def delete_topics(self) -> list[str]:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=self.base.kafka_bootstrap)
        await admin.start()
        try:
            doomed = [t for t in await admin.list_topics() if t.startswith(self.run_id)]
            if doomed:
                await admin.delete_topics(doomed)
            return doomed
        finally:
            await admin.close()

    async def delete_keys(self, pattern: str | None = None) -> int:
        """UNLINK every key of this run (or matching ``pattern``), SCAN-wise so Redis keeps serving."""
        from redis.asyncio import Redis

        redis = Redis.from_url(self.base.redis_url)
        deleted = 0
        try:
            batch: list[bytes] = []
            async for key in redis.scan_iter(match=pattern or f"{self.prefix}:*", count=5000):
                batch.append(key)
                if len(batch) >= 5000:
                    deleted += await redis.unlink(*batch)
                    batch = []
            if batch:
                deleted += await redis.unlink(*batch)
        finally:
            await redis.aclose()
        return deleted

    async def cleanup(self) -> None:
        try:
            topics = await self.delete_topics()
            say(f"clean-up: deleted {len(topics)} topic(s) starting with {self.run_id}")
        except Exception as exc:  # noqa: BLE001 - clean-up is best effort, and says so
            say(f"clean-up: could not delete topics: {exc!r}")
        try:
            keys = await self.delete_keys()
            say(f"clean-up: deleted {keys:,} Redis key(s) under {self.prefix}:")
        except Exception as exc:  # noqa: BLE001
            say(f"clean-up: could not delete Redis keys: {exc!r}")


def run_sync(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def report_head(text: str, lines: int) -> str:
    """The first ``lines`` lines of a pyinstrument report, without its banner."""
    kept = [line for line in text.splitlines() if line.strip()]
    for i, line in enumerate(kept):
        if line.startswith("Profile at "):
            kept = kept[i + 1:]
            break
    return "\n".join(kept[:lines])


def profile_tables(profiler: Any, top: int = 30) -> tuple[str, str]:
    """A finished ``cProfile.Profile`` as two text tables: top functions by own time, by cumulative time.

    Shares of the profile's total own time; paths shortened to the repository or the package.
    """
    import pstats

    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]  # pstats keeps its table untyped
    total = sum(v[2] for v in stats.values()) or 1.0
    repo = f"{Path(__file__).resolve().parents[1]}/"

    def where(key: tuple[str, int, str]) -> str:
        path, line, name = key
        short = path.split(repo)[-1].split("site-packages/")[-1]
        return f"{name}  {short}:{line}" if line else name

    rows = [(where(k), v[1], v[2], v[3]) for k, v in stats.items()]
    own = sorted(rows, key=lambda r: r[2], reverse=True)[:top]
    cum = sorted(rows, key=lambda r: r[3], reverse=True)[:top]
    return ("  own   calls      function\n" + "\n".join(f"{t / total:6.1%} {n:>10,}  {w}" for w, n, t, _ in own),
            "  cum   calls      function\n" + "\n".join(f"{c / total:6.1%} {n:>10,}  {w}" for w, n, _, c in cum))
