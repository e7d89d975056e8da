"""The report's longer explanations, each built from one step's results (split from bench/summary.py for size)."""

from __future__ import annotations

import os
from typing import Any

from bench.latency import WARMUP_SECONDS
from bench.report import Section, fmt_rate, table
from bench.scaleout import STAGES

THROUGHPUT_NOTE = (
    "What the throughput work (issue 14) changed, each measured here: Faust's `_drain_messages` is replaced "
    "(`faust_compat.drain_in_order`: no `wait_first` and its four futures per record); the worker runs on "
    "uvloop (`CG_UVLOOP`); a record may carry a batch of events (row 2, batched); what a batch sends on to "
    "other partitions goes as one record per partition (a bundle); profiles stay decoded between batches "
    "(`ProfileStore`'s cache, `CG_PROFILE_CACHE_SIZE`); documents under 1 KB skip zlib; the worker's GC "
    "thresholds are raised (`CG_GC_THRESHOLDS`: with Python's defaults full collections of 0.2 s each took "
    "about a quarter of the CPU and made the latency's p99) and what survives each batch is frozen out of "
    "every later collection (`CG_GC_FREEZE_BATCHES`: the decoded profiles had still made collections of "
    "0.1-0.3 s, in clusters of slow probes about 12 s apart; a full collection hourly frees the few cycles "
    "that outlive a batch, `pipeline/stream/collector.py`); the hot path was cut where its profile pointed "
    "(memoised partitioner, normalisation, product rows and index keys, each event's local day once, the rule "
    "index memoised per key set, customer details diffed once per subject and batch, metrics once per batch); "
    "and every worker, not only the group's leader, knows a topic's partition count, so a second worker no "
    "longer sends all its events through the re-keying topic (`faust_compat.topic_partition_count`). "
    "Since the run of 2026-12-02: Faust's stream iterator yields to the event loop every 64 messages instead "
    "of before each one (`CG_STREAM_YIELD_EVERY`, `pipeline/stream/stream_yield.py`: a loop turn per record); "
    "the worker's topics make each event from the bytes as they came (`raw_schema.py`: no serializer registry "
    "per message); Faust's monitor keeps only what Faust reads back (`lean_monitor.py`: no counters and timings "
    "per message for the /stats view, which is off); a subject's events in one batch are decided together "
    "(`SubjectProcessor.on_events`: folded one by one, the groups they moved decided once after the last). "
    "Since the run of 2026-12-03 (8c5713b): a batch goes once its first message has waited "
    "`CG_BATCH_WAIT_SECONDS`, counted from its arrival, not that long again after every batch "
    "(`pipeline/stream/batches.py`, in place of Faust's `take_events`). "
    "Since the run of 2026-12-03 (0188627): a record holding one event is read by pydantic at once "
    "(`schemas.decode.parsed_event`: `validate_json`, not `orjson.loads` then `validate_python`); events "
    "merely sent on are awaited after the table writes, not before them. Since the run of 2026-12-03 "
    "(da96c27): a batch's changelog flush runs while the next batch is handled (`take_batches(settle=...)`), "
    "and Faust's fetch loop no longer stops to commit every 10,000 messages (`faust_compat.drain_in_order`; "
    "the 1 s commit timer commits). Since the run of 2026-12-03 (d0b4f94): the hot path's bounded memos "
    "forget their oldest entry at a time instead of being emptied whole at 100,000 entries "
    "(`pipeline/memo.py`): emptying them held the worker's event loop ~0.1-0.2 s at the same point of every "
    "latency run (11.2 s after the warm-up in three runs), the one cluster of slow probes, found by the loop "
    "watchdog (`CG_LOOP_STALL_LOG_SECONDS`, which logs the loop thread's stack when the loop is held). Since "
    "the run of 2026-12-04 (c65d2d8): records a previous owner may have processed are rewritten whole in Redis "
    "after an assignment (`pipeline/stream/replay.py`; a worker caught up pays one empty-dict test per message "
    "and a mark write per 1,000 records per partition), and the decoded-profile cache holds 50,000 profiles, "
    "not 10,000 (`CG_PROFILE_CACHE_SIZE`; how often it serves a load is now measured, "
    "`cg_profile_cache_loads_total`). This run's machine was slower than that one's: the stage model with the "
    "seed's groups, the same code and input, took 77 µs per event against 62, and the parse-only Faust agent "
    "8,710 events/s against 10,942, so compare ratios within a run, not figures across runs.")


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f} ms" if seconds < 0.1 else f"{seconds * 1e3:,.0f} ms"


