"""Step 3, latency: event produced → membership visible in Redis, at half the maximum rate.

The worker from step 2 keeps running (its profiles from the whole topic in
memory). Background traffic, more of the same shop's storefront events (a
different seed, so new event IDs), goes to the events topic at a steady rate
of half the measured pipeline throughput; among it, probe events: a ``view``
of a Sony product by a fresh cookie ``lat-<n>``, which must put the cookie in
group 12 "Sony interest" (``rules_config/``). Every event is keyed by its cookie,
as the README asks storefronts to and as the throughput step's topic is, so
the run measures the same path the maximum was measured on. The clock starts just before
the probe is handed to the producer (so the producer's linger counts) and
stops when Redis announces the SADD to ``<prefix>:s:{v:lat-<n>}`` through a
keyspace notification (``notify-keyspace-events`` gets ``K`` and ``s`` for
the run, and its old value back afterwards).

The batched variant (``batched=True``) runs the same against the batched step's
worker: the background goes as batched records (:func:`bench.data.batch_records`,
up to 20 events of one cookie per record, keyed like them) at a rate in
*events* per second, and each probe is a record of its own holding a one-event
JSON array (a collector flushing a fresh cookie's only event), cookie
``latb-<n>`` so that no probe's SADD finds its member already there (Redis
announces only an SADD that adds).
"""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from bench.common import percentile, say
from bench.data import Record, cookie_key
from bench.worker_process import WorkerProcess
from pipeline.settings import Settings

WARMUP_SECONDS = 5.0
TICK = 0.01


@dataclass
class LatencyResult:
    rate_target: float
    rate_sent: float
    seconds: float
    probes: int
    seen: int
    p50: float
    p95: float
    p99: float
    max: float
    method: str = "keyspace notifications"
    batches: dict[str, BatchStats] = field(default_factory=dict)
    collections: dict[str, GcStats] = field(default_factory=dict)  # by generation, during the run
    records_sent: int = 0  # Kafka records, probes included
    events_sent: int = 0
    batched: bool = False  # background as batched records, each probe a one-event array of its own
    samples: list[tuple[float, float]] = field(default_factory=list)  # (sent, seconds after the warm-up; latency)
    worker_cpu_seconds: float | None = None  # the worker process's CPU time while the traffic was sent
    stalls: list[Stall] = field(default_factory=list)  # what held the worker or the bench, and when
    cache_loads: tuple[int, int] | None = None  # stored profiles loaded (from the decoded cache, decoded again)

    @property
    def cache_hit_ratio(self) -> float | None:
        """The share of profile loads the worker's decoded cache served while the traffic was sent."""
        if not self.cache_loads or not sum(self.cache_loads):
            return None
        return self.cache_loads[0] / sum(self.cache_loads)

    @property
    def worker_cpu_share(self) -> float | None:
        """The worker's CPU over the sending time, in cores: how near saturation "half max" is."""
        if self.worker_cpu_seconds is None or not self.rate_sent or not self.events_sent:
            return None
        return self.worker_cpu_seconds * self.rate_sent / self.events_sent

    @property
    def worker_cpu_us_per_event(self) -> float | None:
        if self.worker_cpu_seconds is None or not self.events_sent:
            return None
        return self.worker_cpu_seconds * 1e6 / self.events_sent

    @property
    def events_per_record(self) -> float:
        return self.events_sent / self.records_sent if self.records_sent else 1.0

    @property
    def lost(self) -> int:
        return self.probes - self.seen


@dataclass
class BatchStats:
    """A worker stage's batches during the run, from its ``cg_batch_*`` metrics."""

    batches: int
    events: float
    seconds: float

    @property
    def mean_events(self) -> float:
        return self.events / self.batches if self.batches else 0.0

    @property
    def mean_ms(self) -> float:
        return 1e3 * self.seconds / self.batches if self.batches else 0.0


@dataclass
class GcStats:
    """The worker's garbage collections of one generation during the run (``cg_gc_pause_seconds``)."""

    count: int
    seconds: float
    over_50ms: int


