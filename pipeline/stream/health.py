"""What makes a worker "not well", for ``/healthz`` and the ``cg_stalled`` metric.

A worker retries what fails for infrastructure reasons (Redis or Kafka away)
instead of losing it, so a failure that does not go away stops progress on
whatever is being retried. That must never be silent: every retry loop
reports its failures here, and once one has lasted :attr:`Health.stall_after`
seconds the worker says so in ``/healthz`` (``ready: false`` with the reason)
and in ``cg_stalled{what}``, until the work succeeds again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Gauge


@dataclass
class _Failure:
    since: float
    error: str
    attempts: int = 1


class Health:
    def __init__(self, stalled: Gauge, stall_after: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._stalled = stalled
        self.stall_after = stall_after
        self._clock = clock
        self._failures: dict[str, _Failure] = {}

    def failing(self, what: str, error: BaseException | str) -> None:
        """One more failed attempt at ``what`` (a stage, "redis"...)."""
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        failure = self._failures.get(what)
        if failure is None:
            self._failures[what] = _Failure(self._clock(), text[:300])
        else:
            failure.error, failure.attempts = text[:300], failure.attempts + 1
        self._update(what)

    @property
    def failing_now(self) -> frozenset[str]:
        """What is failing at the moment, stalled or not yet."""
        return frozenset(self._failures)

    def recovered(self, what: str) -> None:
        if self._failures.pop(what, None) is not None:
            self._stalled.labels(what).set(0)

    def problems(self) -> list[dict[str, object]]:
        """The failures that have lasted long enough to call the worker stalled."""
        now = self._clock()
        found = []
        for what, failure in sorted(self._failures.items()):
            self._update(what)
            if now - failure.since >= self.stall_after:
                found.append({"what": what, "failing_for_seconds": round(now - failure.since, 1),
                              "attempts": failure.attempts, "error": failure.error})
        return found

    def _update(self, what: str) -> None:
        failure = self._failures[what]
        self._stalled.labels(what).set(1 if self._clock() - failure.since >= self.stall_after else 0)