def rule_scaling_section(scaling: list[Any], seed_run: Any, stats: dict[str, float] | None,
                         stats_10000: dict[str, float] | None) -> Section:
    base10 = next((s for s in scaling if s.groups == 10), None)
    rows = [(f"{s.groups:,}", f"{s.per_event * 1e6:,.0f}", f"{s.cpu_seconds / s.events * 1e6:,.0f}", fmt_rate(s.rate),
             f"{s.new_subject_per_event * 1e6:,.0f} (×{s.new_subject_events:,})",
             f"{s.known_subject_per_event * 1e6:,.0f}", f"{s.groups_per_event:.1f}", f"{s.joined / s.events:.1f}",
             f"{s.per_event / base10.per_event:.1f}×" if base10 else "-") for s in scaling]
    seed_line = ""
    if seed_run:
        seed_line = (f"\n\nThe same work with the seed's groups (`rules_config/`, what steps 2-3 run) over "
                     f"{seed_run.events:,} events: {seed_run.per_event * 1e6:,.0f} µs per event = "
                     f"{fmt_rate(seed_run.rate)} on one core.")
    floor = ""
    top = next((s for s in scaling if s.groups == 1000), None)
    if base10 and top and top.joined > base10.joined:
        joins = top.joined / top.events - base10.joined / base10.events
        floor = (f" At 1,000 groups each event creates {joins:.1f} more memberships than at 10, at "
                 f"{(top.per_event - base10.per_event) * 1e6 / joins:.1f} µs each (deciding it, its next-change day, "
                 f"its Redis writes, the stored list); a ratio of 1.5 would leave "
                 f"{base10.per_event * 0.5 * 1e6 / joins:.1f} µs per membership for all of that, about what "
                 "planning its two Redis commands alone costs in Python (step 5: 4.6 µs for a subject's three). "
                 "So the issue's ratio targets are out of reach while joins grow with the groups as they do "
                 "here, whatever the evaluation costs; what the network saves shows in the selected groups that "
                 "are not re-decided.")
    shared = ""
    if stats_10000 and stats_10000.get("nodes"):
        shared = (f" The 10,000 groups' {stats_10000['leaf_uses']:,.0f} rows are {stats_10000['nodes']:,.0f} "
                  "distinct conditions (nodes of the network).")
    return Section("Rule scaling (the profile stage in isolation)", (
        "`bench/evaluation.py` does per event what the worker does per message, minus I/O: the identity "
        "stage's routing (with hand-over and merge at a cookie's first login), `unpack` of the stored value, "
        "`SubjectProcessor.on_event`, the Redis command plan (membership and customer details) and `pack`, "
        "over a dict. Events are decoded beforehand (not timed). Groups from `bench/groups.py`: brand, "
        "category and product behaviour with windows and thresholds, order aggregates, sign-up cohorts, "
        "e-mail domains, and/or mixes and nested blocks; the 10 are inside the 100, inside the 1,000, inside "
        "the 10,000. `python -m bench --only rules` runs this step alone.\n\n"
        + table(("groups", "µs/event", "CPU µs/event", "events/s", "first event of a subject, µs", "later events, µs",
                 "groups the index selects per event", "groups joined per event", "vs 10"), rows)
        + seed_line
        + "\n\nAll groups are one network of shared conditions (`pipeline/rules/network.py`): an event "
          "re-decides only the groups whose conditions it moved (`pipeline/rules/delta.py`), and a subject's "
          "first event is the empty profile's groups plus what that event moved. Counting a window stops at "
          "its highest threshold plus what the event added, and the windows' first days are computed once per "
          "day, not per event. What is left grows with the "
          "memberships the events really create (the joins column): each is decided, given its next-change "
          "day and written." + floor + shared + " "
        + group_stats_text(stats)))


