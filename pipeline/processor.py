"""What happens to one subject when a message for it arrives: pure, no I/O.

The Faust agent that owns the profile table is a thin shell around
:class:`SubjectProcessor`: it hands over the stored profile and the message,
and gets back the new profile (or a deletion), the membership changes to write
to Redis, and messages to send on. Keeping this pure lets every identity,
merge, erasure and time case be tested without Kafka or Redis.

The stored value it reads and returns is :mod:`pipeline.profile.stored`; the
messages it asks other subjects to handle are :mod:`pipeline.messages`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.membership import MembershipChange
from pipeline.messages import Forget, Handover, MergeIn, Outgoing
from pipeline.profile import Profile, ProfilePolicy, add_visitor, decode, encode, fold, merge, new_profile
from pipeline.profile.fold import behaviour_rows
from pipeline.profile.stored import body_of, pack, peek_next_check, unpack
from pipeline.registry import GroupRegistry
from pipeline.rules import CompiledGroup, delta, evaluation_scope, matches, next_change_day
from pipeline.rules.index import EVERYTHING, event_keys
from schemas.events import Event


@dataclass
class Result:
    """What processing one message decided."""

    profile: Profile | None  # the profile to store (None with delete=True: remove it)
    store: bool = False
    delete: bool = False
    next_check: int | None = None
    joined: frozenset[str] = frozenset()
    left: frozenset[str] = frozenset()
    mirrors: tuple[str, ...] = ()  # cookie subjects that mirror a customer's groups
    reset_mirrors: tuple[str, ...] = ()  # cookie subjects whose mirror is rewritten whole
    dropped: frozenset[str] = frozenset()  # groups the subject leaves because it is gone
    # (key, message): a MergeIn goes to a subject key, a Forget to a raw visitor ID
    outgoing: list[tuple[str, Outgoing]] = field(default_factory=list)

    @property
    def changes_membership(self) -> bool:
        return bool(self.joined or self.left or self.dropped or self.reset_mirrors)

    @property
    def change(self) -> MembershipChange:
        """What Redis must show of this result."""
        # the whole list only where a mirror is rewritten with it: sorting it costs per subject
        groups = tuple(sorted(self.profile.groups)) if self.reset_mirrors and self.profile is not None else ()
        return MembershipChange(self.joined, self.left, self.dropped, self.delete, self.mirrors,
                                self.reset_mirrors, groups)


Prepared = tuple[Event, int, frozenset[str]]
"""An event ready to fold: (the event with its public group IDs, its local day, its index keys)."""


def split_visitor(subject: str) -> str:
    """``v:ck1`` -> ``ck1``."""
    return subject[2:] if subject.startswith("v:") else subject


def _mirrors(profile: Profile) -> tuple[str, ...]:
    """Linked cookies show the customer's groups, so a returning device is recognised."""
    if profile.subject.startswith("v:"):
        return ()
    ids = profile.visitor_ids
    if len(ids) == 1:  # most customers have one cookie: no sort
        return (f"v:{next(iter(ids))}",)
    return tuple(f"v:{v}" for v in sorted(ids))


def _linked(visitor_ids: set[str]) -> tuple[str, ...]:
    """Cookies a customer's event linked: each mirror is rewritten whole with the groups decided.

    A cookie mirrors only the changes decided after it is linked, so it must start
    from the customer's whole list: otherwise it would show whatever changes reached
    it, and a group that events decided together left and joined again (no change)
    would reach it when the same events decided one by one do (a leave, then a
    join). The hand-over the identity stage sends for a first link rewrites it again
    (``on_merge_in``); a cookie linked anew after the cap evicted it gets no hand-over.
    """
    return tuple(f"v:{v}" for v in sorted(visitor_ids))


