"""The latency step's reading of the worker's batch metrics (pure arithmetic over two scrapes)."""

from bench.latency import batch_stats


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
