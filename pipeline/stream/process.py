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

import faust

log = logging.getLogger(__name__)
EXIT_STOP_TIMEOUT = 70


class BoundedStopWorker(faust.Worker):
    def __init__(self, app: faust.App, *, stop_timeout: float, **kwargs: object) -> None:
        super().__init__(app, **kwargs)  # type: ignore[arg-type]  # faust's untyped **kwargs
        self.stop_timeout = stop_timeout
        self._watchdog: threading.Thread | None = None

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
