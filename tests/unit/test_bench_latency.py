"""The latency step's reading of the worker's batch and GC metrics (pure arithmetic over two scrapes)."""

from bench.latency import GcStats, Stall, batch_stats, gc_stats, stalls_between


def _scrape(stage: str, count: float, total: float, events: float) -> dict:
    labels = (("stage", stage),)
    return {("cg_batch_seconds_count", labels): count, ("cg_batch_seconds_sum", labels): total,
            ("cg_batch_events_sum", labels): events, ("cg_events_in_total", labels): 1.0}


def test_batch_stats_are_the_difference_between_two_scrapes_per_stage() -> None:
    before = {**_scrape("ingest", 10, 0.5, 400), **_scrape("profiles", 4, 0.1, 20)}
    after = {**_scrape("ingest", 30, 1.5, 1400), **_scrape("profiles", 4, 0.1, 20)}
    stats = batch_stats(before, after)
    assert set(stats) == {"ingest", "profiles"}
    ingest = stats["ingest"]
    assert (ingest.batches, ingest.events, ingest.seconds) == (20, 1000, 1.0)
    assert ingest.mean_events == 50
    assert ingest.mean_ms == 50
    idle = stats["profiles"]
    assert (idle.batches, idle.mean_events, idle.mean_ms) == (0, 0.0, 0.0)


def test_a_stage_first_seen_in_the_second_scrape_counts_from_zero() -> None:
    stats = batch_stats({}, _scrape("ingest", 2, 0.02, 8))
    assert stats["ingest"].mean_events == 4
    assert round(stats["ingest"].mean_ms, 6) == 10


def test_gc_stats_count_each_generation_s_collections_and_the_long_ones_between_two_scrapes() -> None:
    def scrape(gen: str, count: float, total: float, under_50ms: float) -> dict:  # type: ignore[type-arg]
        labels = (("generation", gen),)
        return {("cg_gc_pause_seconds_count", labels): count, ("cg_gc_pause_seconds_sum", labels): total,
                ("cg_gc_pause_seconds_bucket", (*labels, ("le", "0.05"))): under_50ms}

    before = {**scrape("0", 10, 0.5, 8), **scrape("1", 2, 0.3, 0)}
    after = {**scrape("0", 14, 0.6, 12), **scrape("1", 3, 0.45, 0), **scrape("2", 1, 0.4, 0)}
    assert gc_stats(before, after) == {"0": GcStats(4, 0.6 - 0.5, 0), "1": GcStats(1, 0.45 - 0.3, 1),
                                       "2": GcStats(1, 0.4, 1)}
    assert gc_stats(after, after) == {}  # no collection in between


def test_the_worker_s_cpu_share_is_its_cpu_over_the_sending_time_and_absent_when_not_measured() -> None:
    from bench.latency import LatencyResult, _cpu
    from bench.sections import batch_table, cpu_line

    def result(cpu: float | None) -> LatencyResult:
        # 150,000 events sent over 50 s (warm-up included): 3,000 events/s
        return LatencyResult(3000.0, 3000.0, 45.0, 900, 900, 0.03, 0.05, 0.09, 0.2,
                             events_sent=150_000, records_sent=150_000, worker_cpu_seconds=cpu)

    busy = result(46.5)
    assert round(busy.worker_cpu_share, 6) == 0.93  # type: ignore[arg-type]
    assert round(busy.worker_cpu_us_per_event, 6) == 310  # type: ignore[arg-type]
    assert "93% of a core" in cpu_line(busy) and "310 µs of CPU per event" in cpu_line(busy)
    assert "93% of a core" in batch_table(busy)  # said even without the batch metrics
    unmeasured = result(None)
    assert unmeasured.worker_cpu_share is None and unmeasured.worker_cpu_us_per_event is None
    assert cpu_line(unmeasured) == "" and batch_table(unmeasured) == ""
    assert _cpu(None) is None


def test_stalls_are_the_observations_over_a_tenth_of_a_second_between_two_scrapes() -> None:
    def hist(name: str, labels: tuple[tuple[str, str], ...], count: float, under: float) -> dict:  # type: ignore[type-arg]
        return {(f"{name}_count", labels): count,
                (f"{name}_bucket", tuple(sorted((*labels, ("le", "0.1"))))): under}

    ingest, profiles = (("stage", "ingest"),), (("stage", "profiles"),)
    before = {**hist("cg_event_loop_lag_seconds", (), 100, 99), **hist("cg_batch_seconds", ingest, 50, 50),
              **hist("cg_batch_seconds", profiles, 10, 10)}
    after = {**hist("cg_event_loop_lag_seconds", (), 120, 117), **hist("cg_batch_seconds", ingest, 60, 59),
             **hist("cg_batch_seconds", profiles, 20, 20), **hist("cg_gc_pause_seconds", (("generation", "2"),), 1, 0)}
    assert stalls_between(before, after, 12.5) == [
        Stall(12.5, "worker event loop late", 2), Stall(12.5, "worker ingest batch", 1),
        Stall(12.5, "worker gen-2 collection", 1)]
    assert stalls_between(after, after, 13.5) == []
    assert [str(s) for s in stalls_between(before, after, 12.5)[:2]] == [
        "12.5 s: worker event loop late ×2", "12.5 s: worker ingest batch"]


def test_a_stall_says_the_highest_bucket_it_exceeded() -> None:
    def lag(count: float, **under: float) -> dict:  # type: ignore[type-arg]
        return {("cg_event_loop_lag_seconds_count", ()): count,
                **{("cg_event_loop_lag_seconds_bucket", (("le", le.replace("_", ".")),)): n
                   for le, n in under.items()},
                ("cg_event_loop_lag_seconds_bucket", (("le", "+Inf"),)): count}

    before = lag(100, **{"0_1": 100, "0_25": 100, "0_5": 100, "1_0": 100, "5_0": 100})
    one_long = lag(103, **{"0_1": 100, "0_25": 101, "0_5": 102, "1_0": 102, "5_0": 103})  # 0.2, 0.7, 1.7 s
    assert stalls_between(before, one_long, 3.0) == [Stall(3.0, "worker event loop late (the longest over 1.0 s)", 3)]
    short = lag(101, **{"0_1": 100, "0_25": 101, "0_5": 101, "1_0": 101, "5_0": 101})  # 0.2 s: no bucket above 0.1
    assert stalls_between(before, short, 3.0) == [Stall(3.0, "worker event loop late", 1)]
