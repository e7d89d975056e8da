"""The benchmark's report rendering (pure): no servers, and the benchmark itself never runs here."""

from __future__ import annotations

from bench.report import Report, Row, Section, fmt_bytes, fmt_rate, fmt_seconds, render, table


def _report() -> Report:
    return Report(
        date="2026-11-22 23:00 UTC",
        command=".venv/bin/python -m bench",
        machine={"nproc": "2", "CPU model": "AMD EPYC"},
        versions={"Python": "3.11.7", "Kafka broker": "Kafka 4.4.0"},
        parameters={"events in the pre-filled topic (N)": "200,000"},
        rows=[
            Row("1. baseline", "150k/s"),
            Row("2. pipeline throughput", "1,000/s = 0.7% of the orjson baseline", "≥ 30% of baseline", False),
            Row("6. lookup", "p50 0.1 ms, p99 0.4 ms", "p99 ≤ 1 ms", True),
            Row("3. latency", "failed", "p99 ≤ 100 ms", None),
        ],
        sections=[Section("Traffic", "generated | produced")],
        notes=["N = 200,000 events, not 1,000,000."],
        total_seconds=905.0,
    )


def test_render_has_header_results_table_and_sections() -> None:
    text = render(_report())
    assert text.startswith("# Benchmarks\n")
    assert "- **date**: 2026-11-22 23:00 UTC" in text
    assert "- **command**: `.venv/bin/python -m bench`" in text
    assert "- **total run time**: 15.1 min" in text
    assert "| measure | figure | target | met? |" in text
    assert "| 1. baseline | 150k/s | - | n/a |" in text
    assert "| 2. pipeline throughput | 1,000/s = 0.7% of the orjson baseline | ≥ 30% of baseline | **no** |" in text
    assert "| 6. lookup | p50 0.1 ms, p99 0.4 ms | p99 ≤ 1 ms | yes |" in text
    assert "| 3. latency | failed | p99 ≤ 100 ms | not measured |" in text
    assert "| nproc | 2 |" in text and "| Kafka broker | Kafka 4.4.0 |" in text
    assert "## Read this first\n\n- N = 200,000 events, not 1,000,000." in text
    assert "## Traffic\n\ngenerated | produced\n" in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_sections_keep_their_order_and_notes_are_optional() -> None:
    report = _report()
    report.notes = []
    report.sections = [Section("B", "second"), Section("A", "first")]
    text = render(report)
    assert "Read this first" not in text
    assert text.index("## B") < text.index("## A")


def test_table_escapes_pipes_in_cells() -> None:
    assert table(("a", "b"), [("x|y", "z")]).splitlines()[-1] == "| x\\|y | z |"


def test_number_formats() -> None:
    assert fmt_rate(1_234_567) == "1,235k/s"
    assert fmt_rate(12_345) == "12.3k/s"
    assert fmt_rate(987.4) == "987/s"
    assert fmt_seconds(0.000_25) == "250 µs"
    assert fmt_seconds(0.0123) == "12.3 ms"
    assert fmt_seconds(42.04) == "42.0 s"
    assert fmt_seconds(905) == "15.1 min"
    assert fmt_bytes(512) == "512 B"
    assert fmt_bytes(300 * 1024 ** 2) == "300 MiB"
