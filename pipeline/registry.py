"""The groups a worker knows right now, and the policy they impose on events.

Built from definitions as they arrive on the definitions topic. Besides the
compiled groups and their index it holds a fingerprint per group, so that a
partition can tell exactly which groups changed since it last back-filled.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from pipeline.profile import ProfilePolicy
from pipeline.rules import CompiledGroup, RuleError, RuleIndex, build
from pipeline.rules.delta import Changes
from pipeline.rules.network import RuleNetwork, decide_all
from schemas.events import Event
from schemas.groups import GroupDefinition


def fingerprint(definition: GroupDefinition) -> str:
    """A short hash of what a definition means (its type and rules, not its name)."""
    meaning = definition.model_dump(mode="json", include={"type", "rules"}, by_alias=True)
    return hashlib.blake2b(orjson.dumps(meaning, option=orjson.OPT_SORT_KEYS), digest_size=8).hexdigest()


@dataclass(frozen=True)
class GroupRegistry:
    groups: dict[str, CompiledGroup] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    errors: tuple[RuleError, ...] = ()
    index: RuleIndex = field(init=False, repr=False, compare=False)
    network: RuleNetwork = field(init=False, repr=False, compare=False)
    changes: Changes = field(init=False, repr=False, compare=False)
    _empty_state: dict[tuple[str, int], tuple[frozenset[str], int | None]] = field(
        init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", RuleIndex(self.groups.values()))
        object.__setattr__(self, "network", RuleNetwork(self.groups.values()))
        object.__setattr__(self, "changes", Changes(self.network))

    def empty_profile_state(self, kind: str, today: int) -> tuple[frozenset[str], int | None]:
        """The groups of a brand-new profile of this kind, and the day that can next change.

        A new subject is the empty profile plus its first event: only the groups
        that event moves need deciding (:mod:`pipeline.rules.delta`), the rest
        keep what an empty profile gets (orders = 0, registered = yes for a
        customer...), decided once per kind and day.
        """
        cache = self._empty_state
        if (kind, today) not in cache:
            from pipeline.profile import new_profile

            decided = decide_all(self.network, self.groups.values(), new_profile(f"{kind}:empty"), today)
            days = [day for _, day in decided.values() if day is not None]
            if any(day != today for _, day in cache):
                cache.clear()  # another day's (both kinds are kept for the day)
            cache[(kind, today)] = frozenset(g for g, (holds, _) in decided.items() if holds), min(days, default=None)
        return cache[(kind, today)]

    @classmethod
    def from_definitions(
        cls, definitions: Iterable[GroupDefinition], policy: ProfilePolicy
    ) -> GroupRegistry:
        """Compile what compiles; a bad definition is reported, never fatal to a worker."""
        ruleset = build(((d, "definitions topic") for d in definitions), policy)
        return cls(
            groups=dict(ruleset.groups),
            fingerprints={gid: fingerprint(g.definition) for gid, g in ruleset.groups.items()},
            errors=tuple(ruleset.errors),
        )

    @property
    def time_dependent(self) -> list[CompiledGroup]:
        return [self.groups[gid] for gid in sorted(self.index.time_dependent)]

    def check(self, event: Event) -> tuple[str, str, str] | None:
        """(field, why, reason) when an event breaks the group rules, None when it is fine.

        Only public groups can be opted in to, and only private groups can have
        customers added by staff; nobody joins a dynamic group by hand. The
        reason is ``unknown group`` or ``group type not allowed``.
        """
        if event.type == "consent":
            return self._expect("group_id", event.group_id, "public", "opt in to")
        if event.type == "staff_membership":
            return self._expect("group_id", event.group_id, "private", "add customers by hand to")
        if event.type == "signup":
            for index, ref in enumerate(event.public_groups):
                problem = self._expect(f"public_groups.{index}", self.public_group_id(ref) or ref, "public",
                                       "opt in to")
                if problem:
                    return problem
        return None

    def public_group_id(self, ref: str) -> str | None:
        """A public group's ID from its ID or its name (any case), as consent rows take it."""
        group = self.groups.get(ref)
        if group is not None:
            return ref if group.type == "public" else None
        folded = ref.strip().casefold()
        for gid, group in self.groups.items():
            if group.type == "public" and group.definition.name.strip().casefold() == folded:
                return gid
        return None

    def with_public_group_ids(self, event: Event) -> Event:
        """A signup whose ``public_groups`` name groups by name, with their IDs instead."""
        if event.type != "signup" or all(ref in self.groups for ref in event.public_groups):
            return event
        ids = [self.public_group_id(ref) or ref for ref in event.public_groups]
        return event.model_copy(update={"public_groups": list(dict.fromkeys(ids))})

    def _expect(self, field: str, group_id: str, wanted: str, verb: str) -> tuple[str, str, str] | None:
        group = self.groups.get(group_id)
        if group is None:
            return field, f"no group has the ID or name {group_id!r}", "unknown group"
        if group.type != wanted:
            return (field, f"group {group_id} ({group.definition.name!r}) is {group.type}: "
                    f"only {wanted} groups can be used to {verb}", "group type not allowed")
        return None

    def changed_since(self, applied: dict[str, str]) -> tuple[list[CompiledGroup], set[str]]:
        """Groups new or changed since ``applied`` (id → fingerprint), and ids removed."""
        changed = [g for gid, g in sorted(self.groups.items()) if applied.get(gid) != self.fingerprints[gid]]
        removed = set(applied) - set(self.groups)
        return changed, removed
