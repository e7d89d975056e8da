"""The asyncio Redis client the pipeline writes with: redis-py, packing commands with hiredis.

redis-py's synchronous connection packs commands with hiredis when it is
installed; its asyncio connection always packs them in Python, about ten
times slower. A batch of membership writes is tens of thousands of small
commands, so that is a fifth of a back-fill's time. The connection class below is
redis-py's asyncio connection with redis-py's own hiredis serializer plugged
in (``connection_class`` is the documented hook); everything else, parsing
included (hiredis already), is unchanged.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.connection import HiredisRespSerializer
from redis.utils import HIREDIS_AVAILABLE


class HiredisPackingConnection(Connection):
    _packer = HiredisRespSerializer() if HIREDIS_AVAILABLE else None

    def pack_command(self, *args: Any) -> list[bytes]:
        if self._packer is None:
            return super().pack_command(*args)
        return self._packer.pack(*args)


def connect(url: str, **options: Any) -> Redis:
    """``Redis.from_url``, with hiredis packing for plain TCP (``redis://``) URLs."""
    if urlparse(url).scheme == "redis" and HIREDIS_AVAILABLE:
        options.setdefault("connection_class", HiredisPackingConnection)
    return Redis.from_url(url, **options)
