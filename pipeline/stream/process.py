"""The worker process: Faust's worker with a bound on how long stopping may take.

SIGTERM must stop a worker within a bounded time in every state: Kafka or
Redis away, a record that cannot be written, a commit the broker does not
answer. Faust's shutdown waits on each of those (a producer flush, an offset
commit, an agent retrying), so a stop can take minutes, and an orchestrator
then has to SIGKILL it anyway. Here the first SIGTERM or SIGINT starts a
watchdog thread: a worker still alive ``stop_timeout`` seconds later logs why
and exits with status 70. That is exactly as safe as a crash, which the
pipeline is built to survive: no offset is committed before what it covers is
written, so whatever the stop did not finish is redelivered.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable

import faust

log = logging.getLogger(__name__)
EXIT_STOP_TIMEOUT = 70


class RepeatFilter(logging.Filter):
    """One line per state change, not one per reconnect attempt.

    With Kafka down for minutes, aiokafka logged "Unable connect" about 2,800
    times a second (1.84 M lines in 11 minutes). A record whose logger and
    message template were already let through in the last ``window`` seconds
    is dropped; the next one after the window says how many were.
    """

    def __init__(self, window: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, object], tuple[float, int]] = {}  # -> (let through at, dropped since)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.exc_info:
            return True  # tracebacks are rare and each one matters
        key = (record.name, record.msg)
        now = self.clock()
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self.window:
            self._seen[key] = (seen[0], seen[1] + 1)
            return False
        if seen is not None and seen[1]:
            record.msg = f"{record.msg} ({seen[1]} similar line(s) in the last {now - seen[0]:.0f}s not shown)"
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[key] = (now, 0)
        return True


def quiet_repeats(window: float = 30.0) -> None:
    """Install :class:`RepeatFilter` on every handler of the root logger."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(RepeatFilter(window))


class BoundedStopWorker(faust.Worker):
    def __init__(self, app: faust.App, *, stop_timeout: float, **kwargs: object) -> None:
        super().__init__(app, **kwargs)  # type: ignore[arg-type]  # faust's untyped **kwargs
        self.stop_timeout = stop_timeout
        self._watchdog: threading.Thread | None = None
        quiet_repeats()

    def _schedule_shutdown(self, signum: signal.Signals) -> None:
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=_exit_after, args=(self.stop_timeout, signum),
                                              name="stop-watchdog", daemon=True)
            self._watchdog.start()
        super()._schedule_shutdown(signum)


def _exit_after(seconds: float, signum: signal.Signals) -> None:
    threading.Event().wait(seconds)
    log.error("still stopping %.0fs after %s: exiting now (status %d); unfinished input is "
              "redelivered to the next owner", seconds, signum.name, EXIT_STOP_TIMEOUT)
    logging.shutdown()
    os._exit(EXIT_STOP_TIMEOUT)