def group_stats_text(stats: dict[str, float] | None) -> str:
    if not stats:
        return ""
    return (f"Of the {stats['groups']:,.0f} groups, {stats['time_dependent']:,.0f} are time-dependent (a window or "
            f"a relative date: each evaluation also computes the day membership next changes), "
            f"{stats['every_event']:,.0f} read `lastseen` (so every event selects them) and "
            f"{stats['orders']:,.0f} read order aggregates. Their behaviour rows use {stats['behaviour_keys']:,.0f} "
            f"index keys, {stats['mean_per_key']:.1f} groups per key on average and up to "
            f"{stats['max_per_key']:,.0f}: the traffic has only 20 brands and 15 categories (`pipeline.traffic`), "
            "so a view of a popular brand, category or product selects dozens of groups. The ratio therefore "
            "measures two things: how many groups the index selects per event (the table's second-last column) "
            "and what evaluating one selected group costs (about (later-event time - 10-group time) / selected "
            "groups). Two shortcuts (`pipeline/rules/monotone.py`) make a selected group cheaper: "
            f"{stats.get('no_event_ends', 0):,.0f} of the groups no event can end (counts, the order count and "
            "last-seen only grow), so a member is kept without evaluation when the event only adds; and "
            f"{stats.get('time_one_way', 0):,.0f} of the time-dependent ones time can only end (or only start), "
            "so a non-member (or member) of one needs no re-check day.")


def cpu_line(lat: Any) -> str:
    """How busy the worker was: at "half its max rate" a worker can still be near a full core,
    since a live trickle comes in smaller batches than the drain the max was measured on."""
    share = getattr(lat, "worker_cpu_share", None)
    if share is None:
        return ""
    return (f"\n\nThe worker process used {share:.0%} of a core while the traffic was sent "
            f"({lat.worker_cpu_us_per_event:,.0f} µs of CPU per event, every thread, from `/proc/<pid>/stat`).")


def cache_line(lat: Any) -> str:
    """How often a batch found its subjects' profiles still decoded (``cg_profile_cache_loads_total``)."""
    ratio, loads = getattr(lat, "cache_hit_ratio", None), getattr(lat, "cache_loads", None)
    if ratio is None or loads is None:
        return ""
    return (f" {ratio:.0%} of the stored profiles its batches loaded came from the decoded-profile cache "
            f"(`CG_PROFILE_CACHE_SIZE`; {loads[0]:,} cached, {loads[1]:,} decoded again from the table, "
            "`cg_profile_cache_loads_total`).")


def batch_table(lat: Any) -> str:
    """Where a probe's time goes inside the worker: its stages' batches during the run."""
    if not lat.batches:
        return cpu_line(lat) + cache_line(lat)
    seconds = lat.seconds + WARMUP_SECONDS
    rows = [(stage, f"{b.batches:,}", f"{b.mean_events:,.1f}", f"{b.mean_ms:,.1f} ms", f"{b.seconds / seconds:.0%}")
            for stage, b in lat.batches.items()]
    return (cpu_line(lat) + cache_line(lat) + "\n\nThe worker's batches during the run (its `cg_batch_seconds{stage}` and "
            "`cg_batch_events{stage}` metrics; times include waiting for the lock the stages share):\n\n"
            + table(("stage", "batches", "messages per batch", "mean time", "share of the run"), rows))


def gc_table(lat: Any) -> str:
    """The worker's garbage-collector pauses during the run: each stops every stage at once."""
    collections = getattr(lat, "collections", None)
    if not collections:
        # Only when the worker's metrics were read (its batches come from the same scrape).
        return "\n\nThe worker made no garbage collection during the run (`cg_gc_pause_seconds`)." if lat.batches else ""
    rows = [(gen, f"{g.count:,}", ms(g.seconds), ms(g.seconds / g.count), f"{g.over_50ms:,}")
            for gen, g in collections.items()]
    return ("\n\nThe worker's garbage collections during the run (`cg_gc_pause_seconds{generation}`; what "
            "survives a batch is frozen out of them, `CG_GC_FREEZE_BATCHES`, `pipeline/stream/collector.py`):\n\n"
            + table(("generation", "collections", "total pause", "mean pause", "over 50 ms"), rows))


