"""CG_UVLOOP picks the worker process's event loop (pipeline.cli.use_event_loop)."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from pipeline.cli import use_event_loop
from pipeline.settings import Settings


def test_the_worker_runs_on_uvloop_unless_told_not_to() -> None:
    try:
        assert use_event_loop(Settings(uvloop=True)) == "uvloop"
        loop = asyncio.new_event_loop()
        assert isinstance(loop, uvloop.Loop)
        loop.close()
        assert use_event_loop(Settings(uvloop=False)) == "asyncio"
        loop = asyncio.new_event_loop()
        assert not isinstance(loop, uvloop.Loop)
        loop.close()
    finally:
        asyncio.set_event_loop_policy(None)


def test_gc_thresholds_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_GC_THRESHOLDS", "[700,10,10]")
    assert Settings().gc_thresholds == (700, 10, 10)
