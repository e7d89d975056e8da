"""How late the worker's event loop wakes, and where its thread is when it does not wake at all.

Every stage, Faust's fetcher and producer, and the web views share one event
loop. Anything that holds it (a long batch, a collection, a slow callback, a
blocking call) delays everything else; the batch and GC metrics see only their
own part. A task asks to wake every ``interval`` seconds and records how much
later than asked it woke into ``cg_event_loop_lag_seconds``: a bucket of
0.1 s or more is a stall every consumer of this worker felt (the latency
benchmark reports them beside its slow probes).

The histogram says *that* the loop was held, only once it is free again. The
:class:`LoopWatchdog` says *where*: a thread of its own, which the task's
heart-beat keeps quiet, logs the loop thread's stack once the loop has not
woken for ``CG_LOOP_STALL_LOG_SECONDS``, and again each time the hold has
doubled (a long stall leaves a few samples of its stack, and a table recovery
that holds the loop for minutes a dozen log entries, not thousands), so an
on-call engineer finds the culprit in the log, not in a reproduction.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable

DEFAULT_INTERVAL = 0.05

logger = logging.getLogger(__name__)


async def watch_loop_lag(observe: Callable[[float], None], interval: float = DEFAULT_INTERVAL,
                         clock: Callable[[], float] = time.perf_counter,
                         beat: Callable[[], None] | None = None) -> None:
    """Forever: sleep ``interval``, ``observe`` how late the wake-up came (seconds, never negative).

    ``beat`` (a :meth:`LoopWatchdog.beat`) is called at every wake-up.
    """
    while True:
        asked = clock() + interval
        await asyncio.sleep(interval)
        observe(max(0.0, clock() - asked))
        if beat is not None:
            beat()


def stack_of(thread_id: int) -> str:
    """The current stack of thread ``thread_id``, innermost call last, or why there is none."""
    frame = sys._current_frames().get(thread_id)  # noqa: SLF001 - the one way to see another thread's stack
    return "".join(traceback.format_stack(frame)) if frame is not None else "(the thread has ended)"


class LoopWatchdog:
    """Logs the event loop thread's stack while the loop is held ``stall_seconds`` or longer.

    :meth:`beat` runs on the loop (from :func:`watch_loop_lag`); :meth:`check`
    runs in the watchdog's own thread every ``poll`` seconds (or in a test) and
    reports through ``report(held_seconds, stack)``: once when the loop has been
    held ``stall_seconds``, then at twice, four times... that long.
    """

    def __init__(self, stall_seconds: float, thread_id: int | None = None,
                 report: Callable[[float, str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, stack: Callable[[int], str] = stack_of) -> None:
        self.stall_seconds = stall_seconds
        self.thread_id = threading.get_ident() if thread_id is None else thread_id
        self.report = report or self._log
        self.clock = clock
        self.stack = stack
        self.last_beat = clock()
        self.reported = 0  # reports made during the current stall
        self.stalls = 0  # stalls reported since start
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        self.last_beat = self.clock()
        self.reported = 0

    def check(self) -> None:
        held = self.clock() - self.last_beat
        if held >= self.stall_seconds * (1 << self.reported):
            if self.reported == 0:
                self.stalls += 1
            self.reported += 1
            self.report(held, self.stack(self.thread_id))

    def start(self, poll: float = 0.05) -> None:
        self.beat()
        self._thread = threading.Thread(target=self._run, args=(poll,), name="cg-loop-watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def _run(self, poll: float) -> None:
        while not self._stop.wait(poll):
            try:
                self.check()
            except Exception:  # a diagnostic must never end the worker
                logger.exception("the loop watchdog failed")

    @staticmethod
    def _log(held: float, stack: str) -> None:
        logger.warning("the event loop has not woken for %.2f s (every stage, fetch and send waits); "
                       "its thread is at:\n%s", held, stack)