@dataclass
class Stall:
    """Something that held a process for 0.1 s or more during the run, seen within a second of it.

    ``at`` is when it was seen (seconds after the warm-up; the worker's are found by
    scraping its metrics every :data:`SAMPLE_SECONDS`, so up to that much after the
    stall); ``what`` says where: the worker's event loop woke that late
    (``cg_event_loop_lag_seconds``), a stage's batch took that long
    (``cg_batch_seconds``), a worker collection (``cg_gc_pause_seconds``), or a
    garbage collection of the bench process itself (which sends the traffic and
    hears Redis: its pause delays probes the worker did not).
    """

    at: float
    what: str
    count: int

    def __str__(self) -> str:
        return f"{self.at:.1f} s: {self.what}{f' ×{self.count}' if self.count > 1 else ''}"


SAMPLE_SECONDS = 1.0
SLOW = "0.1"  # the histograms' bucket bound a stall exceeds


def over(samples: dict, name: str, labels: tuple[tuple[str, str], ...] = (), bound: str = SLOW) -> float:
    """How many observations of histogram ``name`` (with ``labels``) exceeded ``bound`` seconds."""
    count = samples.get((f"{name}_count", labels), 0.0)
    under = samples.get((f"{name}_bucket", tuple(sorted((*labels, ("le", bound))))), 0.0)
    return count - under


def over_between(before: dict, after: dict, name: str, labels: tuple[tuple[str, str], ...] = (),
                 bound: str = SLOW) -> int:
    """How many observations between two scrapes exceeded ``bound`` seconds."""
    return int(over(after, name, labels, bound) - over(before, name, labels, bound))


def longest(before: dict, after: dict, name: str, labels: tuple[tuple[str, str], ...] = ()) -> str:
    """The highest bucket bound over :data:`SLOW` that an observation between the scrapes exceeded, or ""."""
    bounds = sorted((float(le), le) for key, label_set in after if key == f"{name}_bucket"
                    for le in [dict(label_set).get("le", "+Inf")]
                    if le != "+Inf" and float(le) > float(SLOW)
                    and tuple(sorted(kv for kv in label_set if kv[0] != "le")) == tuple(sorted(labels)))
    exceeded = [le for _, le in bounds if over_between(before, after, name, labels, le) > 0]
    return exceeded[-1] if exceeded else ""


def stalls_between(before: dict, after: dict, at: float) -> list[Stall]:
    """The worker's stalls between two scrapes of its metrics."""
    found = []
    stages = sorted({dict(labels)["stage"] for name, labels in after if name == "cg_batch_seconds_count"})
    gens = sorted({dict(labels)["generation"] for name, labels in after if name == "cg_gc_pause_seconds_count"})
    for what, name, labels in [("worker event loop late", "cg_event_loop_lag_seconds", ()),
                               *((f"worker {stage} batch", "cg_batch_seconds", (("stage", stage),)) for stage in stages),
                               *((f"worker gen-{gen} collection", "cg_gc_pause_seconds", (("generation", gen),))
                                 for gen in gens)]:
        n = over_between(before, after, name, labels)
        if n > 0:
            bound = longest(before, after, name, labels)
            found.append(Stall(at, f"{what} (the longest over {bound} s)" if bound else what, n))
    return found


def gc_stats(before: dict, after: dict) -> dict[str, GcStats]:
    """Per generation, the collections between two scrapes of the worker's metrics."""
    def delta(name: str, labels: tuple[tuple[str, str], ...]) -> float:
        return after.get((name, labels), 0.0) - before.get((name, labels), 0.0)

    found: dict[str, GcStats] = {}
    for name, labels in after:
        if name != "cg_gc_pause_seconds_count":
            continue
        gen = (("generation", dict(labels)["generation"]),)
        count = int(delta("cg_gc_pause_seconds_count", gen))
        if count:
            found[dict(labels)["generation"]] = GcStats(
                count, delta("cg_gc_pause_seconds_sum", gen),
                over_between(before, after, "cg_gc_pause_seconds", gen, "0.05"))
    return dict(sorted(found.items()))


def batch_stats(before: dict, after: dict) -> dict[str, BatchStats]:
    """Per stage, what the batches did between two scrapes of the worker's metrics."""
    def delta(name: str, stage: str) -> float:
        key = (name, (("stage", stage),))
        return after.get(key, 0.0) - before.get(key, 0.0)

    stages = sorted({dict(labels)["stage"] for name, labels in after if name == "cg_batch_seconds_count"})
    return {stage: BatchStats(int(delta("cg_batch_seconds_count", stage)), delta("cg_batch_events_sum", stage),
                              delta("cg_batch_seconds_sum", stage)) for stage in stages}


