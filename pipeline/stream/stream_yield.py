"""A stream that yields to the event loop every N messages, not before each one.

Faust's stream iterator (``faust/_cython/streams.pyx``, ``StreamIterator.next``;
the pure-Python twin ``Stream._py_aiter`` in faust/streams.py, faust-streaming
0.15.3) runs ``await asyncio.sleep(0)`` before it takes *every* message from
its channel, even when the channel's queue is full. Each of those is a whole
turn of the event loop: an ``epoll`` poll, the ready queue, the timers. Measured
with a parse-only agent over 100,000 single-event records (cProfile, one run):
101,375 loop turns for 100,000 records; with a yield every 64 messages 3,269, and
the agent read 8.2k → 12.4k records/s (two runs each), CPU per record 72 → 55 µs
(asyncio's own loop). In the worker (uvloop, whose turns cost less), one process
over 200,000 pre-filled single-event records, two interleaved pairs: 3,784 → 4,164
and 4,261 → 4,552 events/s, CPU per event 213 → 203 and 208 → 188 µs.

The yield is there for fairness: a stream whose queue never empties must not
starve the fetcher, the producer or the timers. One yield every ``every``
messages keeps that (the consumer's own drain loop yields every 100 records,
:func:`pipeline.stream.faust_compat.drain_in_order`), and a stream whose queue is
empty still waits on it, which yields. Nothing else in the iterator changes:
acknowledgements, the current event, flow control and generation checks stay
per message.

The Cython iterator looks ``sleep`` up in its module's globals at each call,
so :func:`install` replaces that name. The pure-Python iterator binds
``asyncio.sleep`` to a local when it starts and is left alone (``NO_CYTHON=1``:
Faust's own behaviour); :func:`installed` says which one runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Generator
from typing import Any

log = logging.getLogger(__name__)


class _Ready:
    """An awaitable that is done at once: ``await`` does not suspend the task."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        yield from ()


_READY = _Ready()


class YieldEvery:
    """``asyncio.sleep`` as the stream iterator calls it (``sleep(0)``): a real yield every ``every`` calls."""

    def __init__(self, every: int) -> None:
        if every < 1:
            raise ValueError("every must be at least 1")
        self.every = every
        self.calls = 0

    def __call__(self, delay: float, result: Any = None) -> Awaitable[Any]:
        if delay:  # not the iterator's sleep(0): a real sleep, as asked
            return asyncio.sleep(delay, result)
        self.calls += 1
        if self.calls >= self.every:
            self.calls = 0
            return asyncio.sleep(0)
        return _READY


def install(every: int) -> bool:
    """Make Faust's stream iterator yield every ``every`` messages (1: Faust's own behaviour).

    True when the Cython iterator is the one streams use and now yields so; False
    when streams run the pure-Python iterator, which this leaves as it is.
    """
    from faust import streams

    if streams._CStreamIterator is None:  # noqa: SLF001 - which iterator Faust picked is the question
        log.info("Faust runs its pure-Python stream iterator: a loop turn per message (CG_STREAM_YIELD_EVERY unused)")
        return False
    import faust._cython.streams as compiled

    compiled.sleep = asyncio.sleep if every == 1 else YieldEvery(every)
    return True


def installed() -> int:
    """Every how many messages streams yield now (1: each message, Faust's own)."""
    from faust import streams

    if streams._CStreamIterator is None:  # noqa: SLF001
        return 1
    import faust._cython.streams as compiled

    sleep = compiled.sleep
    return sleep.every if isinstance(sleep, YieldEvery) else 1
