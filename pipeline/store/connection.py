"""The Redis clients the project uses: a single Redis or a Redis Cluster, chosen by URL scheme.

``CG_REDIS_URL`` (and any URL given to :func:`connect` / :func:`connect_sync`):

- ``redis://host:port/db``, ``rediss://`` (TLS), ``unix://``: one Redis, redis-py's ``Redis``;
- ``redis+cluster://host:port`` and ``rediss+cluster://host:port`` (TLS): a Redis Cluster,
  redis-py's ``RedisCluster``. The address is any node; the client discovers the others
  (CLUSTER SLOTS) and sends each command to the master of its key's slot. A cluster has
  only database 0, so the path is empty or ``/0``.

Every key carries a hash tag (:mod:`pipeline.store.keys`), so the multi-key commands
the project sends keep to one slot; pipelines are non-transactional and the cluster
client splits them per node.

redis-py's synchronous connection packs commands with hiredis when it is
installed; its asyncio connection always packs them in Python, about ten
times slower. A batch of membership writes is tens of thousands of small
commands, so that is a fifth of a back-fill's time. For a single Redis over
plain TCP the asyncio client therefore uses :class:`HiredisPackingConnection`:
redis-py's asyncio connection with redis-py's own hiredis serializer plugged in
(``connection_class`` is the documented hook); everything else, parsing included
(hiredis already), is unchanged. redis-py's asyncio ``RedisCluster`` has no such
hook (its constructor takes no ``connection_class``: every node's connections are
redis-py's ``Connection``), so on a cluster commands are packed in Python.
"""

from __future__ import annotations

from typing import Any, TypeAlias
from urllib.parse import urlparse, urlunparse

import redis
import redis.cluster
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.connection import HiredisRespSerializer
from redis.utils import HIREDIS_AVAILABLE

#: What the pipeline, the admin API and the async client talk to: one Redis or a cluster.
AsyncRedis: TypeAlias = Redis | RedisCluster
#: The synchronous counterpart, for the exporter and the sync personalisation client.
SyncRedis: TypeAlias = redis.Redis | redis.cluster.RedisCluster

#: URL scheme of a Redis Cluster -> the scheme redis-py's RedisCluster.from_url reads.
CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


class HiredisPackingConnection(Connection):
    _packer = HiredisRespSerializer() if HIREDIS_AVAILABLE else None

    def pack_command(self, *args: Any) -> list[bytes]:
        if self._packer is None:
            return super().pack_command(*args)
        return self._packer.pack(*args)


def is_cluster_url(url: str) -> bool:
    """Does ``url`` name a Redis Cluster (``redis+cluster://`` or ``rediss+cluster://``)?"""
    return urlparse(url).scheme in CLUSTER_SCHEMES


def cluster_url(url: str) -> str:
    """The ``redis://`` / ``rediss://`` URL redis-py's ``RedisCluster.from_url`` takes for ``url``.

    Refuses a database other than 0, which a cluster does not have, with a message
    that says so (rather than redis-py's at the first command).
    """
    parts = urlparse(url)
    scheme = CLUSTER_SCHEMES.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"not a Redis Cluster URL (redis+cluster:// or rediss+cluster://): {url!r}")
    db = parts.path.strip("/")
    if db not in ("", "0"):
        raise ValueError(f"a Redis Cluster has only database 0, the URL names database {db!r}: {url!r}")
    return urlunparse(parts._replace(scheme=scheme, path=""))


def connect(url: str, **options: Any) -> AsyncRedis:
    """An asyncio client for ``url``: ``RedisCluster`` for a cluster URL, else ``Redis``
    (with hiredis packing for plain TCP ``redis://`` URLs). Nothing connects until the first command."""
    if is_cluster_url(url):
        return RedisCluster.from_url(cluster_url(url), **options)
    if urlparse(url).scheme == "redis" and HIREDIS_AVAILABLE:
        options.setdefault("connection_class", HiredisPackingConnection)
    return Redis.from_url(url, **options)


def connect_sync(url: str, **options: Any) -> SyncRedis:
    """A synchronous client for ``url``: ``redis.cluster.RedisCluster`` for a cluster URL, else
    ``redis.Redis`` (whose connections pack with hiredis already).

    The synchronous ``RedisCluster`` asks a node for the cluster's layout as it is made,
    so for a cluster this connects (and raises if no node answers); ``redis.Redis`` waits
    for its first command."""
    if is_cluster_url(url):
        return redis.cluster.RedisCluster.from_url(cluster_url(url), **options)
    return redis.Redis.from_url(url, **options)
