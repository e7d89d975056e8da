"""The Redis key layout: a contract other languages rely on (see README, "Redis contract").

Every key starts with the configured prefix and carries a Redis Cluster hash
tag in braces, so the keys one lookup needs live in one slot:

- ``{prefix}:s:{<subject>}`` — SET of the group IDs a subject belongs to. A
  subject is ``c:<customer_id>`` or ``v:<visitor_id>``: one SMEMBERS answers
  "which groups is this customer/visitor in".
- ``{prefix}:g:{<group_id>}:c`` and ``{prefix}:g:{<group_id>}:v`` — SETs of a
  group's customer IDs and anonymous visitor IDs. Both share the ``{group_id}``
  tag, so SCARD of each in one pipeline is one round trip, even on a cluster;
  SSCAN lists members without blocking Redis.
- ``{prefix}:l:{v:<visitor_id>}`` — STRING: the customer subject a cookie's
  groups mirror once that cookie has logged in. The cookie's own
  ``{prefix}:s:{v:<visitor_id>}`` then holds the customer's groups, so a device
  that comes back logged out is still recognised with one SMEMBERS.
- ``{prefix}:h:{p<partition>}`` — STRING, a sentinel per partition: gone means
  Redis lost data, and the partition's owner rebuilds it from the profile table.
- ``{prefix}:o:{p<partition>}:<topic>`` — STRING, an offset per input partition:
  Redis holds no effect of that partition's records at or past it (the worker
  moves it ahead before writing; :mod:`pipeline.stream.replay`).
- ``{prefix}:d:{c:<customer_id>}`` — HASH of a customer's details for exports:
  ``email``, ``first_name``, ``last_name``, ``date_joined`` (ISO date), and per
  group ``consent:<group_id>`` / ``staff:<group_id>`` (JSON: granted/member,
  at, source, staff_id).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KeySpace:
    prefix: str = "cg"

    def subject(self, subject: str) -> str:
        return f"{self.prefix}:s:{{{subject}}}"

    def details(self, customer_subject: str) -> str:
        return f"{self.prefix}:d:{{{customer_subject}}}"

    def link(self, visitor_subject: str) -> str:
        return f"{self.prefix}:l:{{{visitor_subject}}}"

    def members(self, group_id: str, anonymous: bool) -> str:
        return f"{self.prefix}:g:{{{group_id}}}:{'v' if anonymous else 'c'}"

    def member_keys(self, group_id: str) -> tuple[str, str]:
        """(customers, anonymous visitors) of a group."""
        return self.members(group_id, False), self.members(group_id, True)

    def sentinel(self, partition: int) -> str:
        """Set by a partition's owner once Redis holds that partition's state: its absence means
        Redis lost data (restart without persistence, failover to an empty replica, a flush)."""
        return f"{self.prefix}:h:{{p{partition}}}"

    def replay_mark(self, topic: str, partition: int) -> str:
        """Redis holds no effect of ``topic[partition]``'s records at or past this offset (pipeline.stream.replay)."""
        return f"{self.prefix}:o:{{p{partition}}}:{topic}"

    def reconcile_report(self, request_id: str) -> str:
        return f"{self.prefix}:reconcile:{request_id}"

    def subject_pattern(self) -> str:
        return f"{self.prefix}:s:*"

    def members_pattern(self) -> str:
        return f"{self.prefix}:g:*"

    def parse_subject_key(self, key: str) -> str:
        """``cg:s:{c:42}`` → ``c:42``."""
        return key[len(self.prefix) + 4:-1]

    def parse_members_key(self, key: str) -> tuple[str, bool]:
        """``cg:g:{12}:v`` → (``12``, anonymous)."""
        return key[len(self.prefix) + 4:-3], key.endswith(":v")


def split_subject(subject: str) -> tuple[bool, str]:
    """(anonymous?, raw ID) of ``c:<id>`` / ``v:<id>``."""
    kind, _, raw = subject.partition(":")
    if kind not in ("c", "v") or not raw:
        raise ValueError(f"not a subject: {subject!r}")
    return kind == "v", raw
