"""The worker's Faust monitor keeps only what Faust reads back (pipeline.stream.lean_monitor)."""

from __future__ import annotations

from typing import Any

import faust
from faust.sensors import Monitor
from faust.types import TP

from pipeline.stream.lean_monitor import LeanMonitor

TP0 = TP("t", 0)


class _Message:
    time_in: float | None = None


class _Owner:
    """A task owner the stock monitor can key its weak lookup by."""


class _Stream:
    task_owner = _Owner()


def _drive(monitor: Monitor) -> None:
    """One message through every per-message hook, as Faust calls them."""
    message: Any = _Message()
    app = faust.App("test-lean-monitor", broker="kafka://localhost:1", store="memory://", web_enabled=False)
    stream: Any = _Stream()
    table: Any = app.Table("t")
    monitor.on_message_in(TP0, 1, message)
    state = monitor.on_stream_event_in(TP0, 1, stream, None)
    monitor.on_table_get(table, "k")
    monitor.on_table_set(table, "k", "v")
    monitor.on_table_del(table, "k")
    sent = monitor.on_send_initiated(None, "t", None, 1, 1)  # type: ignore[arg-type]
    monitor.on_send_completed(None, sent, None)  # type: ignore[arg-type]
    monitor.on_stream_event_out(TP0, 1, stream, None, state)
    monitor.on_message_out(TP0, 1, message)


def test_faust_still_sees_when_each_stream_last_took_a_message() -> None:
    monitor = LeanMonitor()
    _drive(monitor)
    first = monitor.stream_inbound_time[TP0]
    _drive(monitor)
    assert monitor.stream_inbound_time[TP0] > first  # verify_event_path reads this


def test_no_bookkeeping_per_message_where_the_stock_monitor_keeps_it() -> None:
    stock, lean = Monitor(), LeanMonitor()
    _drive(stock)
    _drive(lean)
    counters = ("messages_received_total", "events_total", "messages_sent")
    assert all(getattr(stock, name) == 1 for name in counters)  # what the stock one keeps per message
    assert all(getattr(lean, name) == 0 for name in counters)
    assert len(stock.events_runtime) == 1 and len(lean.events_runtime) == 0
    assert stock.tables and not lean.tables
    assert len(stock.send_latency) == 1 and len(lean.send_latency) == 0
