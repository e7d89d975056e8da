"""The bench's batched-record helpers and headline figures (pure: no servers, the bench never runs here)."""

from __future__ import annotations

from types import SimpleNamespace

import orjson

from bench.baseline import BaselineResult, events_in
from bench.data import batch_records
from bench.scaleout import ScaleOutResult
from bench.summary import headline
from bench.worker_process import Progress


def test_events_in_counts_a_batch_by_its_length_and_an_object_as_one() -> None:
    assert events_in(b'{"type": "view"}') == 1
    assert events_in(b'[{"type": "view"}, {"type": "search"}, {"type": "basket"}]') == 3
    assert events_in(b"[]") == 0


def test_batch_records_keep_each_key_together_and_count_the_events() -> None:
    events = [orjson.dumps({"visitor_id": f"ck-{n % 3}", "n": n}) for n in range(10)]
    events.append(orjson.dumps({"customer_id": "C1", "n": 10}))
    records = batch_records(events, per_record=2)
    assert sum(count for _, _, count in records) == len(events)
    for key, value, count in records:
        batch = orjson.loads(value)
        assert isinstance(batch, list) and len(batch) == count <= 2
        assert {e.get("visitor_id") or e.get("customer_id") for e in batch} == {key.decode() if key else None}
    assert (b"C1", orjson.dumps([{"customer_id": "C1", "n": 10}]), 1) in records


def _two(events: int, seconds: float, completed: bool = True) -> ScaleOutResult:
    stages = [{"ingest": 3_000.0, "identity": 3_000.0, "profiles": 3_100.0},
              {"ingest": 7_000.0, "identity": 0.0, "profiles": 7_200.0}]
    return ScaleOutResult(2, events, events // 5, seconds, completed, 4.0, [3.0, 1.0], Progress({}, {}), "app", stages)


def test_headline_fills_the_batched_ceiling_latency_and_two_worker_figures() -> None:
    results = {
        "baseline": (BaselineResult("plain", 100_000, 1.0), BaselineResult("pydantic", 100_000, 2.0),
                     BaselineResult("faust", 10_000, 1.0)),
        "baseline batched": BaselineResult("faust batched", 50_000, 1.0, records=10_000),
        "throughput_batched": SimpleNamespace(rate=5_000.0, cpu_seconds=2.0, events=10_000),
        "latency batched": SimpleNamespace(p99=0.2034),
        "two workers batched": _two(10_000, 4.0),
    }
    figures = headline(SimpleNamespace(quick=True, events=10_000), results, "abc1234")
    assert figures["faust_parse_only_batched_events_per_s"] == 50_000
    assert figures["faust_parse_only_batched_events_per_record"] == 5.0
    assert figures["latency_p99_ms_batched"] == 203.4
    assert figures["two_workers_speedup"] == 0.5
    assert figures["two_workers_drained"] is True
    assert figures["two_workers_cpu_us_per_event"] == 400.0
    assert figures["two_workers_ingest_split"] == [0.3, 0.7]


def test_a_cut_two_worker_run_gives_an_upper_bound_and_says_so() -> None:
    cut = _two(10_000, 20.0, completed=False)
    figures = headline(SimpleNamespace(quick=True, events=10_000),
                       {"throughput_batched": SimpleNamespace(rate=1_000.0, cpu_seconds=1.0, events=10_000),
                        "two workers batched": cut}, "abc1234")
    assert figures["two_workers_speedup"] == 0.5
    assert figures["two_workers_drained"] is False
    assert figures["latency_p99_ms_batched"] is None


def test_the_two_worker_section_says_which_worker_took_the_identity_detour_or_took_nothing() -> None:
    from bench.sections import scale_out_section

    one = SimpleNamespace(events=10_000, seconds=2.0, completed=True, rate=5_000.0, startup_seconds=3.0,
                          cpu_seconds=2.0, progress=Progress({"app.by-subject": 30}, {}), app_id="app")
    text = scale_out_section(_two(10_000, 4.0), one, 4).body
    assert "**0.50×**" in text
    assert "Worker 1 ingested 30% of the events and sent 100% of them through the identity stage." in text
    idle = _two(10_000, 4.0)
    idle.stages = [{"ingest": 0.0}, {"ingest": 10_000.0, "identity": 0.0}]
    assert "Worker 1 ingested nothing" in scale_out_section(idle, one, 4).body


def test_rule_scaling_writes_both_ratios_and_its_section_lists_every_count() -> None:
    from bench.evaluation import SCALING_COUNTS, EvalResult
    from bench.sections import rule_scaling_section

    scaling = [EvalResult(f"{n}", n, 1_000, 0.05 * (1 + n / 1_000), 200, 0.02, 1.0, 0.04, joined=n)
               for n in SCALING_COUNTS]
    figures = headline(SimpleNamespace(quick=True, events=10_000), {"scaling": scaling}, "abc1234")
    assert figures["rule_scaling_1000_vs_10"] == 1.98 and figures["rule_scaling_10000_vs_10"] == 10.89
    assert headline(SimpleNamespace(quick=True, events=10_000), {}, "abc1234")["rule_scaling_10000_vs_10"] is None
    body = rule_scaling_section(scaling, None, None, {"leaf_uses": 17_724, "nodes": 4_713}).body
    assert "| 10,000 |" in body and "4,713 distinct conditions" in body and "--only rules" in body
    assert "| 10.0 | 10.9× |" in body  # 10,000 joins over 1,000 events
