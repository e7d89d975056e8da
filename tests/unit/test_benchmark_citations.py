"""Figures quoted from docs/benchmarks.json in the docs match the file.

README.md ("Sizing") and docs/scaling.md quote measured figures as ```key` = value``.
A new ``make bench`` rewrites docs/benchmarks.json; this test then names every quote
that went stale, so the docs (and the numbers derived from them) are refreshed with it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = json.loads((ROOT / "docs/benchmarks.json").read_text())
CITING = ["README.md", "docs/scaling.md"]
#: A quote may break across lines after the key (the README wraps at 80 columns).
QUOTE = re.compile(r"`([a-z0-9_]+)`\s+=\s+(null|-?[\d,]+(?:\.\d+)?)")


def quotes(path: str) -> list[tuple[str, str]]:
    return QUOTE.findall((ROOT / path).read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", CITING)
def test_quoted_figures_match_benchmarks_json(path: str) -> None:
    found = quotes(path)
    assert found, f"{path} quotes no figure of docs/benchmarks.json"
    stale = []
    for key, text in found:
        assert key in FIGURES, f"{path}: `{key}` is not a key of docs/benchmarks.json"
        value = FIGURES[key]
        quoted = None if text == "null" else float(text.replace(",", ""))
        if quoted != (None if value is None else float(value)):
            stale.append(f"`{key}` = {text} (the file has {value})")
    assert not stale, f"{path}: refresh these quotes (and what is derived from them): {stale}"


def test_the_pattern_reads_a_quote() -> None:
    assert QUOTE.findall("x `pipeline_single_events_per_s` = 2,839 y `two_workers_speedup` = null") == [
        ("pipeline_single_events_per_s", "2,839"), ("two_workers_speedup", "null")]
    assert QUOTE.findall("at `pipeline_single_cpu_us_per_event`\n  = 134.8 µs") == [
        ("pipeline_single_cpu_us_per_event", "134.8")]
