"""What every stage does besides its own work: retry until done, write Redis, dead-letter.

A stage's unit of work (a batch) either succeeds whole or is retried whole.
Faust acknowledges a batch even when its body raises, so the retry lives here:
:meth:`Effects.until_done` runs the work, then waits until everything it sent
(table changelogs included) is in Kafka, and only then returns, and lets the
batch be acknowledged. The stages' agents split the two: the work, then
:meth:`Effects.until_settled` while the next batch is handled
(:func:`pipeline.stream.batches.take_batches`). Waits between attempts follow
a :class:`RetryPolicy`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from redis.exceptions import ClusterDownError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from pipeline.stream.batches import take_batches
from pipeline.stream.context import StageContext, Writer
from pipeline.stream.dead_letter import record
from schemas.decode import EventRejected

log = logging.getLogger(__name__)
T = TypeVar("T")


#: Redis cannot take the command now, but will: unreachable, or (a Redis Cluster) a slot without a
#: master during a failover (CLUSTERDOWN, slot not covered) or keys mid-migration (TRYAGAIN).
_UNAVAILABLE = (OSError, TimeoutError, RedisConnectionError, RedisTimeoutError,
                ClusterDownError, SlotNotCoveredError, TryAgainError)


def is_connection_error(exc: BaseException) -> bool:
    """Is ``exc`` Redis being unavailable for a while (retry with backoff), not a bug?"""
    return isinstance(exc, _UNAVAILABLE)


@dataclass(frozen=True)
class RetryPolicy:
    """Waits between attempts: ``first``, growing by ``factor`` up to ``longest``; never giving up.

    Giving up would mean acknowledging work that was not done. A failure that
    lasts shows in ``/healthz`` and ``cg_stalled`` instead (:mod:`pipeline.stream.health`).
    """

    first: float = 0.1
    factor: float = 2.0
    longest: float = 5.0

    def delays(self) -> Iterator[float]:
        delay = self.first
        while True:
            yield delay
            delay = min(delay * self.factor, self.longest)


class Effects:
    def __init__(self, ctx: StageContext, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.ctx = ctx
        self.retry = retry or RetryPolicy()
        self.sleep = sleep

    async def run_batches(self, stream: Any, stage: str, work: Callable[[Sequence[Any]], Awaitable[None]]) -> None:
        """A stage's agent loop: each batch of ``stream`` through ``work`` (:meth:`timed_batch`); a batch's
        table writes reach Kafka (:meth:`until_settled`) while the next batch is handled, and it is
        acknowledged after (:func:`~pipeline.stream.batches.take_batches`)."""
        settings = self.ctx.settings
        async for batch in take_batches(stream, settings.batch_size, settings.batch_wait_seconds,
                                        settle=lambda: self.until_settled(stage)):
            await self.timed_batch(stage, batch, work, settled_later=True)

    async def timed_batch(self, stage: str, batch: Sequence[Any],
                          work: Callable[[Sequence[Any]], Awaitable[None]], *, settled_later: bool = False) -> None:
        """Run a batch until it succeeds, and record its size and time (the latency budget).

        ``settled_later``: return once the work is done, before its table writes are
        in Kafka; the caller must then wait for :meth:`until_settled` before the batch
        is acknowledged (:func:`~pipeline.stream.batches.take_batches` does, while
        the next batch is handled).
        """
        started = time.perf_counter()
        await self.until_done(lambda: work(batch), stage, flush=not settled_later)
        self.ctx.metrics.batch_seconds.labels(stage).observe(time.perf_counter() - started)
        self.ctx.metrics.batch_events.labels(stage).observe(len(batch))
        self.ctx.after_batch()

    async def until_done(self, work: Callable[[], Awaitable[None]], stage: str, *, flush: bool = True) -> None:
        """Retry a unit of work until it succeeds and (unless not ``flush``) what it sent is in Kafka.

        A message that cannot be processed is dead-lettered inside ``work``; what
        reaches here is the infrastructure failing (Kafka, Redis), so retrying is
        right, and safe because every step is idempotent. Staged Redis writes are
        dropped first: the retry stages them again from the stored profiles.
        """
        ctx = self.ctx

        async def attempt() -> None:
            await work()
            # The work's table writes in Kafka before it is acknowledged: a worker's
            # local RocksDB may hold writes whose changelog records a SIGKILL lost, and
            # table recovery then replays older records over them. Work that was
            # acknowledged must never be undone that way.
            if flush:
                await ctx.sinks.flush()

        await self._retrying(stage, attempt, "processing failed", before_retry=ctx.writer.discard)

    async def until_settled(self, stage: str) -> None:
        """Wait until everything sent so far (table changelogs included) is in Kafka; retry while it fails.

        The second half of :meth:`until_done` for a batch run with ``settled_later``. Staged
        Redis writes are kept: they are the next batch's, being handled meanwhile.
        """
        await self._retrying(stage, self.ctx.sinks.flush, "waiting for Kafka failed")

    async def _retrying(self, stage: str, attempt: Callable[[], Awaitable[object]], what: str,
                        before_retry: Callable[[], None] = lambda: None) -> None:
        """Run ``attempt`` until it succeeds; each failure is counted, reported in health and waited out."""
        ctx = self.ctx
        delays = self.retry.delays()
        while True:
            try:
                await attempt()
                ctx.health.recovered(stage)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                before_retry()
                ctx.metrics.retries.labels(stage).inc()
                ctx.health.failing(stage, exc)
                delay = next(delays)
                log.exception("%s: %s; retrying in %.1fs", stage, what, delay)
                await self.sleep(delay)

    async def flush_redis(self, writer: Writer | None = None) -> None:
        """Write what is staged (in the stage's writer, or ``writer``); retry (never drop) while
        Redis is unreachable."""
        target = writer or self.ctx.writer

        async def timed() -> None:  # the attempt that succeeded, not the waits before it
            started = time.perf_counter()
            await target.flush()
            self.ctx.metrics.redis_flush_seconds.observe(time.perf_counter() - started)

        await self.with_redis(timed)

    async def with_redis(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` (a Redis round trip), retried with backoff while Redis is unreachable;
        an outage is logged once and shown in health until Redis answers again."""
        ctx = self.ctx
        delays = self.retry.delays()
        while True:
            try:
                answer = await call()
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                ctx.metrics.redis_retries.inc()
                if "redis" not in ctx.health.failing_now:  # one line per outage, not per attempt
                    log.warning("Redis write failed (%s); retrying with backoff until it answers", exc)
                ctx.health.failing("redis", exc)
                await self.sleep(next(delays))
                continue
            if "redis" in ctx.health.failing_now:
                log.warning("Redis answers again: writes resumed")
                ctx.health.recovered("redis")
            return answer

    async def dead_letter(self, event: Any, raw: bytes | None, rejected: EventRejected,
                          stage: str, batch_index: int | None = None) -> None:
        """Send a message that cannot be processed to the dead-letter topic, with the reason
        (``batch_index``: the event's place in a batched record, dead-lettered alone)."""
        message = event.message
        value = record(raw, rejected, stage=stage, topic=message.topic, partition=message.partition,
                       offset=message.offset, key=message.key, batch_index=batch_index)
        await self.ctx.sinks.dead_letter(message.key, value)
        self.ctx.metrics.dead_lettered.labels(stage, rejected.reason.split(":")[0]).inc()
        log.warning("dead-lettered %s[%d]@%d: %s", message.topic, message.partition, message.offset,
                    rejected)