class SubjectProcessor:
    def __init__(self, registry: GroupRegistry, policy: ProfilePolicy, *, split_layout: bool = True) -> None:
        self.registry = registry
        self.policy = policy
        self.split_layout = split_layout  # how a hand-over encodes the profile it sends (CG_PROFILE_LAYOUT)
        self._now: datetime | None = None
        self._now_day = 0
        self._reads_for: tuple[list[CompiledGroup], frozenset[str] | None] | None = None

    # --- evaluation ------------------------------------------------------

    def _evaluate(
        self, profile: Profile, groups: Iterable[CompiledGroup], today: int, stored_next: int | None,
    ) -> tuple[set[str], int | None]:
        """New membership after re-evaluating ``groups`` (through the shared network); other memberships stand."""
        groups = list(groups)
        if stored_next is not None and stored_next <= today:
            # A re-check is due and its message has not come yet (the timer runs every
            # second, not at midnight sharp): do it now, or its day would be lost with
            # the stored one and untouched groups would keep an expired membership.
            chosen = {g.id for g in groups}
            groups += [g for g in self.registry.time_dependent if g.id not in chosen]
        current = self._current(profile)
        next_day = stored_next if stored_next is not None and stored_next > today else None
        if not groups:
            return current, next_day
        network = self.registry.network
        plans = network.plans
        with evaluation_scope(profile):
            ev = network.evaluation(profile, today)
            for group in groups:
                gp = plans.get(group.id)
                if gp is not None and gp.group is group:
                    holds, day = ev.group(gp)
                else:  # a group from outside the registry: the reference evaluator
                    holds = matches(group, profile, today)
                    day = next_change_day(group, profile, today, holds)
                if holds:
                    current.add(group.id)
                else:
                    current.discard(group.id)
                if day is not None and (next_day is None or day < next_day):
                    next_day = day
        return current, next_day

    def _current(self, profile: Profile) -> set[str]:
        known = self.registry.groups
        return set(profile.groups) if profile.groups <= known.keys() else {g for g in profile.groups if g in known}

    def _on_additive(self, profile: Profile, current: set[str], stored_next: int | None,
                     run: Sequence[Prepared], today: int, *, stored: bool = True,
                     ) -> tuple[tuple[set[str], int | None] | None, int]:
        """Fold events that only add, then re-decide only the groups they moved (:mod:`pipeline.rules.delta`).

        ``current`` and ``stored_next`` are today's membership and re-check day
        before the events: the stored ones, or an empty profile's (``stored=False``:
        there a missing last-seen day becomes a value, which no one-way rule of
        :mod:`pipeline.rules.monotone` covers). The first event of ``run`` is
        folded; each later one only while it still only adds (nothing would be
        pruned or evicted) and, for a customer, brings no new cookie (a new
        cookie mirrors the groups decided *after* its event, so deciding before
        it keeps Redis as per-event processing leaves it). Returns (the new
        membership and re-check day, or None when every folded event was a
        duplicate; how many events of ``run`` were folded).
        """
        network = self.registry.network
        changes = self.registry.changes
        keys = run[0][2] if len(run) == 1 else frozenset().union(*(k for _, _, k in run))
        before = changes.before(profile, keys, today)
        customer = not profile.subject.startswith("v:")
        folded = 0
        changed = False
        for event, day, _ in run:
            if folded and (self._may_drop(profile, day) or (
                    customer and event.visitor_id is not None and event.visitor_id not in profile.visitor_ids)):
                break
            folded += 1
            rows = behaviour_rows(event)
            if rows:
                kind, value = rows[0]
                counted = profile.behaviour.get(kind, {}).get(value, {}).get(day, 0)
            if not fold(profile, event, self.policy, day):
                continue
            changed = True
            if rows and profile.behaviour.get(kind, {}).get(value, {}).get(day, 0) != counted:
                before.count(changes.behaviour(rows), day)
        if not changed:
            return None, folded
        next_day = stored_next
        with evaluation_scope(profile):
            ev = network.evaluation(profile, today)
            flipped, retimed = delta.moved(before, ev)
            if not flipped and not retimed:
                return (current, next_day), folded
            plans = network.plans
            for gid in delta.redecide(network, flipped, retimed, current, keys if stored else None):
                holds, found = ev.group(plans[gid])
                if holds:
                    current.add(gid)
                else:
                    current.discard(gid)
                if found is not None and (next_day is None or found < next_day):
                    next_day = found
        return (current, next_day), folded

    def _result(self, profile: Profile, new: set[str], next_day: int | None, **extra: object) -> Result:
        old = profile.groups
        profile.groups = new
        if new == old and not extra:  # the common case: nothing for Redis to show
            return Result(profile=profile, store=True, next_check=next_day)
        return Result(profile=profile, store=True, next_check=next_day,
                      joined=frozenset(new - old), left=frozenset(old - new),
                      mirrors=_mirrors(profile), **extra)  # type: ignore[arg-type]  # extra holds Result fields only

    # --- message handlers -------------------------------------------------

    def on_event(self, profile: Profile | None, next_check: int | None, subject: str,
                 event: Event, now: datetime) -> Result:
        return self.on_events(profile, next_check, subject, (event,), now)[0]

    def on_events(self, profile: Profile | None, next_check: int | None, subject: str,
                  events: Sequence[Event], now: datetime) -> tuple[Result, int]:
        """The first events of ``events`` (at least one), decided as one: (the result, how many).

        Events of one subject that only add (views, searches, baskets... on a
        profile whose stored groups are today's) are folded one after another
        and the groups they moved decided once, after the last: a session of
        a subject's events in one batch costs one decision, not one per event.
        The result equals deciding after each event (property-tested). Any
        other event (identify, erasure, one that prunes or evicts) is decided
        alone, as the caller learns from the count.
        """
        if events[0].type == "erasure":
            return self.on_erase(profile), 1
        # Cookies these events link to a customer: their mirror is written whole (see _linked).
        known = frozenset(profile.visitor_ids) if profile is not None and subject[0] == "c" else frozenset()
        today = self._today(now)
        head = self._prepared(events[0])
        event, day, keys = head
        if EVERYTHING in keys:  # an identify touches everything: decided alone
            profile = profile or new_profile(subject)
            decided, folded = self._on_full(profile, next_check, event, keys, day, today), 1
        elif profile is None:
            # A new subject is an empty profile plus these events: it belongs to what an empty
            # profile matches (orders = 0, registered = yes for a customer...) but for the
            # groups the events move.
            members, empty_next = self.registry.empty_profile_state(subject[0], today)
            profile = new_profile(subject)
            decided, folded = self._on_additive(profile, set(members), empty_next,
                                                self._additive_run(head, events), today, stored=False)
        elif not self._may_drop(profile, day) and (next_check is None or next_check > today):
            # Stored groups are today's, and the events only add.
            decided, folded = self._on_additive(profile, self._current(profile), next_check,
                                                self._additive_run(head, events), today)
        else:  # decided alone, before the rest are even looked at (a profile at its caps takes this path)
            decided, folded = self._on_full(profile, next_check, event, keys, day, today), 1
        if decided is None:
            return Result(profile=None), folded  # duplicates or no-ops: nothing to store or write
        if subject[0] == "c" and (linked := profile.visitor_ids - known):
            return self._result(profile, *decided, reset_mirrors=_linked(linked)), folded
        return self._result(profile, *decided), folded

    def _prepared(self, event: Event) -> Prepared:
        """The event with its public group IDs (a signup may name them), its local day, its index keys."""
        event = self.registry.with_public_group_ids(event)
        return event, self.policy.day_of(event.occurred_at), event_keys(event)

    def _additive_run(self, head: Prepared, events: Sequence[Event]) -> list[Prepared]:
        """``head`` (``events[0]`` prepared) and the events after it up to the first that touches
        everything (an identify or erasure: decided alone)."""
        run = [head]
        for event in events[1:]:
            if event.type == "erasure":
                break
            prepared = self._prepared(event)
            if EVERYTHING in prepared[2]:
                break
            run.append(prepared)
        return run

    def _on_full(self, profile: Profile, next_check: int | None, event: Event, keys: frozenset[str],
                 day: int, today: int) -> tuple[set[str], int | None] | None:
        """Fold, then re-decide every group the event's keys reach, or all of them.

        All of them when old buckets may leave the retention window or a value be
        evicted at the key cap (rows the event does not name can end), and for
        events that touch everything (identify, erasure).
        """
        groups = list(self.registry.groups.values()) if self._may_drop(profile, day) else self.registry.index.affected(keys)
        if not fold(profile, event, self.policy, day):
            return None
        return self._evaluate(profile, groups, today, next_check)

    def _may_drop(self, profile: Profile, day: int) -> bool:
        """Whether folding an event of local ``day`` can remove behaviour (see ``fold``): prune or evict.

        Every counted bucket's day is in ``seen``, so its oldest day tells whether
        a newer event moves anything out of the retention window.
        """
        policy = self.policy
        newest = profile.newest_day
        if newest is not None and profile.seen and day > newest and min(profile.seen) < day - policy.retention_days:
            return True
        return max(map(len, profile.behaviour.values()), default=0) >= policy.max_keys_per_kind

    def _today(self, now: datetime) -> int:
        """``policy.day_of(now)``, remembered for the last ``now`` (one per batch)."""
        if now is not self._now:
            self._now, self._now_day = now, self.policy.day_of(now)
        return self._now_day

    def on_recheck(self, profile: Profile | None, next_check: int | None, now: datetime) -> Result:
        """A time window passed: re-evaluate every time-dependent group exactly."""
        if profile is None:
            return Result(profile=None)
        today = self._today(now)
        new, next_day = self._evaluate(profile, self.registry.time_dependent, today, None)
        if new == set(profile.groups) and next_day == next_check:
            return Result(profile=None)
        return self._result(profile, new, next_day)

    def backfill_stored(self, stored: bytes, groups: list[CompiledGroup],
                        now: datetime) -> tuple[Result, bytes] | None:
        """``on_backfill`` over a stored value: the new value, or None when nothing changed.

        Back-fill changes membership only, so the profile body is stored again as it was,
        and only what the groups read is decoded (all of it when one counts behaviour).
        A profile whose re-check is due is decoded whole: the due re-check re-decides
        every time-dependent group with it (see ``_evaluate``), and those read anything.
        """
        due = peek_next_check(stored)
        reads = None if due is not None and due <= self._today(now) else self._reads(groups)
        profile, next_check = unpack(stored, reads=reads)
        result = self.on_backfill(profile, next_check, groups, now)
        if not result.store:
            return None
        return result, pack(profile, result.next_check, body_of(stored))

    def _reads(self, groups: list[CompiledGroup]) -> frozenset[str] | None:
        """What a back-fill of ``groups`` must decode: None (everything) when one counts behaviour.
        The same list of groups for a million profiles: worked out once per list (by identity)."""
        last = self._reads_for
        if last is not None and last[0] is groups:
            return last[1]
        reads = None if any(g.reads_behaviour for g in groups) else frozenset().union(*(g.reads for g in groups))
        self._reads_for = (groups, reads)
        return reads

    def on_backfill(self, profile: Profile, next_check: int | None, groups: list[CompiledGroup],
                    now: datetime) -> Result:
        """New or changed groups evaluated over a stored profile (and removed ones dropped)."""
        today = self._today(now)
        new, next_day = self._evaluate(profile, groups, today, next_check)
        if new == profile.groups and next_day == next_check:
            return Result(profile=None)
        return self._result(profile, new, next_day)

    def on_handover(self, profile: Profile | None, subject: str, handover: Handover) -> Result:
        """The visitor logged in: leave every group as a guest and move to the customer.

        The merge message is sent even for a cookie with no profile, so the
        customer side rewrites the cookie's mirror of its groups.
        """
        message = MergeIn(visitor=subject, merge_id=handover.merge_id,
                          profile=encode(profile, split=self.split_layout) if profile is not None else None)
        if profile is None:
            return Result(profile=None, outgoing=[(handover.customer, message)])
        return Result(profile=None, delete=True, dropped=frozenset(profile.groups),
                      outgoing=[(handover.customer, message)])

    def on_merge_in(self, profile: Profile | None, next_check: int | None, subject: str,
                    message: MergeIn, now: datetime) -> Result:
        new_subject = profile is None
        profile = profile or new_profile(subject)
        merged = message.profile is not None and merge(
            profile, decode(message.profile), self.policy, message.merge_id)
        # The cookie mirrors this customer from now on, even when it brought no profile:
        # a group the customer joins before the cookie's own next event must reach its mirror.
        add_visitor(profile, split_visitor(message.visitor), self.policy)
        today = self._today(now)
        # A customer whose first message is a merge is new: it belongs to whatever an empty
        # profile matches (registered = yes...) whichever message arrives first.
        groups = self.registry.groups.values() if merged or new_subject else ()
        new, next_day = self._evaluate(profile, groups, today, next_check)
        return self._result(profile, new, next_day, reset_mirrors=(message.visitor,))

    def on_erase(self, profile: Profile | None) -> Result:
        if profile is None:
            return Result(profile=None, delete=True)
        forget: list[tuple[str, Outgoing]] = [(v, Forget(v, profile.customer_id or ""))
                                              for v in sorted(profile.visitor_ids)]
        return Result(profile=None, delete=True, dropped=frozenset(profile.groups),
                      mirrors=_mirrors(profile), outgoing=forget)
