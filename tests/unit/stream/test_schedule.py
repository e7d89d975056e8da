"""The re-check schedule: latest day wins, due subjects come out once."""

from __future__ import annotations

from pipeline.stream.schedule import RecheckSchedule


def test_due_subjects_pop_in_day_order_once() -> None:
    s = RecheckSchedule()
    s.set("a", 10)
    s.set("b", 5)
    s.set("c", 20)
    assert s.pop_due(9) == ["b"]
    assert s.pop_due(10) == ["a"] and s.pop_due(10) == [] and len(s) == 1


def test_rescheduling_replaces_the_old_day() -> None:
    s = RecheckSchedule()
    s.set("a", 5)
    s.set("a", 8)
    assert s.pop_due(6) == [] and s.next_day() == 8
    s.set("a", None)
    assert s.pop_due(100) == [] and s.next_day() is None


def test_pop_due_respects_the_limit() -> None:
    s = RecheckSchedule()
    for i in range(5):
        s.set(f"s{i}", 1)
    assert len(s.pop_due(1, limit=3)) == 3 and len(s.pop_due(1)) == 2
