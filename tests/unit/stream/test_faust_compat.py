"""The Faust overrides that need no broker (pipeline.stream.faust_compat)."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

from intervaltree import IntervalTree

from faust.types import TP

from pipeline.stream import faust_compat


async def test_a_gap_is_reported_never_recorded_as_processed() -> None:
    consumer = SimpleNamespace(_gap=defaultdict(IntervalTree), _committed_offset=defaultdict(lambda: None))
    seen: list[tuple[str, int, int, int]] = []
    faust_compat.gap_listeners.append(lambda *gap: seen.append(gap))
    try:
        tp = TP("cg.events", 3)
        await faust_compat.add_gap_never_as_processed(consumer, tp, 7075, 12427)  # type: ignore[arg-type]
        assert seen == [("cg.events", 3, 7075, 12427)]
        assert not consumer._gap  # nothing Faust's _new_offset would commit through  # noqa: SLF001
        # what upstream does with the same call: the skipped offsets become committable
        await faust_compat.UPSTREAM_ADD_GAP(consumer, tp, 7075, 12427)  # type: ignore[arg-type]
        assert consumer._gap[tp]  # noqa: SLF001
    finally:
        faust_compat.gap_listeners.clear()


def test_install_overrides_replaces_the_three_methods() -> None:
    from faust.transport.consumer import Consumer
    from faust.transport.producer import ProducerBuffer

    faust_compat.install_overrides()
    assert Consumer._add_gap is faust_compat.add_gap_never_as_processed  # noqa: SLF001
    assert ProducerBuffer.flush is faust_compat.flush_until_empty
    assert ProducerBuffer.put is faust_compat.put_tracked
