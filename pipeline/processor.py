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

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.membership import MembershipChange
from pipeline.messages import Forget, Handover, MergeIn, Outgoing
from pipeline.profile import Profile, ProfilePolicy, add_visitor, decode, encode, fold, merge, new_profile
from pipeline.profile.stored import body_of, pack, unpack
from pipeline.registry import GroupRegistry
from pipeline.rules import CompiledGroup, evaluation_scope, matches, next_change_day
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
        groups = tuple(sorted(self.profile.groups)) if self.profile is not None else ()
        return MembershipChange(self.joined, self.left, self.dropped, self.delete, self.mirrors,
                                self.reset_mirrors, groups)


def split_visitor(subject: str) -> str:
    """``v:ck1`` -> ``ck1``."""
    return subject[2:] if subject.startswith("v:") else subject


def _mirrors(profile: Profile) -> tuple[str, ...]:
    """Linked cookies show the customer's groups, so a returning device is recognised."""
    if profile.subject.startswith("v:"):
        return ()
    return tuple(f"v:{v}" for v in sorted(profile.visitor_ids))


class SubjectProcessor:
    def __init__(self, registry: GroupRegistry, policy: ProfilePolicy) -> None:
        self.registry = registry
        self.policy = policy

    # --- evaluation ------------------------------------------------------

    def _evaluate(
        self, profile: Profile, groups: Iterable[CompiledGroup], today: int, stored_next: int | None,
        additive: frozenset[str] | None = None,
    ) -> tuple[set[str], int | None]:
        """New membership after re-evaluating ``groups``; other memberships stand.

        ``additive`` is the keys of an event that only added to the profile
        (nothing pruned or evicted, see :meth:`_may_drop`): members of groups it cannot end keep their
        membership without an evaluation (:mod:`pipeline.rules.monotone`), and
        the stored re-check day, never later than their own, stays valid.
        """
        groups = list(groups)
        if stored_next is not None and stored_next <= today:
            # A re-check is due and its message has not come yet (the timer runs every
            # second, not at midnight sharp): do it now, or its day would be lost with
            # the stored one and untouched groups would keep an expired membership.
            chosen = {g.id for g in groups}
            groups += [g for g in self.registry.time_dependent if g.id not in chosen]
        known = self.registry.groups
        current = {g for g in profile.groups if g in known}
        next_day = stored_next if stored_next is not None and stored_next > today else None
        with evaluation_scope(profile):
            for group in groups:
                if additive is not None and group.id in current and not (group.can_leave_on & additive):
                    continue
                holds = matches(group, profile, today)
                if holds:
                    current.add(group.id)
                else:
                    current.discard(group.id)
                day = next_change_day(group, profile, today, holds)
                if day is not None and (next_day is None or day < next_day):
                    next_day = day
        return current, next_day

    def _result(self, profile: Profile, new: set[str], next_day: int | None, **extra: object) -> Result:
        old = set(profile.groups)
        profile.groups = new
        return Result(profile=profile, store=True, next_check=next_day,
                      joined=frozenset(new - old), left=frozenset(old - new),
                      mirrors=_mirrors(profile), **extra)  # type: ignore[arg-type]  # extra holds Result fields only

    # --- message handlers -------------------------------------------------

    def on_event(self, profile: Profile | None, next_check: int | None, subject: str,
                 event: Event, now: datetime) -> Result:
        if event.type == "erasure":
            return self.on_erase(profile)
        event = self.registry.with_public_group_ids(event)  # a signup may name its groups
        today = self.policy.day_of(now)
        keys = event_keys(event)
        groups = self.registry.index.affected(keys)
        additive = None
        if profile is None:
            # A new subject also belongs to what an empty profile matches (orders = 0,
            # registered = yes for a customer...), which its first event does not touch.
            extra = self.registry.empty_profile_members(subject[0], today)
            groups = list({g.id: g for g in (*groups, *extra)}.values())
            profile = new_profile(subject)
        elif self._may_drop(profile, event):
            # Old buckets leave the retention window, or a value is evicted at the key
            # cap: rows the event does not name can end, so the index cannot narrow it.
            groups = list(self.registry.groups.values())
        elif EVERYTHING not in keys and (next_check is None or next_check > today):
            additive = keys  # stored groups are today's, and the event only adds
        if not fold(profile, event, self.policy):
            return Result(profile=None)  # a duplicate or no-op: nothing to store or write
        new, next_day = self._evaluate(profile, groups, today, next_check, additive)
        return self._result(profile, new, next_day)

    def _may_drop(self, profile: Profile, event: Event) -> bool:
        """Whether folding ``event`` can remove behaviour (see ``fold``): prune or evict.

        Every counted bucket's day is in ``seen``, so its oldest day tells whether
        a newer event moves anything out of the retention window.
        """
        policy = self.policy
        newest = profile.newest_day
        if newest is not None and profile.seen:
            day = policy.day_of(event.occurred_at)
            if day > newest and min(profile.seen) < day - policy.retention_days:
                return True
        cap = policy.max_keys_per_kind
        return any(len(values) >= cap for values in profile.behaviour.values())

    def on_recheck(self, profile: Profile | None, next_check: int | None, now: datetime) -> Result:
        """A time window passed: re-evaluate every time-dependent group exactly."""
        if profile is None:
            return Result(profile=None)
        today = self.policy.day_of(now)
        new, next_day = self._evaluate(profile, self.registry.time_dependent, today, None)
        if new == set(profile.groups) and next_day == next_check:
            return Result(profile=None)
        return self._result(profile, new, next_day)

    def backfill_stored(self, stored: bytes, groups: list[CompiledGroup],
                        now: datetime) -> tuple[Result, bytes] | None:
        """``on_backfill`` over a stored value: the new value, or None when nothing changed.

        Back-fill changes membership only, so the profile body is stored again as it was,
        and only what the groups read is decoded (all of it when one counts behaviour).
        """
        reads = None if any(g.reads_behaviour for g in groups) else frozenset().union(*(g.reads for g in groups))
        profile, next_check = unpack(stored, reads=reads)
        result = self.on_backfill(profile, next_check, groups, now)
        if not result.store:
            return None
        return result, pack(profile, result.next_check, body_of(stored))

    def on_backfill(self, profile: Profile, next_check: int | None, groups: list[CompiledGroup],
                    now: datetime) -> Result:
        """New or changed groups evaluated over a stored profile (and removed ones dropped)."""
        today = self.policy.day_of(now)
        new, next_day = self._evaluate(profile, groups, today, next_check)
        if new == set(profile.groups) and next_day == next_check:
            return Result(profile=None)
        return self._result(profile, new, next_day)

    def on_handover(self, profile: Profile | None, subject: str, handover: Handover) -> Result:
        """The visitor logged in: leave every group as a guest and move to the customer.

        The merge message is sent even for a cookie with no profile, so the
        customer side rewrites the cookie's mirror of its groups.
        """
        message = MergeIn(visitor=subject, merge_id=handover.merge_id,
                          profile=encode(profile) if profile is not None else None)
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
        today = self.policy.day_of(now)
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
