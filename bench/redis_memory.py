"""Redis memory per subject, measured on keys laid out as the workers write them.

Not part of ``make bench``: run it on its own against a Redis of the version you deploy
(the figures depend on the version's encodings and on the allocator)::

    .venv/bin/python -m bench.redis_memory --redis-url redis://127.0.0.1:16379/0

It writes ``--subjects`` customers and as many anonymous cookies under a fresh prefix
with the key layout of :class:`pipeline.store.keys.KeySpace` (per-subject group sets,
group member sets, customer details hashes shaped as :func:`pipeline.store.details.details_of`
writes them, cookie links), reads ``used_memory`` before and after each kind of key, and
deletes everything it wrote. IDs are shaped like the bench traffic's (``C00042``,
``ck-123456``); group counts per subject are parameters, not observed traffic, so a
total for a shop is this table times its own counts (README, "Sizing").
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import orjson
import redis

from pipeline.store.keys import KeySpace

BATCH = 2_000
PREFIX = "cgmem"


def _used(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])


def _measure(r: redis.Redis, count: int, write: Callable[[redis.client.Pipeline, int], None]) -> float:
    """Bytes of used_memory per item after writing ``count`` items."""
    before = _used(r)
    for start in range(0, count, BATCH):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(count, start + BATCH)):
            write(pipe, i)
        pipe.execute()
    return (_used(r) - before) / count


def measure(r: redis.Redis, subjects: int, groups_per_customer: int) -> dict[str, float]:
    keys = KeySpace(PREFIX)  # as short as the default "cg", so key lengths are alike
    if r.scan(0, match=f"{PREFIX}:*", count=1000)[1]:
        raise SystemExit(f"keys under {PREFIX}: exist already: remove them or use another Redis")
    groups = [str(g) for g in range(1, 14)]  # 13 groups, as rules_config/
    joined = "2025-06-01"
    consent = orjson.dumps({"granted": True, "at": "2025-06-01T10:00:00+00:00", "source": "signup",
                            "staff_id": None}).decode()
    results = {
        # a customer's own set: the IDs of the groups it is in
        f"subject set, {groups_per_customer} groups": _measure(r, subjects, lambda p, i: p.sadd(
            keys.subject(f"c:C{i:06d}"), *groups[:groups_per_customer])),
        "subject set, 1 group": _measure(r, subjects, lambda p, i: p.sadd(keys.subject(f"v:ck-{i}"), groups[0])),
        # one membership: the customer's ID in a group's member set (a large set)
        "member of a group (customer)": _measure(r, subjects, lambda p, i: p.sadd(
            keys.members("1", anonymous=False), f"C{i:06d}")),
        "member of a group (anonymous cookie)": _measure(r, subjects, lambda p, i: p.sadd(
            keys.members("1", anonymous=True), f"ck-{i}")),
        # the exporter's details: email, names, join date...
        "customer details hash": _measure(r, subjects, lambda p, i: p.hset(keys.details(f"c:C{i:06d}"), mapping={
            "email": f"c{i:06d}@example.com", "first_name": "Sam", "last_name": "Taylor",
            "date_joined": joined})),
        # ...and a consent (or staff) record: a JSON value over 64 bytes, which turns the
        # hash from Redis's compact encoding into a hash table (hash-max-listpack-value)
        "customer details hash with a consent record": _measure(r, subjects, lambda p, i: p.hset(
            keys.details(f"c:D{i:06d}"), mapping={
                "email": f"d{i:06d}@example.com", "first_name": "Sam", "last_name": "Taylor",
                "date_joined": joined, "consent:3": consent})),
        # a logged-in cookie: the link to its customer (its mirror set is a subject set)
        "cookie link": _measure(r, subjects, lambda p, i: p.set(keys.link(f"v:ck-c{i}"), f"c:C{i:06d}")),
    }
    cursor = 0
    while True:
        cursor, found = r.scan(cursor, match=f"{keys.prefix}:*", count=1000)
        if found:
            r.unlink(*found)
        if cursor == 0:
            break
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default="redis://127.0.0.1:16379/0")
    parser.add_argument("--subjects", type=int, default=20_000, help="customers (and as many cookies) to write")
    parser.add_argument("--groups-per-customer", type=int, default=3)
    args = parser.parse_args(argv)
    r = redis.Redis.from_url(args.redis_url)
    server = r.info("server")
    memory = r.info("memory")
    print(f"Redis {server['redis_version']}, allocator {memory.get('mem_allocator')}, {args.subjects:,} of each")
    print("| key | bytes of used_memory each |\n| --- | --- |")
    for name, size in measure(r, args.subjects, args.groups_per_customer).items():
        print(f"| {name} | {size:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
