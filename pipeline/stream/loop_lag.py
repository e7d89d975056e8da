"""How late the worker's event loop wakes: the one thread that runs every stage, seen from inside.

Every stage, Faust's fetcher and producer, and the web views share one event
loop. Anything that holds it (a long batch, a collection, a slow callback, a
blocking call) delays everything else; the batch and GC metrics see only their
own part. A task asks to wake every ``interval`` seconds and records how much
later than asked it woke into ``cg_event_loop_lag_seconds``: a bucket of
0.1 s or more is a stall every consumer of this worker felt (the latency
benchmark reports them beside its slow probes).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

DEFAULT_INTERVAL = 0.05


async def watch_loop_lag(observe: Callable[[float], None], interval: float = DEFAULT_INTERVAL,
                         clock: Callable[[], float] = time.perf_counter) -> None:
    """Forever: sleep ``interval``, ``observe`` how late the wake-up came (seconds, never negative)."""
    while True:
        asked = clock() + interval
        await asyncio.sleep(interval)
        observe(max(0.0, clock() - asked))
