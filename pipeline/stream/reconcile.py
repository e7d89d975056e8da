"""Rebuilding Redis from the Kafka-backed profile table (``customer-groups reconcile``).

Redis is a view; the profile table (changelogged to Kafka) is the truth. A
reconcile request reaches every partition of the profile stage as a control
message, so each partition's owner repairs its own subjects *inside* its
stream: no live event for those subjects can interleave with the repair.

For one partition it (1) rewrites every stored subject's keys whole (groups,
details), and the cookies that mirror it, and (2) removes what no stored profile explains:
subject keys of subjects that are gone (but not cookies that mirror a
customer: their link key says whose they are), and set members whose profile
is gone or is no longer in that group. Both passes use SCAN/SSCAN, never KEYS
or SMEMBERS on a large set, so Redis keeps serving page views meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.profile import Profile
from pipeline.profile.stored import unpack
from pipeline.store.connection import AsyncRedis
from pipeline.store.details import details_of
from pipeline.store.keys import KeySpace, split_subject
from pipeline.store.writer import Command, mirror_commands

SCAN_COUNT = 1000


@dataclass
class ReconcileStats:
    partition: int
    subjects: int = 0
    stale_subject_keys: int = 0
    stale_members: int = 0
    commands: list[Command] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, int]:
        return {"partition": self.partition, "subjects": self.subjects,
                "stale_subject_keys": self.stale_subject_keys, "stale_members": self.stale_members}


def rewrite(keys: KeySpace, subject: str, groups: list[str], mirrors: list[str],
            details: dict[str, str]) -> list[Command]:
    """Commands that make one stored subject's keys exactly what its profile says."""
    anonymous, raw_id = split_subject(subject)
    commands: list[Command] = [("DEL", keys.subject(subject))]
    if not anonymous:
        commands.append(("DEL", keys.details(subject)))
        if details:
            commands.append(("HSET", keys.details(subject), *[p for kv in sorted(details.items()) for p in kv]))
    if groups:
        commands.append(("SADD", keys.subject(subject), *groups))
    commands += [("SADD", keys.members(g, anonymous), raw_id) for g in groups]
    commands += mirror_commands(keys, subject, mirrors, groups)
    return commands


async def find_stale(
    redis: AsyncRedis,
    keys: KeySpace,
    partition: int,
    partition_of: Callable[[str], int],
    stored_groups: dict[str, set[str]],
    stats: ReconcileStats,
) -> None:
    """Stage removals of whatever in Redis belongs to ``partition`` but no profile explains.

    SCAN may return one key (and SSCAN one member) more than once while Redis
    rehashes, so each is judged once: the counts in the report stay exact.
    """
    seen: set[str] = set()
    async for raw_key in redis.scan_iter(match=keys.subject_pattern(), count=SCAN_COUNT):
        key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
        subject = keys.parse_subject_key(key)
        if partition_of(subject) != partition or subject in stored_groups or key in seen:
            continue
        if subject.startswith("v:") and await redis.exists(keys.link(subject)):
            continue  # a cookie mirroring a customer: that customer's partition rewrites it
        seen.add(key)
        stats.commands.append(("DEL", key))
        stats.stale_subject_keys += 1
    stale: set[tuple[str, str]] = set()
    async for raw_key in redis.scan_iter(match=keys.members_pattern(), count=SCAN_COUNT):
        key = raw_key.decode() if isinstance(raw_key, bytes) else raw_key
        group_id, anonymous = keys.parse_members_key(key)
        async for raw_member in redis.sscan_iter(key, count=SCAN_COUNT):
            member = raw_member.decode() if isinstance(raw_member, bytes) else raw_member
            subject = f"{'v' if anonymous else 'c'}:{member}"
            if partition_of(subject) != partition:
                continue
            if group_id not in stored_groups.get(subject, ()) and (key, member) not in stale:
                stale.add((key, member))
                stats.commands.append(("SREM", key, member))
                stats.stale_members += 1


def stored_state(
    values: dict[str, bytes],
) -> tuple[dict[str, set[str]], dict[str, list[str]], dict[str, dict[str, str]]]:
    """(groups, mirrored cookies, details) of each stored subject, from the table values."""
    groups: dict[str, set[str]] = {}
    mirrors: dict[str, list[str]] = {}
    details: dict[str, dict[str, str]] = {}
    for subject, value in values.items():
        profile, _ = unpack(value)
        groups[subject] = set(profile.groups)
        details[subject] = details_of(profile)
        if subject.startswith("c:"):
            mirrors[subject] = mirrored_cookies(subject, profile)
    return groups, mirrors, details


def mirrored_cookies(subject: str, profile: Profile | None) -> list[str]:
    """The cookie subjects whose keys mirror a stored customer's groups (none for a cookie)."""
    if profile is None or not subject.startswith("c:"):
        return []
    return [f"v:{v}" for v in sorted(profile.visitor_ids)]
