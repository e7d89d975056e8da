"""A profile of the whole worker: where does a real worker spend its time per event?

A second worker (its own app id, so its own consumer group) runs in this
process, like the demo runs one, under pyinstrument, over the first events of
the pre-filled topic; the profiler samples the main thread, where Faust runs
the agents, the producer and the tables. Faust's Kafka fetches run in a
consumer thread of their own, which this profile does not see (step 2 reports
the CPU of the worker's threads apart).
"""

from __future__ import annotations

import asyncio
import logging
import time

from bench.common import report_head, say
from pipeline.settings import Settings


async def run(settings: Settings, events: int, timeout: float = 300.0, top: int = 30) -> tuple[str, str, int, float]:
    """(flat top functions, call tree, events processed, seconds)."""
    from pyinstrument import Profiler

    from pipeline.stream.worker import Worker

    say(f"  whole-worker profile: an in-process worker ({settings.app_id}) over the first {events:,} events")
    logging.getLogger("faust").setLevel(logging.WARNING)
    worker = Worker(settings, web_enabled=False)
    profiles = worker.metrics.events_in.labels("profiles")
    profiler = Profiler(interval=0.001, async_mode="disabled")
    await worker.start()
    try:
        await asyncio.wait_for(worker.watcher.ready.wait(), 60)
        profiler.start()
        started = time.perf_counter()
        while profiles._value.get() < events and time.perf_counter() - started < timeout:  # noqa: SLF001
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - started
        profiler.stop()
        done = int(profiles._value.get())  # noqa: SLF001
    finally:
        await worker.stop()
    flat = profiler.output_text(unicode=False, color=False, flat=True, time="percent_of_total")
    tree = profiler.output_text(unicode=False, color=False, time="percent_of_total",
                                processor_options={"filter_threshold": 0.02})
    say(f"  profiled {done:,} profile-stage messages in {seconds:.1f}s under the profiler")
    return report_head(flat, top), report_head(tree, 70), done, seconds

