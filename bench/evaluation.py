"""Steps 4 and the hot-path profile: the profile stage's pure work, in isolation.

For each decoded event, exactly what the worker's profile stage does per
message, minus Kafka and Redis I/O: route it (cookie → customer, with the
profile hand-over at a cookie's first login, as the identity stage does),
take the stored value from a dict (the table), ``unpack`` it,
``SubjectProcessor.on_event`` (fold + evaluate the affected groups), plan the
Redis commands (``MembershipWriter.stage`` and the customer-details diff),
and ``pack`` the result back. Hand-overs and the merges they cause are
processed too, as the worker would.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench.common import percentile, profile_tables, say
from pipeline.identity import route
from pipeline.processor import Result, SubjectProcessor
from pipeline.profile import ProfilePolicy
from pipeline.registry import GroupRegistry
from pipeline.store.details import details_commands, details_of
from pipeline.store.keys import KeySpace
from pipeline.store.writer import plan
from pipeline.stream.state import MemoryTable, ProfileStore
from schemas.events import Event
from schemas.groups import GroupDefinition


@dataclass
class EvalResult:
    label: str
    groups: int
    events: int
    seconds: float
    new_subject_events: int = 0
    new_subject_seconds: float = 0.0
    groups_per_event: float = 0.0  # mean groups the index selects for an event on a known subject
    cpu_seconds: float = 0.0  # process CPU time over the same loop: the machine may be shared
    joined: int = 0  # group memberships the events created (each one decided and written)
    store: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def per_event(self) -> float:
        return self.seconds / self.events

    @property
    def known_subject_per_event(self) -> float:
        known = self.events - self.new_subject_events
        return (self.seconds - self.new_subject_seconds) / known if known else float("nan")

    @property
    def new_subject_per_event(self) -> float:
        return self.new_subject_seconds / self.new_subject_events if self.new_subject_events else float("nan")


class StageModel:
    """The profile stage (and the identity stage's routing) over a dict instead of Faust tables."""

    def __init__(self, registry: GroupRegistry, policy: ProfilePolicy, now: datetime) -> None:
        self.processor = SubjectProcessor(registry, policy)
        self.keys = KeySpace("bench")
        self.now = now
        self.table: MemoryTable[bytes] = MemoryTable()
        self.profiles = ProfileStore(self.table, lambda subject: 0)  # the worker's store, decoded cache and all
        self.identity: dict[str, str] = {}
        self.commands = 0
        self.joined = 0

    def _apply(self, subject: str, before: object, result: Result) -> None:
        self.joined += len(result.joined)
        self.commands += len(plan(self.keys, subject, result.change)) if result.change.visible else 0
        profile_after = result.profile if result.store else (None if result.delete else before)
        self.commands += len(details_commands(self.keys, subject, details_of(before),  # type: ignore[arg-type]
                                              details_of(profile_after), result.delete))  # type: ignore[arg-type]
        if result.delete:
            self.profiles.delete(subject, None)
        elif result.store:
            self.profiles.save(subject, result.profile, result.next_check, None)  # type: ignore[arg-type]

    @property
    def store(self) -> dict[str, bytes]:
        return self.table.data

    def _load(self, subject: str):  # type: ignore[no-untyped-def]
        return self.profiles.load(subject) or (None, None)

    def handle(self, event: Event) -> bool:
        """Process one event; True when it was the subject's first (no stored profile)."""
        outgoing = []
        if event.visitor_id:
            routing = route(event, event.visitor_id, self.identity.get(event.visitor_id))
            if routing.link:
                self.identity[event.visitor_id] = routing.link
            if routing.handover:
                visitor = f"v:{event.visitor_id}"
                profile, _ = self._load(visitor)
                result = self.processor.on_handover(profile, visitor, routing.handover)
                self._apply(visitor, profile, result)
                outgoing += result.outgoing
            subject = routing.subject
        else:
            subject = f"c:{event.customer_id}"
        profile, next_check = self._load(subject)
        first = profile is None
        result = self.processor.on_event(profile, next_check, subject, event, self.now)
        self._apply(subject, profile, result)
        outgoing += result.outgoing
        for key, message in outgoing:
            if hasattr(message, "merge_id") and hasattr(message, "visitor"):  # MergeIn
                profile, next_check = self._load(key)
                result = self.processor.on_merge_in(profile, next_check, key, message, self.now)
                self._apply(key, profile, result)
            elif hasattr(message, "visitor_id"):  # Forget (erasure)
                self.identity.pop(message.visitor_id, None)
        return first


def run_stage(label: str, definitions: Iterable[GroupDefinition], events: list[Event],
              policy: ProfilePolicy, now: datetime | None = None) -> EvalResult:
    definitions = list(definitions)
    registry = GroupRegistry.from_definitions(definitions, policy)
    if registry.errors:
        raise RuntimeError(f"{label}: groups do not compile: {registry.errors[:3]}")
    model = StageModel(registry, policy, now or datetime.now(UTC))
    new_events, new_seconds = 0, 0.0
    clock = time.perf_counter
    cpu = time.process_time()
    started = clock()
    for event in events:
        t0 = clock()
        if model.handle(event):
            new_events += 1
            new_seconds += clock() - t0
    seconds = clock() - started
    cpu = time.process_time() - cpu
    sample = [e for e in events[: min(len(events), 20_000)]]
    selected = [len(registry.index.for_event(e)) for e in sample]
    result = EvalResult(label, len(registry.groups), len(events), seconds, new_events, new_seconds,
                        sum(selected) / len(selected) if selected else 0.0, cpu, model.joined, model.store)
    say(f"  {label}: {len(events):,} events in {seconds:.1f}s = {result.rate:,.0f} events/s "
        f"({result.per_event * 1e6:,.0f} µs/event; first event of a subject {result.new_subject_per_event * 1e6:,.0f} µs "
        f"x {new_events:,}, later events {result.known_subject_per_event * 1e6:,.0f} µs; index selects "
        f"{result.groups_per_event:.1f} groups/event; joins {model.joined / len(events):.1f}/event; "
        f"CPU {cpu / len(events) * 1e6:,.0f} µs/event)")
    return result


SCALING_COUNTS = (10, 100, 1000, 10_000)
"""Groups per rule-scaling run: each set is a prefix of the next (bench/groups.py), the events the same."""


def scaling_ratios(scaling: Iterable[EvalResult]) -> dict[str, float | None]:
    """``rule_scaling_<N>_vs_10``: time per event with N groups over time per event with 10 (wall time)."""
    by_count = {s.groups: s for s in scaling}
    base = by_count.get(10)
    return {f"rule_scaling_{n}_vs_10": (round(by_count[n].per_event / base.per_event, 2)
                                        if base and n in by_count else None) for n in (1000, 10_000)}


def group_stats(definitions: list[GroupDefinition], policy: ProfilePolicy) -> dict[str, float]:
    """What the index sees in a set of groups: how many every event selects, how crowded the keys are."""
    registry = GroupRegistry.from_definitions(definitions, policy)
    per_key: dict[str, int] = {}
    for group in registry.groups.values():
        for key in group.reads - {"time"}:
            per_key[key] = per_key.get(key, 0) + 1
    behaviour = [n for k, n in per_key.items() if k.count(":") >= 2]
    network = registry.network
    return {"groups": len(registry.groups), "time_dependent": len(registry.index.time_dependent),
            "leaf_uses": sum(len(gp.leaves) for gp in network.plans.values()), "nodes": len(network.nodes),
            "every_event": per_key.get("activity", 0), "orders": per_key.get("orders", 0),
            "behaviour_keys": len(behaviour), "max_per_key": max(behaviour, default=0),
            "mean_per_key": sum(behaviour) / len(behaviour) if behaviour else 0.0,
            "no_event_ends": sum(not g.can_leave_on for g in registry.groups.values()),
            "time_one_way": sum(g.time_dependent and not (g.time_can_join and g.time_can_leave)
                                for g in registry.groups.values())}


def stored_sizes(store: dict[str, bytes]) -> dict[str, float]:
    sizes = sorted(len(v) for v in store.values())
    return {"profiles": len(sizes), "mean": sum(sizes) / len(sizes), "p50": percentile(sizes, 50),
            "p95": percentile(sizes, 95), "p99": percentile(sizes, 99), "max": sizes[-1]}


def profile_stage(definitions: list[GroupDefinition], events: list[Event], policy: ProfilePolicy,
                  top: int = 25) -> tuple[str, str, float]:
    """cProfile over the stage model: (top functions by own time, top by cumulative time, seconds).

    cProfile rather than pyinstrument here: on this call-heavy pure code pyinstrument's sampler put
    a third of the time on the harness's own lines, which cProfile (deterministic) puts at 3%.
    """
    import cProfile

    registry = GroupRegistry.from_definitions(definitions, policy)
    model = StageModel(registry, policy, datetime.now(UTC))
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for event in events:
        model.handle(event)
    profiler.disable()
    seconds = time.perf_counter() - started
    own, cumulative = profile_tables(profiler, top)
    return own, cumulative, seconds