def what_dominates(thr: Any, base: Any, seed_run: Any, _: Any) -> str:
    """Where one worker's CPU per event goes (``seed_run``: the stages-in-memory result)."""
    if not (thr and base and seed_run and thr.events):
        return ""
    plain, _, agent = base
    wall = 1e6 / thr.rate
    cpu = thr.cpu_seconds * 1e6 / thr.events
    stages = seed_run  # the worker's stages in memory (bench/stages.py): decode included
    pure = stages.per_event * 1e6
    parse = 1e6 / plain.rate
    forwarded = thr.progress.ends.get(f"{thr.app_id}.by-subject", 0) / thr.events if thr.app_id else 0.0
    faust = 1e6 / agent.rate - parse if agent else 0.0
    rest = cpu - pure - faust
    main, other = thr.threads
    return (
        f"Per storefront event the worker took {wall:,.0f} µs of wall time and {cpu:,.0f} µs of CPU "
        f"({thr.cpu_share:.2f} cores busy on average). Of that CPU:\n\n"
        + table(("part", "µs per event", "share of worker CPU", "measured by"), [
            ("the pure work: the worker's stages in memory (decode, route, fold + evaluate, plan Redis, "
             "encode, bundle; seed's groups)",
             f"{pure:,.0f}", f"{pure / cpu:.0%}", "step 4, `bench/stages.py`, single-event records"),
            ("Faust's own cost per consumed message, as shipped (conductor, queues, stream, acks, commits)",
             f"{faust:,.0f}", f"{faust / cpu:.0%}", "step 1, parse-only Faust agent minus bare consumer"),
            ("everything else: forwarding logged-in events through <app>.by-subject and consuming them "
             "again, changelog writes of the profile and identity tables, Redis round trips, asyncio",
             f"{rest:,.0f}" if rest >= 0 else "< 0", f"{rest / cpu:.0%}" if rest >= 0 else "-", "the remainder"),
        ])
        + ("" if rest >= 0 else
           "\n\nThe parts add up to more than the worker's CPU: the parse-only agent is Faust as shipped, "
           "and the worker runs with the project's overrides of it (`pipeline/stream/faust_compat.py`, "
           "`stream_yield.py`, `raw_schema.py`, `lean_monitor.py`; uvloop), which cost less per message. "
           "So the Faust row is an upper bound for the worker, and the worker pays at most "
           f"{cpu - pure:,.0f} µs per event for Faust and everything else together.")
        + f"\n\nA bare consumer reads and parses an event in {parse:,.1f} µs; a Faust agent that does "
        f"nothing but parse takes {1e6 / agent.rate if agent else float('nan'):,.0f} µs. "
        + (f"The worker's main thread used {main:,.0f} s of CPU and all its other threads (Faust's Kafka consumer "
           f"thread among them) {other:,.0f} s: one worker is bound by its one Python thread, which runs the "
           "agents, the producer, the tables and asyncio. " if main else "")
        + f"{forwarded:.0%} of the events (logged-in ones) were forwarded to their customer's partition; "
        "the rest were folded by ingest where they arrived. "
        "Where the pure work goes: the profile in \"The pure work: the worker's stages in memory\".")