def cache_loads(before: dict, after: dict) -> tuple[int, int] | None:
    """(profile loads from the decoded cache, from the table) between two scrapes (``cg_profile_cache_*``)."""
    def delta(source: str) -> int:
        key = ("cg_profile_cache_loads_total", (("source", source),))
        return int(after.get(key, 0.0) - before.get(key, 0.0))

    if ("cg_profile_cache_loads_total", (("source", "cache"),)) not in after:
        return None
    return delta("cache"), delta("table")


def probe_event(run_id: str, n: int, cookie: str = "lat") -> bytes:
    return orjson.dumps({
        "type": "view", "event_id": f"{run_id}-{cookie}-{n}", "occurred_at": datetime.now(UTC).isoformat(),
        "visitor_id": f"{cookie}-{n}",
        "product": {"product_id": "KD-55X", "brand": "Sony", "category": "TV", "price": "899.00"}})


def single_records(values: list[bytes]) -> list[Record]:
    """One event per record, keyed by its cookie: the throughput step's topic."""
    return [(cookie_key(value), value, 1) for value in values]


async def run(settings: Settings, run_id: str, background: list[Record], rate: float, duration: float,
              probes_per_second: float = 20.0, worker: WorkerProcess | None = None,
              batched: bool = False) -> LatencyResult:
    """``rate`` is in events per second, whatever the records hold."""
    cookie = "latb" if batched else "lat"
    say(f"step 3/7 latency{' (batched records)' if batched else ''}: probes at {probes_per_second:.0f}/s inside "
        f"{rate:,.0f} events/s for {duration:.0f}s (after {WARMUP_SECONDS:.0f}s warm-up), measured at Redis")
    redis = Redis.from_url(settings.redis_url)
    db = redis.connection_pool.connection_kwargs.get("db", 0)
    original = (await redis.config_get("notify-keyspace-events")).get("notify-keyspace-events", "")
    original = original.decode() if isinstance(original, bytes) else original
    flags = "".join(sorted(set(original) | {"K", "s"}))
    sent_at: dict[int, float] = {}
    seen_at: dict[int, float] = {}
    prefix = f"__keyspace@{db}__:{settings.redis_prefix}:s:{{v:{cookie}-"
    pubsub = redis.pubsub()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    listener: asyncio.Task[None] | None = None
    sampler: asyncio.Task[None] | None = None
    stalls: list[Stall] = []
    started = gc_started = time.perf_counter()

    def bench_gc(phase: str, info: dict) -> None:  # the bench process's own pauses over SLOW
        nonlocal gc_started
        if phase == "start":
            gc_started = time.perf_counter()
        elif (now := time.perf_counter()) - gc_started >= float(SLOW):
            stalls.append(Stall(now - started - WARMUP_SECONDS, f"bench gen-{info['generation']} collection "
                                f"({(now - gc_started) * 1e3:.0f} ms)", 1))

    async def sample(previous: dict) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SAMPLE_SECONDS)
            try:
                current = await loop.run_in_executor(None, _scrape, worker)
            except Exception:  # noqa: BLE001 - a lost sample must not end the run
                continue
            if current:
                stalls.extend(stalls_between(previous, current, time.perf_counter() - started - WARMUP_SECONDS))
                previous = current

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] != "pmessage" or message["data"] != b"sadd":
                continue
            now = time.perf_counter()
            channel = message["channel"].decode()
            n = int(channel[len(prefix):-1])
            seen_at.setdefault(n, now)

    try:
        await redis.config_set("notify-keyspace-events", flags)
        await pubsub.psubscribe(f"{prefix}*")
        listener = asyncio.create_task(listen())
        await producer.start()
        scraped = _scrape(worker)
        cpu_before = _cpu(worker)
        started = time.perf_counter()
        gc.callbacks.append(bench_gc)
        if scraped:
            sampler = asyncio.create_task(sample(scraped))
        end = started + WARMUP_SECONDS + duration
        sent = records = probes = 0
        next_probe = started + WARMUP_SECONDS
        stream = iter(background)
        exhausted = False
        while (now := time.perf_counter()) < end:
            due = int((now - started) * rate)
            while sent < due and not exhausted:
                if now >= next_probe:
                    value = probe_event(run_id, probes, cookie)
                    if batched:
                        value = b"[" + value + b"]"
                    sent_at[probes] = time.perf_counter()
                    await producer.send(settings.topic_events, value, key=f"{cookie}-{probes}".encode())
                    probes += 1
                    next_probe += 1 / probes_per_second
                    sent += 1
                else:
                    record = next(stream, None)
                    if record is None:
                        exhausted = True
                        break
                    await producer.send(settings.topic_events, record[1], key=record[0])
                    sent += record[2]
                records += 1
            await asyncio.sleep(TICK)
        await producer.flush()
        sent_seconds = time.perf_counter() - started
        if sampler is not None:
            sampler.cancel()
        cpu_after = _cpu(worker)
        worker_cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
        finished = _scrape(worker) if scraped else {}
        batches = batch_stats(scraped, finished) if scraped else {}
        collections = gc_stats(scraped, finished) if scraped else {}
        loads = cache_loads(scraped, finished) if scraped else None
        if exhausted:
            say("  the background traffic ran out before the end: the rate fell")
        deadline = time.perf_counter() + 15
        while len(seen_at) < probes and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
    finally:
        if bench_gc in gc.callbacks:
            gc.callbacks.remove(bench_gc)
        for task in (listener, sampler):
            if task is not None:
                task.cancel()
        await producer.stop()
        try:
            await pubsub.punsubscribe()
            await pubsub.aclose()
        finally:
            await redis.config_set("notify-keyspace-events", original)
            await redis.aclose()
    latencies = sorted(seen_at[n] - sent_at[n] for n in seen_at if n in sent_at)
    samples = [(sent_at[n] - started - WARMUP_SECONDS, seen_at[n] - sent_at[n]) for n in sorted(seen_at) if n in sent_at]
    result = LatencyResult(rate, sent / sent_seconds, duration, probes, len(latencies),
                           percentile(latencies, 50), percentile(latencies, 95), percentile(latencies, 99),
                           latencies[-1] if latencies else float("nan"), batches=batches, collections=collections, records_sent=records,
                           events_sent=sent, batched=batched, samples=samples, worker_cpu_seconds=worker_cpu,
                           stalls=stalls, cache_loads=loads)
    say(f"  {result.seen}/{result.probes} probes seen; sent {result.rate_sent:,.0f} events/s "
        f"({result.events_per_record:.1f} events per record); "
        f"p50 {result.p50 * 1e3:,.0f} ms, p95 {result.p95 * 1e3:,.0f} ms, p99 {result.p99 * 1e3:,.0f} ms, "
        f"max {result.max * 1e3:,.0f} ms; notify-keyspace-events restored to {original!r}")
    if result.worker_cpu_share is not None:
        say(f"  worker CPU while sending: {result.worker_cpu_share:.0%} of a core, "
            f"{result.worker_cpu_us_per_event:,.0f} µs per event")
    if result.cache_hit_ratio is not None and result.cache_loads is not None:
        say(f"  profile loads: {result.cache_hit_ratio:.0%} from the decoded cache "
            f"({result.cache_loads[0]:,} cached, {result.cache_loads[1]:,} decoded again)")
    for stall in stalls:
        say(f"  at {stall}")
    for stage, b in batches.items():
        say(f"  worker {stage} batches: {b.batches:,} of {b.mean_events:,.1f} messages, {b.mean_ms:,.1f} ms each "
            f"({b.seconds / sent_seconds:.0%} of the time)")
    return result


def _cpu(worker: WorkerProcess | None) -> float | None:
    """The worker process's CPU seconds so far (every thread), or None without a live worker."""
    if worker is None or not worker.alive():
        return None
    try:
        return worker.cpu_seconds()
    except OSError:
        return None


def _scrape(worker: WorkerProcess | None) -> dict:
    if worker is None or not worker.alive():
        return {}
    try:
        return worker.metrics()
    except OSError as exc:
        say(f"  could not read the worker's /metrics: {exc!r}")
        return {}
