"""What the run ran on: machine, load, versions (for the report's header)."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from bench.worker_process import REPO


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_total() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 ** 2:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def machine() -> dict[str, str]:
    return {"nproc": str(os.cpu_count()), "memory": memory_total(), "CPU model": cpu_model(),
            "kernel": platform.release(), "load average at start (1/5/15 min)": load_average()}


def _package(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def kafka_version() -> str:
    """The broker version from deploy/local/servers.sh status, else the pom's pin."""
    try:
        out = subprocess.run([str(REPO / "deploy/local/servers.sh"), "status"], capture_output=True, text=True,
                             timeout=30).stdout
        for line in out.splitlines():
            if "Kafka" in line:
                return line.split("]", 1)[-1].strip().split(":")[0].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "unknown"


async def redis_version(url: str) -> str:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        info = await redis.info("server")
        return f"Redis {info.get('redis_version')}"
    except Exception as exc:  # noqa: BLE001 - the report says why
        return f"unknown ({exc!r})"
    finally:
        await redis.aclose()


def git_state() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "pipeline", "schemas"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{head}" + (f" + uncommitted changes in pipeline/ or schemas/ ({len(dirty.splitlines())} path(s))"
                            if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


async def versions(redis_url: str) -> dict[str, str]:
    return {"Python": platform.python_version(), "faust-streaming": _package("faust-streaming"),
            "aiokafka": _package("aiokafka"), "redis-py": _package("redis"), "hiredis": _package("hiredis"),
            "orjson": _package("orjson"), "pydantic": _package("pydantic"),
            "pyinstrument": _package("pyinstrument"), "Kafka broker": kafka_version(),
            "Redis server": await redis_version(redis_url), "code (git)": git_state()}
