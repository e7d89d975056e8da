"""A Faust monitor that keeps only what Faust itself reads.

Faust calls its monitor (``faust.sensors.Monitor``) on every message several
times: in, stream in, stream out, out, every table get and set, every send.
The stock monitor keeps counters, deques of timings and per-stream lookups
there, for Faust's web ``/stats`` view, which this project turns off
(``web_stats_enabled=False``); our own metrics live in ``metrics.py``. That
bookkeeping is pure cost per record on the worker's one busy thread.

Faust reads back exactly one thing: ``stream_inbound_time[tp]``, which the
aiokafka driver's ``verify_event_path`` uses to warn about a stream that has
not processed anything for a while. ``on_stream_event_in`` keeps setting it;
the other per-message hooks do nothing. Rebalance, commit and assignment
hooks, which run rarely, are the stock ones.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors import Monitor


class LeanMonitor(Monitor):
    """Stock monitor minus the per-message bookkeeping nobody reads here."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        """No counters per message (Faust's /stats view is off)."""

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        """Keep the one value Faust reads back: when the stream last took a message."""
        self.stream_inbound_time[tp] = monotonic()
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any,
                            state: Any = None) -> None:
        """No per-event runtime deque."""

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        """No per-message timing."""

    def on_table_get(self, table: Any, key: Any) -> None:
        """No per-key counters."""

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        """No per-key counters."""

    def on_table_del(self, table: Any, key: Any) -> None:
        """No per-key counters."""

    def on_send_initiated(self, producer: Any, topic: str, message: Any,
                          keysize: int, valsize: int) -> Any:
        """No per-send counters or timing."""
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        """No per-send latency deque."""
