"""A bar on a terminal, a log line every 10% elsewhere."""

from __future__ import annotations

import io
import logging

import pytest

from pipeline.export.progress import BarProgress, LogProgress, make_progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_and_a_pipe_gets_log_lines() -> None:
    assert isinstance(make_progress(Tty()), BarProgress)
    assert isinstance(make_progress(io.StringIO()), LogProgress)


def test_log_lines_every_tenth_and_at_the_end(caplog: pytest.LogCaptureFixture) -> None:
    progress = LogProgress(logger=logging.getLogger("test.progress"))
    with caplog.at_level(logging.INFO, logger="test.progress"):
        progress.start("group 12 'Sony'", 1_000_000)
        for done in range(0, 1_000_001, 1000):  # updated once per chunk, as the job does
            progress.update(done)
        progress.finish()
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(": ")[1].split(" ")[0] for line in lines[:-1]] == [f"{p}%" for p in range(10, 100, 10)]
    assert lines[0] == "group 12 'Sony': 10% (100,000 of ~1,000,000)"
    assert lines[-1].startswith("group 12 'Sony': done, 1,000,000 in ")


def test_the_bar_redraws_one_line() -> None:
    stream = Tty()
    progress = BarProgress(stream, interval=0)
    progress.start("group 1", 200)
    progress.update(100)
    assert "[###############---------------]  50% 100/200" in progress.render()
    progress.update(200)
    progress.finish()
    out = stream.getvalue()
    assert out.count("\r") == 4 and out.endswith("\n") and out.count("\n") == 1
    assert "100% 200/200" in out


def test_an_empty_group_is_complete_at_once() -> None:
    progress = BarProgress(Tty())
    progress.start("group 1", 0)
    assert "100% 0/0" in progress.render()
