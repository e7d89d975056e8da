"""Health: a failure that lasts is reported, with its reason, until the work succeeds."""

from __future__ import annotations

import subprocess
import sys

from prometheus_client import CollectorRegistry, Gauge

from pipeline.stream.health import Health


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _health() -> tuple[Health, Gauge, Clock]:
    gauge = Gauge("cg_stalled", "test", ["what"], registry=CollectorRegistry())
    clock = Clock()
    return Health(gauge, stall_after=30, clock=clock), gauge, clock


def test_a_short_failure_is_not_a_stall() -> None:
    health, gauge, clock = _health()
    health.failing("redis", ConnectionError("refused"))
    clock.now += 29
    health.failing("redis", ConnectionError("refused"))
    assert health.problems() == [] and health.failing_now == {"redis"}
    assert gauge.labels("redis")._value.get() == 0  # noqa: SLF001


def test_a_lasting_failure_is_reported_until_it_recovers() -> None:
    health, gauge, clock = _health()
    health.failing("ingest", ValueError("record too large"))
    clock.now += 31
    health.failing("ingest", ValueError("record too large"))
    (problem,) = health.problems()
    assert problem == {"what": "ingest", "failing_for_seconds": 31.0, "attempts": 2,
                       "error": "ValueError: record too large"}
    assert gauge.labels("ingest")._value.get() == 1  # noqa: SLF001
    health.recovered("ingest")
    assert health.problems() == [] and health.failing_now == frozenset()
    assert gauge.labels("ingest")._value.get() == 0  # noqa: SLF001


def test_the_stop_watchdog_exits_the_process() -> None:
    code = ("import signal, time; from pipeline.stream.process import _exit_after;"
            "_exit_after(0.2, signal.SIGTERM); time.sleep(30)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=20)
    assert done.returncode == 70 and b"exiting now" in done.stderr


def test_repeated_log_lines_are_cut_to_one_per_window() -> None:
    import logging

    from pipeline.stream.process import RepeatFilter

    clock = Clock()
    quiet = RepeatFilter(window=30, clock=clock)

    def record(msg: str, name: str = "aiokafka.conn", address: str = "127.0.0.1:9092") -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, (address,), None)

    assert quiet.filter(record('Unable connect to "%s"'))
    assert not any(quiet.filter(record('Unable connect to "%s"')) for _ in range(2800))  # one second of them
    assert quiet.filter(record("Another message %s"))  # other lines pass
    assert quiet.filter(record('Unable connect to "%s"', address="10.0.0.2:9092"))  # the same, about another
    clock.now += 31
    later = record('Unable connect to "%s"')
    assert quiet.filter(later) and "2800 similar line(s)" in later.getMessage()
