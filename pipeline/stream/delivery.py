"""Waiting until what a stage sent is in Kafka, before anything records it as done.

Stages send with ``force=True``: Faust would otherwise *attach* a message sent
while a stream has a current event to that event, and publish it only when the
event's offset is committed, which waits for this very batch: a deadlock for
anyone who waits for the message (seen in the identity stage).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

#: A delivery that takes longer fails the batch (which is then retried and shows in /healthz)
#: rather than hang it silently; aiokafka's own request timeout is 40 s.
DELIVERY_TIMEOUT = 60.0


async def delivered(sent: Iterable[Awaitable[Any]], timeout: float = DELIVERY_TIMEOUT) -> None:
    """Wait for the broker's acknowledgement of every message in ``sent`` (the futures
    ``Topic.send`` returns); a failed or timed-out send raises, so the batch is retried, not acked."""
    pending = list(sent)
    if pending:
        await asyncio.wait_for(asyncio.gather(*pending), timeout)
