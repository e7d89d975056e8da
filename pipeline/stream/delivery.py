"""Waiting until what a stage sent is in Kafka, before anything records it as done."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any


async def delivered(sent: Iterable[Awaitable[Any]]) -> None:
    """Wait for the broker's acknowledgement of every message in ``sent`` (the futures
    ``Topic.send`` returns); a failed send raises, so the batch is retried, not acked."""
    pending = list(sent)
    if pending:
        await asyncio.gather(*pending)
