"""Writing membership changes to Redis: planned as data, sent in one pipeline per batch.

Every command is idempotent (SADD, SREM, DEL), so re-applying a batch after a
crash, or a message delivered twice, leaves Redis exactly as once. Counts are
set cardinalities, never counters, for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.membership import MembershipChange
from pipeline.store import bulk
from pipeline.store.connection import AsyncRedis
from pipeline.store.keys import KeySpace, split_subject

Command = tuple[str, ...]  # ("SADD", key, member, ...)


def plan(keys: KeySpace, subject: str, change: MembershipChange) -> list[Command]:
    """The Redis commands that make ``change`` visible, in the order they must run."""
    anonymous, raw_id = split_subject(subject)
    own = keys.subject(subject)
    commands: list[Command] = []
    if change.dropped or change.delete:
        commands += [("SREM", keys.members(g, anonymous), raw_id) for g in sorted(change.dropped)]
        commands.append(("DEL", own))
        commands += [("DEL", keys.subject(m), keys.link(m)) for m in change.mirrors]
        return commands
    joined, left = sorted(change.joined), sorted(change.left)
    for target in (own, *(keys.subject(m) for m in change.mirrors)):
        if joined:
            commands.append(("SADD", target, *joined))
        if left:
            commands.append(("SREM", target, *left))
    commands += [("SADD", keys.members(g, anonymous), raw_id) for g in joined]
    commands += [("SREM", keys.members(g, anonymous), raw_id) for g in left]
    if change.reset_mirrors:
        commands += mirror_commands(keys, subject, change.reset_mirrors, sorted(change.groups))
    return commands


def mirror_commands(keys: KeySpace, customer: str, mirrors: Iterable[str], groups: list[str]) -> list[Command]:
    """Rewrite whole each cookie that mirrors a customer's groups, and link it to the customer."""
    commands: list[Command] = []
    for mirror in mirrors:
        commands += [("DEL", keys.subject(mirror)), ("SET", keys.link(mirror), customer)]
        if groups:
            commands.append(("SADD", keys.subject(mirror), *groups))
    return commands


_MERGEABLE = frozenset({"SADD", "SREM"})


def coalesce(commands: Iterable[Command]) -> list[Command]:
    """Fewer, larger commands with the same effect: consecutive SADDs (or SREMs) to one key merge.

    A command merges into the last one written to its key when both are the
    same set operation, so per key the order of operations is unchanged, and
    commands on different keys never depended on each other's order. A batch
    where a thousand subjects join one group then sends one SADD, not a thousand.
    """
    out: list[Command] = []
    grown: dict[int, list[str]] = {}  # index in out -> the arguments of a command others merged into
    last: dict[str, int] = {}  # key -> index in out of the latest command touching it
    for command in commands:
        op = command[0]
        if op in _MERGEABLE:
            key = command[1]
            at = last.get(key)
            if at is not None and out[at][0] == op:
                args = grown.get(at)
                if args is None:
                    args = grown[at] = list(out[at])
                args.extend(command[2:])
                continue
            last[key] = len(out)
        elif op == "DEL":  # DEL k1 k2...: touches its keys, never merged
            for key in command[1:]:
                last[key] = len(out)
        else:  # SET k v, HSET k ..., HDEL k ...
            last[command[1]] = len(out)
        out.append(command)
    for at, args in grown.items():
        out[at] = tuple(args)
    return out


class MembershipWriter:
    """Collects commands for a batch and sends them in one round trip per Redis node (:mod:`pipeline.store.bulk`)."""

    def __init__(self, redis: AsyncRedis, keys: KeySpace) -> None:
        self.redis = redis
        self.keys = keys
        self._pending: list[Command] = []

    def stage(self, subject: str, change: MembershipChange) -> None:
        if change.visible:
            self._pending += plan(self.keys, subject, change)

    def stage_commands(self, commands: Iterable[Command]) -> None:
        self._pending += commands

    def discard(self) -> None:
        """Drop what is staged: a batch being retried stages its writes again."""
        self._pending = []

    def fresh(self) -> MembershipWriter:
        return MembershipWriter(self.redis, self.keys)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def groups_of(self, subjects: list[str]) -> dict[str, set[str]]:
        """What Redis shows of each subject's groups now (its subject set), in one round trip per node."""
        pipe = self.redis.pipeline(transaction=False)
        for subject in subjects:
            pipe.smembers(self.keys.subject(subject))
        found = await pipe.execute()
        return {subject: {m.decode() if isinstance(m, bytes) else m for m in members}
                for subject, members in zip(subjects, found, strict=True)}

    async def flush(self) -> int:
        """Send what is staged (coalesced); on failure nothing is forgotten, so the caller can retry.

        Returns how many staged commands were applied.
        """
        if not self._pending:
            return 0
        await bulk.execute(self.redis, coalesce(self._pending))
        sent, self._pending = len(self._pending), []
        return sent
