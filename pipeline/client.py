"""The personalisation client: which groups is this shopper in, and may they see this banner?

The storefront asks on every page view, so each question costs at most ONE
Redis round trip: SMEMBERS of the customer's key when the shopper is logged in,
else of the cookie's key. A cookie that has ever logged in mirrors its
customer's groups (see README, "The Redis contract"), so a returning device is
recognised even when logged out.

Only :mod:`redis` is needed (this module imports nothing heavy from the
pipeline), so a storefront service can use it directly::

    from redis import Redis
    from pipeline.client import GroupsClient

    groups = GroupsClient(Redis.from_url("redis://redis:6379/0"), prefix="cg")
    groups.groups(customer_id="C00042")                       # frozenset({"1", "12"})
    groups.may_show(["12", "22"], visitor_id="ck-5d2e")       # True / False

:class:`AsyncGroupsClient` is the same over ``redis.asyncio.Redis``. Both work as
well over redis-py's ``RedisCluster`` (``from_url`` picks it for a
``redis+cluster://`` URL, as ``CG_REDIS_URL`` does): a subject's key is one slot,
so a lookup is still one command to one node.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline.store.connection import AsyncRedis, SyncRedis, connect, connect_sync
from pipeline.store.keys import KeySpace

GroupIds = Iterable[str | int] | str | int | None


def restriction(restricted_to: GroupIds) -> frozenset[str]:
    """The group IDs content is restricted to, as strings; one ID may be given bare."""
    if restricted_to is None:
        return frozenset()
    if isinstance(restricted_to, (str, int)):
        return frozenset({str(restricted_to)})
    return frozenset(str(g) for g in restricted_to)


def may_show(groups: Iterable[str], restricted_to: GroupIds) -> bool:
    """Is content restricted to ``restricted_to`` visible to a shopper in ``groups``?

    No restriction (``None`` or empty) means everyone; otherwise the shopper
    must be in at least one of the groups. Check several banners against one
    :meth:`GroupsClient.groups` answer to keep a page at one round trip.
    """
    wanted = restriction(restricted_to)
    return not wanted or not wanted.isdisjoint(groups)


class _Lookup:
    """The key logic both clients share."""

    def __init__(self, prefix: str = "cg") -> None:
        self.keys = KeySpace(prefix)

    def key_for(self, customer_id: str | None, visitor_id: str | None) -> str | None:
        """The subject key to read: the customer's when logged in, else the cookie's, else none."""
        if customer_id:
            return self.keys.subject(f"c:{customer_id}")
        if visitor_id:
            return self.keys.subject(f"v:{visitor_id}")
        return None

    @staticmethod
    def _decode(members: Iterable[Any]) -> frozenset[str]:
        return frozenset(m.decode() if isinstance(m, bytes) else str(m) for m in members)


class GroupsClient(_Lookup):
    """Group lookups over a synchronous ``redis.Redis`` or ``redis.cluster.RedisCluster``
    (decoded replies or not)."""

    def __init__(self, redis: SyncRedis, prefix: str = "cg") -> None:
        super().__init__(prefix)
        self.redis = redis

    @classmethod
    def from_url(cls, url: str, prefix: str = "cg", **options: Any) -> GroupsClient:
        """A client for ``url``: ``redis://`` one Redis, ``redis+cluster://`` a Redis Cluster."""
        return cls(connect_sync(url, **options), prefix)

    def groups(self, customer_id: str | None = None, visitor_id: str | None = None) -> frozenset[str]:
        """The shopper's group IDs: one SMEMBERS, or none when neither ID is known."""
        key = self.key_for(customer_id, visitor_id)
        return self._decode(self.redis.smembers(key)) if key else frozenset()

    def may_show(self, restricted_to: GroupIds, customer_id: str | None = None,
                 visitor_id: str | None = None) -> bool:
        """May content restricted to these groups be shown? Unrestricted content asks Redis nothing."""
        wanted = restriction(restricted_to)
        return not wanted or not wanted.isdisjoint(self.groups(customer_id, visitor_id))


class AsyncGroupsClient(_Lookup):
    """Group lookups over ``redis.asyncio.Redis`` or ``RedisCluster``, for async storefronts."""

    def __init__(self, redis: AsyncRedis, prefix: str = "cg") -> None:
        super().__init__(prefix)
        self.redis = redis

    @classmethod
    def from_url(cls, url: str, prefix: str = "cg", **options: Any) -> AsyncGroupsClient:
        """A client for ``url``: ``redis://`` one Redis, ``redis+cluster://`` a Redis Cluster."""
        return cls(connect(url, **options), prefix)

    async def groups(self, customer_id: str | None = None, visitor_id: str | None = None) -> frozenset[str]:
        """The shopper's group IDs: one SMEMBERS, or none when neither ID is known."""
        key = self.key_for(customer_id, visitor_id)
        return self._decode(await self.redis.smembers(key)) if key else frozenset()

    async def may_show(self, restricted_to: GroupIds, customer_id: str | None = None,
                       visitor_id: str | None = None) -> bool:
        """May content restricted to these groups be shown? Unrestricted content asks Redis nothing."""
        wanted = restriction(restricted_to)
        return not wanted or not wanted.isdisjoint(await self.groups(customer_id, visitor_id))
