"""The streaming worker: a Faust app with its stages and the services around them.

::

    cg.events ──ingest──────────────────────────────────────────────▶ Redis
    (key: cookie) validate, dead-letter; cookie→customer table;
                  fold + evaluate profiles that live on this partition
         │ logged-in events                │ keyed otherwise
         ▼                                 ▼
    <app>.by-subject ──profiles──▶ Redis   <app>.by-visitor ──identity──▶ by-subject

* **ingest** validates each event (a bad one goes to the dead-letter topic
  with its bytes and reason), resolves the cookie and folds the events whose
  profile lives on its partition: an anonymous visitor's, when the storefront
  keys by cookie (:mod:`pipeline.stream.partitioning`). See
  :mod:`pipeline.stream.ingest`.
* **profiles** folds what was re-keyed to its subject's partition: logged-in
  events, hand-overs, merges, re-checks, back-fill and reconcile requests.
* **identity** routes events that did not arrive on their cookie's partition.

Both profile paths commit a :class:`~pipeline.stream.profile_batch.ProfileBatch`:
Redis first, then messages on, then the table.

This module is the stages' composition root: it builds the Faust app, its
topics and tables, and hands the stages a :class:`~pipeline.stream.context.StageContext`
of exactly what they use. It knows nothing of the admin API, which
:mod:`pipeline.assembly` adds on top.

Delivery is at-least-once; every step is idempotent (event-ID dedupe in the
profile, merge IDs, SADD/SREM), so redelivery and restarts change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import faust

from pipeline.definitions.topic import ensure_definitions_topic
from pipeline.definitions.watcher import DefinitionsWatcher
from pipeline.profile import ProfilePolicy
from pipeline.registry import GroupRegistry
from pipeline.settings import Settings
from pipeline.store.connection import AsyncRedis, connect
from pipeline.store.keys import KeySpace
from pipeline.store.writer import MembershipWriter
from pipeline.stream import faust_compat, stream_yield
from pipeline.stream.collector import BatchFreezer, GcPauses
from pipeline.stream.context import StageContext
from pipeline.stream.effects import Effects
from pipeline.stream.faust_compat import install_overrides, topic_partition_count
from pipeline.stream.health import Health
from pipeline.stream.ingest import Ingest
from pipeline.stream.lean_monitor import LeanMonitor
from pipeline.stream.loop_lag import LoopWatchdog, watch_loop_lag
from pipeline.stream.maintenance import Maintenance
from pipeline.stream.metrics import Metrics
from pipeline.stream.partitioning import SubjectPartitioner
from pipeline.stream.process import EXIT_SEND_LOST, BoundedStopWorker, exit_now
from pipeline.stream.profiles import ProfileStage
from pipeline.stream.progress import PartitionProgress
from pipeline.stream.raw_schema import RawSchema
from pipeline.stream.replay import REPLAY_EVERYTHING, bounds, read_marks
from pipeline.stream.rewind import commit_base
from pipeline.stream.routing import SubjectRouter
from pipeline.stream.schedule import RecheckSchedule
from pipeline.stream.sinks import FaustSinks
from pipeline.stream.state import FaustTable, ProfileStore
from pipeline.topics import RECORD_OVERHEAD, ensure_project_topics, ensure_topics, internal_topic_max_bytes

log = logging.getLogger(__name__)


class Worker:
    """Everything one worker process holds: the app, its topics, tables and services."""

    def __init__(
        self,
        settings: Settings,
        *,
        app_id: str | None = None,
        web_enabled: bool = True,
        clock: Callable[[], datetime] | None = None,
        exit_process: Callable[[int], None] = exit_now,  # tests pass a recorder
    ) -> None:
        install_overrides()
        self.exit_process = exit_process
        stream_yield.install(settings.stream_yield_every)
        self.settings = settings
        self.now = clock or (lambda: datetime.now(UTC))  # tests move time forward
        self.app_id = app_id or settings.app_id
        self.policy = ProfilePolicy.from_settings(settings)
        self.metrics = Metrics()
        self.gc_pauses = GcPauses(self.metrics)
        # Off until main(): a worker run inside another process (tests, the demo) leaves
        # that process's collector alone.
        self.collector = BatchFreezer(False, settings.gc_reclaim_seconds, self.metrics)
        self.health = Health(self.metrics.stalled, settings.stall_after_seconds)
        self.progress = PartitionProgress(self.health)
        self.keys = KeySpace(settings.redis_prefix)
        self.redis: AsyncRedis = connect(settings.redis_url)
        self.schedule = RecheckSchedule()
        partitions = settings.topic_partitions
        datadir = settings.data_dir / self.app_id
        datadir.mkdir(parents=True, exist_ok=True)
        self.app = faust.App(
            self.app_id,
            broker=settings.kafka_url,
            store=settings.table_store,
            datadir=str(datadir),
            topic_partitions=partitions,
            topic_replication_factor=settings.topic_replication,
            table_standby_replicas=0,
            web_enabled=web_enabled,
            web_port=settings.web_port,
            web_bind=settings.web_host,
            canonical_url=settings.advertised_url,  # what the others route to (not the bind address)
            Router=SubjectRouter,  # a subject's requests reach the worker owning its partition (routing.py)
            # Faust's own views would serve table contents (whole profiles), the
            # cluster layout and internals to anyone: off. table_route does not
            # need them (it asks the assignor in-process and forwards the
            # request, Authorization header included). The admin middleware
            # still denies any route it does not know (pipeline.admin.auth).
            web_tables_enabled=False,
            web_router_enabled=False,
            web_stats_enabled=False,
            web_graph_enabled=False,
            web_metrics_enabled=False,
            broker_commit_interval=1.0,
            broker_session_timeout=settings.session_timeout_seconds,
            broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
            consumer_auto_offset_reset="earliest",
            producer_linger_ms=2,
            # any event the events topic accepts can be forwarded in its envelope
            producer_max_request_size=internal_topic_max_bytes(settings) + RECORD_OVERHEAD,
            stream_buffer_maxsize=settings.batch_size * 4,
            monitor=LeanMonitor(),  # no per-message bookkeeping for the /stats view we turn off
        )

        def topic(name: str, internal: bool = False) -> faust.TopicT:
            """Bytes in, bytes out (the stages decode what they need), no serializer per message."""
            return self.app.topic(name, partitions=partitions, schema=RawSchema(),
                                  key_serializer="raw", value_serializer="raw", internal=internal)

        self.events = topic(settings.topic_events)
        self.by_visitor = topic(f"{self.app_id}.by-visitor", internal=True)
        self.by_subject = topic(f"{self.app_id}.by-subject", internal=True)
        self.dead_letter = topic(settings.topic_dead_letter)
        self.identity_table = self.app.Table("identity", key_type=str, value_type=str, partitions=partitions)
        self.profiles_table = self.app.Table("profiles", key_type=str, value_type=bytes, partitions=partitions)
        applied = self.app.Table("applied-definitions", key_type=str, value_type=bytes, partitions=partitions)
        self.tables = (self.identity_table, self.profiles_table, applied)
        self.watcher = DefinitionsWatcher(settings.kafka_bootstrap, settings.topic_definitions,
                                          self.policy, self._definitions_changed)
        partitioner = SubjectPartitioner(partitions)
        self.profiles = ProfileStore(FaustTable(self.profiles_table), partitioner.of_subject,
                                     settings.profile_cache_size, split_layout=settings.split_profiles)
        self.metrics.watch_profile_cache(self.profiles)
        self.context = StageContext(
            settings=settings, now=self.now, policy=self.policy, registry=lambda: self.watcher.registry,
            metrics=self.metrics, health=self.health, keys=self.keys, redis=self.redis,
            writer=MembershipWriter(self.redis, self.keys), profiles=self.profiles,
            identity=FaustTable(self.identity_table), applied=FaustTable(applied), schedule=self.schedule,
            partitioner=partitioner,
            sinks=FaustSinks(self.by_subject, self.by_visitor, self.dead_letter, partitioner, self._flush,
                             bundle_bytes=settings.max_event_bytes),
            placement=self, ready=self.watcher.ready, after_batch=self.collector.after_batch)
        self.effects = effects = Effects(self.context)
        self.maintenance = Maintenance(self.context, effects)
        self.ingest = Ingest(self.context, effects)
        self.profile_stage = ProfileStage(self.context, effects, self.maintenance)
        self._wire()

    async def _flush(self) -> None:
        await self.app.producer.flush()

    # --- Placement: where this worker stands in the group -------------------------

    def owned_partitions(self) -> list[int]:
        topic = self.by_subject.get_topic_name()
        return sorted(tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic)

    def rebalancing(self) -> bool:
        return bool(self.app.rebalancing)

    def peers(self) -> dict[str, list[int]]:
        """The group's other workers (their advertised URLs, from Faust's assignor) and the
        profile partitions each owns."""
        own = self.settings.advertised_url
        found: dict[str, list[int]] = {}
        for url, topics in self.app.router.table_metadata(self.profiles_table.name).items():
            address = str(url).rstrip("/")
            if address != own:
                found[address] = sorted({p for partitions in topics.values() for p in partitions})
        return found

    def partitions_of(self, topic: str) -> int | None:
        return topic_partition_count(self.app.consumer, topic)

    def ready(self) -> bool:
        """Definitions read and no rebalance under way: the admin API's reads are trustworthy."""
        return self.watcher.ready.is_set() and not self.app.rebalancing

    @property
    def registry(self) -> GroupRegistry:
        return self.watcher.registry

    # --- wiring -----------------------------------------------------------

    def _wire(self) -> None:
        app, maintenance = self.app, self.maintenance
        app.agent(self.events, name=f"{self.app_id}.ingest")(self.ingest.run)
        app.agent(self.by_visitor, name=f"{self.app_id}.identity")(self.ingest.identity)
        app.agent(self.by_subject, name=f"{self.app_id}.profiles")(self.profile_stage.run)
        app.task(self._run_watcher)
        app.task(self._watch_loop_lag)
        app.timer(self.settings.recheck_interval_seconds, name=f"{self.app_id}.recheck")(
            maintenance.send_due_rechecks)
        app.timer(5.0, name=f"{self.app_id}.lag")(self._measure_lag)
        app.timer(self.settings.redis_check_seconds, name=f"{self.app_id}.redis-check")(maintenance.check_redis)
        self.profiles_table.on_recover(self._after_recovery)
        faust_compat.gap_listeners.append(self._offset_gap)
        faust_compat.send_lost_listeners.append(self._send_lost)
        app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]  # mode's signal types
        # Faust binds a page handler into its own View class: plain functions, not bound methods.
        async def metrics(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
            return await self._metrics_page(web)

        async def healthz(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
            return await self._health_page(web)

        app.page("/metrics")(metrics)
        app.page("/healthz")(healthz)

    async def _run_watcher(self) -> None:
        await self.dead_letter.maybe_declare()
        await self.watcher.run()

    async def _watch_loop_lag(self) -> None:
        watchdog = LoopWatchdog(self.settings.loop_stall_log_seconds)  # this thread: the loop's
        watchdog.start()
        try:
            await watch_loop_lag(self.metrics.loop_lag_seconds.observe, beat=watchdog.beat)
        finally:
            watchdog.stop()

    async def _definitions_changed(self, registry: GroupRegistry) -> None:
        for kind in ("public", "private", "dynamic"):
            self.metrics.groups.labels(kind).set(sum(g.type == kind for g in registry.groups.values()))
        if self.watcher.ready.is_set() or registry.groups:
            await self.maintenance.request_sync()

    async def _after_recovery(self) -> None:
        """After every rebalance, before the streams resume: rebuild the re-check schedule,
        mark or repair each owned partition's Redis state, bring partitions up to date."""
        self.schedule.clear()
        self.maintenance.rebuild_partition_index()
        await self._open_replay_window()
        await self.maintenance.check_redis_at_recovery()
        if self.watcher.ready.is_set():
            await self.maintenance.request_sync()

    async def _open_replay_window(self) -> None:
        """Which records of the assigned input partitions a previous owner may have written Redis
        for: below both the end offset now and the partition's mark in Redis (pipeline.stream.replay)."""
        inputs = {self.events.get_topic_name(), self.by_subject.get_topic_name()}
        tps = sorted(tp for tp in self.app.assignor.assigned_actives() if tp.topic in inputs)
        if not tps:
            self.context.replay.close()
            return
        try:
            ends = await self.app.consumer.highwaters(*tps)
        except Exception:  # Kafka did not answer: cover everything, correct if slower
            log.warning("could not read the input partitions' end offsets: every record of this "
                        "assignment rewrites its subjects whole in Redis", exc_info=True)
            ends = {tp: REPLAY_EVERYTHING for tp in tps}
        pairs = [(tp.topic, tp.partition) for tp in tps]
        marks, sentinels = await self.effects.with_redis(lambda: read_marks(self.redis, self.keys, pairs))
        window = self.context.replay
        window.open(bounds({(tp.topic, tp.partition): end for tp, end in ends.items()}, marks, sentinels), marks)
        log.info("replay window: %d of %d input partitions hold records a previous owner may have written "
                 "Redis for; their subjects are rewritten whole up to %s", len(window.ends), len(tps),
                 ", ".join(f"{t}[{p}]@{end}" for (t, p), end in sorted(window.ends.items())) or "-")

    async def _on_revoked(self, app: faust.App, revoked: object, **_: object) -> None:
        self.schedule.clear()
        self.context.replay.close()

    def _offset_gap(self, topic: str, partition: int, first: int, last: int) -> None:
        """Faust's consumer skipped records: they are read again (faust_compat); counted here."""
        self.metrics.offset_gaps.labels(topic).inc(last - first + 1)

    def _send_lost(self, buffer: object, message: object, error: BaseException) -> None:
        """Kafka never took a record of a table's changelog (or another buffered send): exit.

        The table in memory is now ahead of its changelog, and nothing re-sends the record
        (a retried batch folds nothing again). The producer's flush refuses every commit from
        here on (faust_compat), so a restart rebuilds the table from the changelog and reads
        again all that was not committed, as after a SIGKILL.
        """
        if buffer is not self.app.producer.buffer:
            return  # another app's producer in this process (tests build several workers)
        self.health.failing("kafka-send", error)
        log.critical("a record was never written to Kafka (%s: %s); the tables are ahead of their changelogs: "
                     "exiting (status %d) so that a restart rebuilds them and reads the uncommitted input again",
                     type(error).__name__, error, EXIT_SEND_LOST)
        self.exit_process(EXIT_SEND_LOST)

    async def _measure_lag(self) -> None:
        consumer = self.app.consumer
        self._observe_progress(consumer)
        for tp in consumer.assignment():
            try:
                read = consumer._read_offset.get(tp)  # type: ignore[attr-defined]  # noqa: SLF001 - metrics only
                high = consumer.highwater(tp)
            except Exception:  # noqa: BLE001 - a metric must never stop the worker
                continue
            if high is not None:
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - ((read or -1) + 1)))

    def _observe_progress(self, consumer: faust.types.ConsumerT) -> None:
        """Partitions with records waiting whose commit does not move: a stall (pipeline.stream.progress)."""
        positions: dict[tuple[str, int], tuple[int | None, int | None]] = {}
        for tp in consumer.assignment():
            if not self.app.topics.acks_enabled_for(tp.topic):
                continue  # changelogs: nothing is committed on them
            try:
                end = consumer.highwater(tp)
            except Exception:  # noqa: BLE001 - a health check must never stop the worker
                end = None
            positions[(tp.topic, tp.partition)] = (commit_base(consumer, tp), end)
        self.progress.observe(positions, rebalancing=bool(self.app.rebalancing))

    async def _metrics_page(self, web: faust.web.View) -> faust.web.Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return web.bytes(self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _health_page(self, web: faust.web.View) -> faust.web.Response:
        problems = self.health.problems()
        ready = self.watcher.ready.is_set() and not self.app.rebalancing and not problems
        return web.json({"ready": ready, "groups": len(self.registry.groups),
                         "scheduled_rechecks": len(self.schedule), "problems": problems},
                        status=200 if ready else 503)

    # --- lifecycle ----------------------------------------------------------

    async def prepare_topics(self) -> None:
        """Create every topic the worker uses before Faust looks for them.

        Faust creates its internal topics itself, but its first partition
        assignment can run before the broker shows them; it then logs "Ignoring
        missing topic" and that topic's partitions go to no one in that
        generation. For a table's changelog that means no worker recovers those
        table partitions (seen: the applied-definitions changelog, with three
        workers started at once, left out of every assignment for a minute, until
        the leader's metadata was next refreshed). Creating them all first, as
        Faust would (changelogs compacted), and waiting for their leaders closes
        that race.
        """
        settings = self.settings
        await ensure_project_topics(settings)
        await ensure_definitions_topic(settings)
        await ensure_topics(settings.kafka_bootstrap,
                            [self.by_visitor.get_topic_name(), self.by_subject.get_topic_name()],
                            partitions=settings.topic_partitions, replication=settings.topic_replication,
                            configs={"max.message.bytes": str(internal_topic_max_bytes(settings))})
        await ensure_topics(settings.kafka_bootstrap,
                            [table.changelog_topic.get_topic_name() for table in self.tables],
                            partitions=settings.topic_partitions, replication=settings.topic_replication,
                            configs={"cleanup.policy": "compact"})

    async def start(self) -> None:
        """Run in the current event loop (tests, the demo); ``main`` runs it as a process."""
        await self.prepare_topics()
        self.gc_pauses.install()
        await self.app.start()

    async def stop(self) -> None:
        self.gc_pauses.remove()
        if self._offset_gap in faust_compat.gap_listeners:
            faust_compat.gap_listeners.remove(self._offset_gap)
        if self._send_lost in faust_compat.send_lost_listeners:
            faust_compat.send_lost_listeners.remove(self._send_lost)
        await self.app.stop()
        await self.redis.aclose()

    def main(self) -> None:
        """Run as a worker process until stopped (SIGTERM/SIGINT stop it cleanly)."""
        self.gc_pauses.install()
        self.collector.enabled = self.settings.gc_freeze_batches
        worker = BoundedStopWorker(self.app, stop_timeout=self.settings.shutdown_timeout_seconds,
                                   loglevel="info", override_logging=False)
        worker.execute_from_commandline()
