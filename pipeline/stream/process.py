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

SIGUSR1 logs every thread's stack and every asyncio task's stack (the event
loop's and the Kafka consumer thread's), without local variables, so a worker
that sits still can be looked into without stopping it (:func:`dump_stacks`;
mode's own SIGUSR1 printed local variables, settings included, to stderr).
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import faust

from pipeline.stream.rewind import kafka_assignment

log = logging.getLogger(__name__)
EXIT_STOP_TIMEOUT = 70
EXIT_SEND_LOST = 71  # a record Kafka never took: restart and rebuild (faust_compat, "A lost message")
_dumps = itertools.count(1)


class RepeatFilter(logging.Filter):
    """One line per state change, not one per reconnect attempt.

    With Kafka down for minutes, aiokafka logged "Unable connect" about 2,800
    times a second (1.84 M lines in 11 minutes). A record whose logger, message
    template and arguments were already let through in the last ``window``
    seconds is dropped; the next one after the window says how many were. The
    arguments count: a flood repeats the same few, while the same template with
    other arguments says something else (Faust's "Ignoring missing topic: %r"
    once hid which topics were left out of an assignment).
    """

    def __init__(self, window: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, object, str], tuple[float, int]] = {}  # -> (let through at, dropped since)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.exc_info:
            return True  # tracebacks are rare and each one matters
        key = (record.name, record.msg, _arguments(record))
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


def _arguments(record: logging.LogRecord) -> str:
    try:
        return repr(record.args)[:200]
    except Exception:  # noqa: BLE001 - a log filter must never fail
        return ""


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

    def _on_sigusr1(self) -> None:
        dump_stacks()
        log.warning("consumer state (SIGUSR1): %s", consumer_state(self.app))


def consumer_state(app: Any) -> str:
    """What decides whether a partition is fetched and handed on: assigned, active, paused,
    buffered (Faust takes a partition out while its stream's queue is under pressure), the flow,
    the rebalance, and each stream queue's size."""
    try:
        consumer = app.consumer

        def tps(items: Any) -> list[str]:
            return sorted(f"{tp.topic}[{tp.partition}]" for tp in items or ())

        inside = vars(consumer)  # Faust's own bookkeeping: no public accessor
        channels = vars(app.topics).get("_topics", ())
        queues = {f"{c!r}"[:80]: c.queue.qsize() for c in channels if hasattr(c, "queue")}
        return repr({
            "rebalancing": app.rebalancing, "flow_active": consumer.flow_active,
            "suspend_flow": consumer.suspend_flow.is_set(), "assigned": tps(consumer.assignment()),
            "active": tps(inside.get("_active_partitions")), "paused": tps(inside.get("_paused_partitions")),
            "buffered": tps(inside.get("_buffered_partitions")), "read_offset": {
                f"{tp.topic}[{tp.partition}]": o for tp, o in inside.get("_read_offset", {}).items()},
            "queues": queues, "kafka": _or_error(lambda: _kafka_positions(consumer))})
    except Exception as exc:  # noqa: BLE001 - a diagnostic must never stop the worker
        return f"unavailable: {exc!r}"


def dump_stacks() -> str:
    """Log (and return) the stack of every thread and of every task of every event loop found."""
    out = io.StringIO()
    threads = {t.ident: t for t in threading.enumerate()}
    loops: dict[int, tuple[str, asyncio.AbstractEventLoop]] = {}
    try:
        running = asyncio.get_running_loop()
        loops[id(running)] = (threading.current_thread().name, running)
    except RuntimeError:
        pass
    for ident, frame in sys._current_frames().items():  # noqa: SLF001 - the documented way to see every thread
        thread = threads.get(ident)
        name = thread.name if thread is not None else f"thread {ident}"
        print(f"--- thread {name}", file=out)
        out.write("".join(traceback.format_stack(frame)))
        loop = getattr(getattr(thread, "service", None), "thread_loop", None)  # mode's service threads
        if isinstance(loop, asyncio.AbstractEventLoop):
            loops.setdefault(id(loop), (name, loop))
    for name, loop in loops.values():
        for task in sorted(asyncio.all_tasks(loop), key=lambda t: t.get_name()):
            print(f"--- task {task.get_name()} (loop of {name})", file=out)
            out.write("".join(f"{line}\n" for line in await_chain(task.get_coro())))
            waiter = getattr(task, "_fut_waiter", None)  # asyncio's own: the future the task sleeps on
            if waiter is not None:
                print(f"  the task waits on {waiter!r}"[:400], file=out)
    text = out.getvalue()
    # the number in the message itself: RepeatFilter (keyed on the template) never drops a dump
    log.warning(f"stack dump {next(_dumps)} (SIGUSR1):\n%s", text)
    return text


def _or_error(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - a diagnostic must never stop the worker
        return f"unavailable: {exc!r}"


def _kafka_positions(consumer: Any) -> dict[str, Any]:
    """aiokafka's own view of each stream partition: position, paused, waiting for an offset
    reset, highwater, and whether a fetched batch waits in its buffer (Faust hands on only what
    aiokafka returns)."""
    assignment = kafka_assignment(consumer)
    if assignment is None:
        return {}
    buffered = vars(vars(consumer._thread._consumer)["_fetcher"]).get("_records", {})  # noqa: SLF001 - diagnostics
    states = {}
    for tp in sorted(assignment.tps):
        state = assignment.state_value(tp)
        states[f"{tp.topic}[{tp.partition}]"] = {
            "position": vars(state).get("_position"), "paused": state.paused,
            "awaiting_reset": state.awaiting_reset, "highwater": state.highwater,
            "buffered": tp in buffered}
    return states


def _frame_of(obj: object) -> Any:
    return getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None) or getattr(obj, "ag_frame", None)


def _unwrap(awaited: object) -> object | None:
    """The coroutine or generator behind an awaitable with no frame of its own (a coroutine's
    ``__await__`` wrapper, an async generator's ``asend``): the one object it refers to that has a
    frame. ``gc.get_referents`` is the only way in; they expose no attribute."""
    import gc

    for referent in gc.get_referents(awaited):
        if _frame_of(referent) is not None:
            return referent
    return None


def await_chain(coro: object, limit: int = 60) -> list[str]:
    """Where a task waits: every coroutine it awaits, outermost first, then what the innermost
    awaits. ``Task.print_stack`` shows the outermost frame only, which for an agent says nothing
    but ``await coro``; here wrappers (``__await__``, ``asend``) are followed through."""
    lines: list[str] = []
    for _ in range(limit):
        frame = _frame_of(coro)
        if frame is not None:
            code = frame.f_code
            lines.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}')
        awaited = (getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
                   or getattr(coro, "ag_await", None))
        if awaited is None:
            break
        if _frame_of(awaited) is None:
            inner = _unwrap(awaited)
            if inner is None:
                lines.append(f"  awaiting {awaited!r}"[:300])
                break
            awaited = inner
        coro = awaited
    return lines


def exit_now(status: int) -> None:
    """End the process at once, as a crash would (logs flushed first): nothing more is committed."""
    logging.shutdown()
    os._exit(status)


def _exit_after(seconds: float, signum: signal.Signals) -> None:
    threading.Event().wait(seconds)
    log.error("still stopping %.0fs after %s: exiting now (status %d); unfinished input is "
              "redelivered to the next owner", seconds, signum.name, EXIT_STOP_TIMEOUT)
    logging.shutdown()
    os._exit(EXIT_STOP_TIMEOUT)
