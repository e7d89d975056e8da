"""find_stale judges each key and member once, even when SCAN repeats them (it may, while Redis rehashes)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from pipeline.store.keys import KeySpace
from pipeline.stream.reconcile import ReconcileStats, find_stale

KEYS = KeySpace("cg")


class RepeatingScan:
    """Just the read calls find_stale makes; every SCAN/SSCAN reply comes twice, as Redis allows."""

    def __init__(self, sets: dict[str, set[str]], strings: set[str]) -> None:
        self.sets, self.strings = sets, strings

    async def scan_iter(self, match: str, count: int) -> AsyncIterator[str]:
        prefix = match.rstrip("*")
        for _ in range(2):
            for key in sorted(self.sets):
                if key.startswith(prefix):
                    yield key

    async def sscan_iter(self, key: str, count: int) -> AsyncIterator[str]:
        for _ in range(2):
            for member in sorted(self.sets[key]):
                yield member

    async def exists(self, key: str) -> int:
        return int(key in self.strings)


async def test_repeated_scan_replies_are_counted_and_removed_once() -> None:
    redis = RepeatingScan(
        sets={KEYS.subject("v:ghost"): {"12"}, KEYS.subject("v:linked"): {"12"}, KEYS.subject("c:c1"): {"12"},
              KEYS.members("12", True): {"ghost", "linked"}, KEYS.members("12", False): {"c1"}},
        strings={KEYS.link("v:linked")})
    stats = ReconcileStats(partition=0)
    await find_stale(redis, KEYS, 0, lambda subject: 0, {"c:c1": {"12"}}, stats)  # type: ignore[arg-type]
    assert (stats.stale_subject_keys, stats.stale_members) == (1, 2)
    assert stats.commands == [("DEL", KEYS.subject("v:ghost")),
                              ("SREM", KEYS.members("12", True), "ghost"),
                              ("SREM", KEYS.members("12", True), "linked")]