def slowest_probes(lat: Any) -> str:
    """When the slowest 1% of probes were sent: clustered times point at the worker pausing, not at load."""
    if not lat.samples:
        return ""
    count = max(3, len(lat.samples) // 100)
    slow = sorted(sorted(lat.samples, key=lambda s: -s[1])[:count])
    return (f"\n\nThe slowest {count} probes, sent at (seconds after the warm-up) and latency: "
            + ", ".join(f"{t:.1f} s: {ms(latency)}" for t, latency in slow) + "." + stalls_line(lat))


def stalls_line(lat: Any) -> str:
    """What held a process for 0.1 s or more, and when: beside the slowest probes, it says whose pause they were."""
    stalls = getattr(lat, "stalls", None)
    if stalls is None or not lat.batches:
        return ""  # not measured (no worker metrics)
    if not stalls:
        return (" Nothing held the worker's event loop or a batch for 0.1 s or more, and the bench process made "
                "no collection that long (`cg_event_loop_lag_seconds`, `cg_batch_seconds`, scraped every second).")
    return (" Pauses of 0.1 s or more, seen at (seconds after the warm-up; the worker's within a second of them, "
            "from `cg_event_loop_lag_seconds`, `cg_batch_seconds` and `cg_gc_pause_seconds` scraped every second): "
            + ", ".join(map(str, stalls)) + ".")


def latency_batched_section(lat: Any) -> Section:
    """Step 3 again on the batched topic's worker: does a collector's batching cost latency?"""
    return Section("Latency, batched records", (
        f"The batched step's worker, right after it drained the batched topic, with background traffic sent as "
        f"batched records: more of the same shop's events (seed 2027, new event IDs) grouped as a storefront's "
        f"collector flushes them (`pipeline.traffic.batched`, up to 20 events of one cookie or customer per record, "
        f"keyed by `record_key`: the generator that filled the batched topic), {lat.events_per_record:.1f} events "
        f"per record as sent, probes included. Target rate {fmt_rate(lat.rate_target)} in events (half of the "
        f"batched throughput figure), sent {fmt_rate(lat.rate_sent)}; {lat.probes} probes over {lat.seconds:.0f}s, "
        f"{lat.seen} seen in Redis ({lat.lost} not within 15 s after the load stopped). Each probe is sent "
        "**alone in its record**, as a one-event JSON array keyed by its fresh cookie `latb-<n>` (a collector "
        "flushing a new visitor's only event), so the figure is the pipeline's and not a collector's wait; the "
        "clock and the keyspace notification are as in the single-record run.\n\n"
        + table(("p50", "p95", "p99", "max"), [(ms(lat.p50), ms(lat.p95), ms(lat.p99), ms(lat.max))])
        + slowest_probes(lat)
        + batch_table(lat)
        + gc_table(lat)
        + "\n\nWhy \"half the max rate\" is not half busy: the max was measured draining a pre-filled topic, in "
        "batches of up to `CG_BATCH_SIZE` records, while a live trickle comes in batches of tens of records, and "
        "every batch, fetch and produce request has a fixed cost in the stages, Faust and aiokafka. Measured "
        "outside the bench (a /tmp script: the worker from its own tree, a 200k-event prefill drained, 30 s at a "
        "fixed rate, CPU from `/proc`): at 4,707 events/s of batched records the worker used 93-94% of a core, "
        "about 200 µs of CPU per event against 103 in the drain; at 3,000 events/s 82% and a p99 of 73 ms. A "
        "py-spy profile of it (which slows it) found the stages 62% of the samples, Faust's fetcher, producer "
        "buffer and aiokafka's sender about 20%, idle 20%. Asking the broker to wait for 64 KB or 10 ms per fetch "
        "(`fetch_min_bytes`) saved 2-5 points of CPU and made the p99 no better: the latency at this rate is the "
        "queue of a nearly saturated thread, and it falls only with the cost per event. How far it is from "
        "saturation depends on the history behind it (`python -m bench --only latency-batched`: prefill, drain with "
        "one worker, then 30 s of batched records at 4,800 events/s with 20 probes/s; 2026-12-05, one run each): "
        "after a 200,000-event prefill the worker used 84-86% of a core (174-178 µs of CPU per event) and the p99 "
        "was 64-94 ms in four runs; after the bench's 1,000,000 events, with the decoded-profile cache at 10,000, "
        "50,000 and 100,000 profiles, 90%, 89% and 90% (187, 185 and 187 µs) and a p99 of 121, 78 and 91 ms, the "
        "cache serving 32%, 65% and 89% of the loads (the default became 50,000; README, \"Sizing\"). A py-spy "
        "profile of the live phase's main thread (200k prefill, 20 s; shares of its samples) put 26% in the "
        "batches' commit (deciding 20%, storing 5%), pydantic's validation of batched records 4-5%, Faust's and "
        "aiokafka's produce path (changelog, sends) about 7%, uvloop's own loop 12%; Faust's consumer thread "
        "took 0.13 of a core beside the main thread's 0.67: no single part whose removal would bring the p99 far "
        "under 100 ms."))


def scale_out_section(two: Any, one: Any, partitions: int) -> Section:
    """Two workers against one on the same records: how far does adding a process go on this machine?"""
    def row(r: Any) -> tuple[str, ...]:
        cpu = sum(r.cpu_seconds) if isinstance(r.cpu_seconds, list) else r.cpu_seconds
        return (f"{r.events:,}", f"{r.seconds:.1f} s" + ("" if r.completed else " (cut)"),
                ("" if r.completed else "≤ ") + fmt_rate(r.rate), f"{r.startup_seconds:.1f} s", f"{cpu:.0f} s",
                f"{cpu / r.seconds:.2f}" if r.seconds else "-",
                f"{cpu * 1e6 / r.events:,.0f}" if r.events else "-",
                f"{r.progress.ends.get(f'{r.app_id}.by-subject', 0):,}")
    speedup = f"{two.rate / one.rate:.2f}×" if two.completed else f"at most {two.rate / one.rate:.2f}× (not drained)"
    stages = ""
    if any(two.stages):
        stages = ("\n\nMessages each worker consumed, by stage (its `cg_events_in_total` once drained; ingest counts "
                  "events, a batched record's one by one; a worker whose ingest sends its events on to the identity "
                  "stage handles each of them there again, one send and one delivery wait per event):\n\n"
                  + table(("worker", *STAGES), [(str(n + 1), *(f"{counts.get(stage, 0):,.0f}" for stage in STAGES))
                                                 for n, counts in enumerate(two.stages)])
                  + _split_text(two.stages))
    return Section("Two workers", (
        f"Two worker processes with one `CG_APP_ID` (one consumer group sharing the {partitions}-partition "
        "topics), each with its own web port and data directory, started together over the **batched topic** "
        "from offset 0 under a fresh app id, before anything else was written to it; done as in the throughput "
        "step (every lag zero on the events topic and both internal topics). The one-worker row is the batched "
        "throughput step's run over the same records, right after. CPU is the workers' user + system time from "
        f"/proc, start-up included. Speedup: **{speedup}**. The machine has {os.cpu_count()} cores, which Kafka, "
        "Redis and the bench itself also use, so two workers may not get a core each; CPU per event says whether "
        "the work per event grew or the cores ran out (same CPU per event, fewer cores busy than workers).\n\n"
        + table(("workers", "events", "time (first commit → all lags zero)", "events/s", "launch → first commit",
                 "CPU", "cores busy", "CPU µs per event", "messages on <app>.by-subject"),
                [("1", *row(one)), ("2", *row(two))])
        + stages))


def _split_text(stages: list[dict[str, float]]) -> str:
    """What the stage counts mean: a worker that took no events, or one whose events all took the detour."""
    ingested = [counts.get("ingest", 0.0) for counts in stages]
    total = sum(ingested)
    if not total:
        return ""
    notes = []
    for n, (counts, mine) in enumerate(zip(stages, ingested, strict=True), 1):
        if not mine:
            notes.append(f"worker {n} ingested nothing: the topic was drained before it got partitions, so the "
                         "figure is one worker's plus a rebalance (too few events to measure two)")
        elif counts.get("identity", 0.0) >= 0.5 * mine:
            notes.append(f"worker {n} ingested {mine / total:.0%} of the events and sent "
                         f"{counts.get('identity', 0.0) / mine:.0%} of them through the identity stage")
    text = "; ".join(notes)
    return f"\n\n{text[:1].upper()}{text[1:]}." if notes else ""


def pure_work_section(results: dict[str, Any], config: Any) -> Section | None:
    """The worker's own stage code in memory: the pure work per event, and its profile."""
    single, batched = results.get("stages single"), results.get("stages batched")
    if single is None and batched is None:
        return None
    rows = [(shape, f"{r.events:,}", f"{r.records:,}", f"{r.per_event * 1e6:.1f}", f"{r.rate:,.0f}/s",
             f"{r.forwarded_records:,}", f"{r.redis_commands:,}")
            for shape, r in (("single", single), ("batched", batched)) if r is not None]
    body = ("`bench/stages.py` runs the worker's own `Ingest` and `ProfileStage` (and the identity stage) on "
            "the in-memory backend (`pipeline.stream.memory`): validate and decode, route by cookie, fold, "
            "evaluate, plan Redis, encode the changed profiles for the table, bundle what goes on to other "
            "partitions. Everything a worker does per event but Kafka, Redis and Faust. Records are fed as a "
            "worker reads a pre-filled topic (per partition, `CG_BATCH_SIZE` at a time), under the worker's GC "
            "policy (`CG_GC_THRESHOLDS`, each batch frozen: `CG_GC_FREEZE_BATCHES`), with the seed's groups; "
            "CPU time of the thread.\n\n"
            + table(("records", "events", "records read", "µs CPU per event", "events/s on one core",
                     "records sent on", "Redis commands"), rows))
    prof = results.get("profile_stages")
    if prof:
        own, cum = prof
        body += (f"\n\ncProfile over the same code (the stages only, not the building of their input), "
                 f"single-event records, {config.profile_events:,} events "
                 f"(shares of the total; the profiler slows the calls it counts). By own time:\n\n```\n{own}\n```"
                 f"\n\nBy cumulative time:\n\n```\n{cum}\n```")
    return Section("The pure work: the worker's stages in memory", body)
