"""The worker's garbage-collector policy: no collection walks the decoded profiles.

A worker keeps recently saved profiles decoded (``CG_PROFILE_CACHE_SIZE``),
about 16 tracked containers each, so its young generations fill with objects
that are alive and stay alive until the cache drops them, when reference
counting frees them (a profile holds no cycle). Every collection that walks
them finds nothing to free: in the stage model (200k events) gen-1 collections
walked up to ~160k such objects, pauses of 120-280 ms for the one thread that
runs every stage, the p99 of the latency benchmark (a real worker at half its
maximum rate: 25 collections in 110 s, 15 of them over 50 ms).

So, after each batch, :class:`BatchFreezer` moves what survived it out of the
collector's sight (``gc.freeze()``, constant time): the young generations
then only ever hold what the batch in progress allocated. Frozen objects are
still freed by reference counting, as nearly all of a worker's garbage is; a
cycle frozen while alive is freed by the periodic :meth:`BatchFreezer.reclaim`
(``CG_GC_RECLAIM_SECONDS``): unfreeze, one full collection, freeze again. A
real worker under the benchmark's load made about one such object a second
(90 in 100 s: ``cg_gc_reclaimed_objects_total`` counts them, and each reclaim
is logged); each reclaim is one pause of about 0.5 s with 10,000 cached
profiles, hence hourly. Collecting the young generation before each freeze
(finding a batch's cycles at once) cost ~1 ms per batch for those few objects.

:class:`GcPauses` times every collection into ``cg_gc_pause_seconds``.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

from pipeline.settings import Settings
from pipeline.stream.metrics import Metrics

log = logging.getLogger(__name__)


def tune_gc(settings: Settings) -> tuple[int, int, int]:
    """The worker's GC thresholds (CG_GC_THRESHOLDS); objects made so far are frozen out of
    every later collection (modules, the app: nothing there is garbage)."""
    gc.set_threshold(*settings.gc_thresholds)
    gc.freeze()
    return gc.get_threshold()


class BatchFreezer:
    """After each batch: freeze what survived it.

    ``reclaim_seconds`` apart (monotonic clock), the next batch end collects
    everything once instead. ``enabled=False`` (``CG_GC_FREEZE_BATCHES=false``)
    leaves the collector to its thresholds.
    """

    def __init__(self, enabled: bool, reclaim_seconds: float, metrics: Metrics | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self.reclaim_seconds = reclaim_seconds
        self.clock = clock
        self.reclaimed = metrics.gc_reclaimed_objects if metrics is not None else None
        self._last_reclaim = clock()

    def after_batch(self) -> None:
        if not self.enabled:
            return
        if self.clock() - self._last_reclaim >= self.reclaim_seconds:
            self.reclaim()
            return
        gc.freeze()

    def reclaim(self) -> int:
        """One full collection of everything, frozen or not; returns what it freed."""
        started = time.perf_counter()
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        self._last_reclaim = self.clock()
        if self.reclaimed is not None:
            self.reclaimed.inc(freed)
        log.info("gc: reclaimed %d unreachable object(s) in a full collection of %.0f ms",
                 freed, (time.perf_counter() - started) * 1000)
        return freed


class GcPauses:
    """Times every garbage collection into ``cg_gc_pause_seconds`` (``gc.callbacks``).

    A worker's stages share one thread, so a collection of a few hundred
    milliseconds is a few hundred milliseconds of latency for every event in
    flight; the benchmark's slowest probes came in clusters about 12 s apart.
    """

    def __init__(self, metrics: Metrics, clock: Callable[[], float] = time.perf_counter) -> None:
        self.histogram = metrics.gc_pause_seconds
        self.clock = clock
        self._started: float | None = None

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = self.clock()
        elif self._started is not None:
            self.histogram.labels(str(info["generation"])).observe(self.clock() - self._started)
            self._started = None

    def install(self) -> None:
        if self not in gc.callbacks:
            gc.callbacks.append(self)

    def remove(self) -> None:
        if self in gc.callbacks:
            gc.callbacks.remove(self)
