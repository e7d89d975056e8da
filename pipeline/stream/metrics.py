"""Prometheus metrics of a worker, served at ``/metrics`` by its web server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class CacheCounts(Protocol):
    """What a decoded-profile cache counts (``ProfileStore``): read at scrape time, not per load."""

    hits: int
    misses: int

    def cached(self) -> int: ...


class _ProfileCacheCollector(Collector):
    """``cg_profile_cache_*`` from the store's own counters: a load costs no metric call."""

    def __init__(self, cache: CacheCounts) -> None:
        self.cache = cache

    def collect(self) -> Iterator[Metric]:
        cache = self.cache
        loads = CounterMetricFamily(
            "cg_profile_cache_loads", "Stored profiles loaded for a batch, by where the decoded profile "
            "came from: the cache (CG_PROFILE_CACHE_SIZE) or the table (decoded again); many table loads "
            "with a cache at its size mean a larger cache would save CPU", labels=["source"])
        loads.add_metric(["cache"], cache.hits)
        loads.add_metric(["table"], cache.misses)
        yield loads
        yield GaugeMetricFamily("cg_profile_cache_profiles", "Decoded profiles the cache holds",
                                value=cache.cached())


class Metrics:
    """One registry per worker, so tests can run several workers in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events_in = Counter("cg_events_in_total", "Messages consumed, by stage", ["stage"], registry=r)
        self.rekeyed = Counter("cg_events_rekeyed_total", "Storefront events the ingest stage sent through the "
                               "re-keying topic to the identity stage (not on their cookie's partition): "
                               "the extra hop; cookie-keyed traffic takes it for none", registry=r)
        self.dead_lettered = Counter("cg_dead_lettered_total", "Messages sent to the dead-letter topic",
                                     ["stage", "reason"], registry=r)
        self.membership_changes = Counter("cg_membership_changes_total", "Group joins and leaves",
                                          ["change"], registry=r)
        self.evaluation_seconds = Histogram(
            "cg_evaluation_seconds", "Time to fold and evaluate one message for one subject "
            "(observed once per batch: the batch's mean)",
            buckets=(1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05), registry=r)
        self.batch_seconds = Histogram(
            "cg_batch_seconds", "Time to process one batch, by stage, lock wait and Redis included",
            ["stage"], buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5), registry=r)
        self.batch_events = Histogram(
            "cg_batch_events", "Messages in one batch, by stage", ["stage"],
            buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000), registry=r)
        self.redis_flush_seconds = Histogram(
            "cg_redis_flush_seconds", "Time to send one batch of membership writes to Redis",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5), registry=r)
        self.retries = Counter("cg_retries_total", "Batches or messages retried after an infrastructure error",
                               ["stage"], registry=r)
        self.redis_retries = Counter("cg_redis_retries_total", "Redis writes retried after an error",
                                     registry=r)
        self.lag = Gauge("cg_consumer_lag", "Messages not yet read, by topic and partition",
                         ["topic", "partition"], registry=r)
        self.rechecks = Counter("cg_rechecks_total", "Time-based re-checks sent", registry=r)
        self.scheduled = Gauge("cg_rechecks_scheduled", "Subjects waiting for a time-based re-check",
                               registry=r)
        self.backfilled = Counter("cg_backfilled_profiles_total",
                                  "Stored profiles re-evaluated for new or changed groups", registry=r)
        self.backfill_progress = Gauge("cg_backfill_progress_ratio",
                                       "Progress of the running back-fill of a partition (0-1)",
                                       ["partition"], registry=r)
        self.groups = Gauge("cg_groups", "Groups known to this worker, by type", ["type"], registry=r)
        self.redis_repairs = Counter("cg_redis_repairs_total", "Partitions rebuilt in Redis from the "
                                     "profile table after Redis lost its data", registry=r)
        self.replay_rewrites = Counter("cg_replay_rewrites_total", "Subjects whose Redis keys were rewritten "
                                       "whole because a previous owner may have processed their input "
                                       "(read again after a restart, failover or rebalance)", registry=r)
        self.offset_gaps = Counter("cg_offset_gaps_total", "Offsets the consumer skipped without handing "
                                   "them to a stream (never committed as processed)", ["topic"], registry=r)
        self.stalled = Gauge("cg_stalled", "1 while a stage's work has failed, or a partition's committed "
                             "offset has not moved with records after it (what=\"partition <topic>[<n>]\"), "
                             "for longer than CG_STALL_AFTER_SECONDS (see /healthz for the reason)", ["what"],
                             registry=r)

        self.gc_pause_seconds = Histogram(
            "cg_gc_pause_seconds", "Garbage collections of the worker process, by generation: the one "
            "thread that runs every stage stops for each", ["generation"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1), registry=r)
        self.loop_lag_seconds = Histogram(
            "cg_event_loop_lag_seconds", "How much later than asked a 50 ms timer on the worker's event loop "
            "woke: the loop every stage, fetch and send shares was held that long (pipeline.stream.loop_lag)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5), registry=r)
        self.gc_reclaimed_objects = Counter(
            "cg_gc_reclaimed_objects_total", "Unreachable objects the periodic full collection freed "
            "(CG_GC_RECLAIM_SECONDS): cyclic garbage that outlived a batch; steady growth is a leak "
            "that only the full collection keeps in check", registry=r)

    def watch_profile_cache(self, cache: CacheCounts) -> None:
        """Export the decoded-profile cache's hits and misses (read from ``cache`` at each scrape)."""
        self.registry.register(_ProfileCacheCollector(cache))

    def render(self) -> bytes:
        return generate_latest(self.registry)
