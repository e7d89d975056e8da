"""Rendering the benchmark's results as ``docs/benchmarks.md``: pure, no I/O.

A run collects :class:`Row` figures (one line of the summary table: the
measure, its figure, its target and whether the target was met) and
:class:`Section` texts (how each figure was measured, with the details), and
:func:`render` turns them into Markdown. Kept free of servers and clocks so a
unit test can check it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    """One line of the summary table."""

    measure: str
    figure: str
    target: str = ""
    met: bool | None = None  # None: no target, or not measured

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "n/a" if not self.target else "not measured"
        return "yes" if self.met else "**no**"


@dataclass(frozen=True)
class Section:
    title: str
    body: str


@dataclass
class Report:
    date: str
    command: str
    machine: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total_seconds: float | None = None


def fmt_rate(per_second: float) -> str:
    """Events per second, rounded to what a noisy machine can tell apart."""
    if per_second >= 100_000:
        return f"{per_second / 1000:,.0f}k/s"
    if per_second >= 10_000:
        return f"{per_second / 1000:,.1f}k/s"
    return f"{per_second:,.0f}/s"


def fmt_seconds(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def fmt_bytes(n: float) -> str:
    if n < 10_000:
        return f"{n:,.0f} B"
    if n < 10_000_000:
        return f"{n / 1024:,.0f} KiB"
    if n < 10_000_000_000:
        return f"{n / 1024 ** 2:,.0f} MiB"
    return f"{n / 1024 ** 3:,.1f} GiB"


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(_escape(h) for h in header) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_escape(str(c)) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _kv_table(title: str, values: dict[str, str]) -> str:
    return table((title, "value"), [(k, v) for k, v in values.items()])


def render(report: Report) -> str:
    out = ["# Benchmarks", "",
           "Written by `make bench` (`bench/`): one run against the real local Kafka and Redis, "
           "every figure and ratio below from that same run. Rerun it to refresh this file; "
           "figures from a shared 2-core machine move by ±10-20% between runs.", ""]
    out += [f"- **date**: {report.date}", f"- **command**: `{report.command}`"]
    if report.total_seconds is not None:
        out.append(f"- **total run time**: {fmt_seconds(report.total_seconds)}")
    out.append("")
    if report.notes:
        out += ["## Read this first", ""] + [f"- {n}" for n in report.notes] + [""]
    out += ["## Results", "", table(("measure", "figure", "target", "met?"),
                                      [(r.measure, r.figure, r.target or "-", r.verdict) for r in report.rows]), ""]
    out += ["## Machine and versions", "", _kv_table("machine", report.machine), "",
            _kv_table("software", report.versions), ""]
    if report.parameters:
        out += ["## Parameters of this run", "", _kv_table("parameter", report.parameters), ""]
    for section in report.sections:
        out += [f"## {section.title}", "", section.body.rstrip(), ""]
    return "\n".join(out).rstrip() + "\n"
