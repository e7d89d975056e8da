"""The whole Redis state of one run, and what differs between two runs.

Every key under the run's prefix is read (SCAN, never KEYS): group sets,
per-subject sets, cookie links and detail hashes, with the prefix taken off so
two runs under different prefixes compare key by key. Reconcile reports, the
per-partition sentinels (``h:``) and replay marks (``o:``) are bookkeeping, not
state, and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

Value = frozenset[str] | str | tuple[tuple[str, str], ...]


@dataclass
class Snapshot:
    keys: dict[str, Value] = field(default_factory=dict)

    def count(self, kind: str) -> int:
        """Keys of one kind: ``s`` subject sets, ``g`` group sets, ``l`` links, ``d`` details."""
        return sum(1 for k in self.keys if k.startswith(f"{kind}:"))

    def summary(self) -> dict[str, int]:
        return {name: self.count(kind) for kind, name in
                (("s", "subject sets"), ("g", "group sets"), ("l", "cookie links"), ("d", "detail hashes"))}


async def snapshot(redis: Redis, prefix: str) -> Snapshot:
    state = Snapshot()
    skip = (f"{prefix}:reconcile:", f"{prefix}:h:", f"{prefix}:o:")
    async for raw in redis.scan_iter(match=f"{prefix}:*", count=1000):
        key = raw.decode() if isinstance(raw, bytes) else raw
        if key.startswith(skip):
            continue
        kind = await redis.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        name = key[len(prefix) + 1:]
        value: Value
        if kind == "set":
            value = frozenset(_text(m) for m in await redis.smembers(key))
        elif kind == "string":
            value = _text(await redis.get(key))
        elif kind == "hash":
            value = tuple(sorted((_text(k), _text(v)) for k, v in (await redis.hgetall(key)).items()))
        else:
            continue  # deleted between SCAN and TYPE
        state.keys[name] = value
    return state


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class Diff:
    missing: list[str]  # in the reference, not in the run
    extra: list[str]  # in the run, not in the reference
    different: list[str]

    @property
    def exact(self) -> bool:
        return not (self.missing or self.extra or self.different)

    def describe(self, reference: Snapshot, run: Snapshot, limit: int = 8) -> str:
        if self.exact:
            return "identical"
        lines = [f"{len(self.missing)} missing, {len(self.extra)} extra, {len(self.different)} different keys"]
        for key in self.missing[:limit]:
            lines.append(f"  missing {key} = {_show(reference.keys[key])}")
        for key in self.extra[:limit]:
            lines.append(f"  extra   {key} = {_show(run.keys[key])}")
        for key in self.different[:limit]:
            lines.append(f"  differs {key}: reference {_show(reference.keys[key])}, run {_show(run.keys[key])}")
        return "\n".join(lines)

    def by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for key in (*self.missing, *self.extra, *self.different):
            counts[key.split(":", 1)[0]] = counts.get(key.split(":", 1)[0], 0) + 1
        return counts


def diff(reference: Snapshot, run: Snapshot) -> Diff:
    ref, got = reference.keys, run.keys
    return Diff(missing=sorted(set(ref) - set(got)), extra=sorted(set(got) - set(ref)),
                different=sorted(k for k in set(ref) & set(got) if ref[k] != got[k]))


def _show(value: Value) -> str:
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(value)[:6]) + (", ..." if len(value) > 6 else "") + "}"
    return repr(value)[:120]
