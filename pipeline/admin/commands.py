"""Admin actions that change a customer's data become events on the events topic.

Staff adding a customer to a private group, and GDPR erasure, are not written
to Redis or the profile table here: they are produced as ordinary
``staff_membership`` / ``erasure`` events, so the pipeline applies them like
events from the till or the CMS (validated, ordered with the customer's other
events, idempotent, replayable). The API answers 202: accepted, applied shortly.

Messages are keyed ``c:<customer_id>`` so one customer's admin actions keep
their order on the events topic.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime
from typing import Any, Literal

import orjson
from aiokafka import AIOKafkaProducer

from schemas.events import EVENT_ADAPTER

_last_ns = 0


def _event_id(kind: str) -> str:
    """Unique, and increasing within a process: the profile breaks a tie of two events
    stamped the same instant (add, then remove) by event ID, so the later call must win."""
    global _last_ns
    _last_ns = max(_last_ns + 1, time.time_ns())
    return f"admin-{kind}-{_last_ns:020d}-{uuid.uuid4().hex[:12]}"


def staff_membership_event(group_id: str, customer_id: str, staff_id: str, source: str,
                           action: Literal["add", "remove"], now: datetime) -> dict[str, Any]:
    """A validated ``staff_membership`` event (a fresh event ID, occurred now)."""
    event = {"type": "staff_membership", "event_id": _event_id("staff"), "occurred_at": now.isoformat(),
             "customer_id": customer_id, "group_id": group_id, "action": action, "source": source,
             "staff_id": staff_id}
    EVENT_ADAPTER.validate_python(event)  # never produce what ingest would dead-letter
    return event


def erasure_event(customer_id: str, requested_by: str, now: datetime) -> dict[str, Any]:
    """A validated ``erasure`` event."""
    event = {"type": "erasure", "event_id": _event_id("erasure"), "occurred_at": now.isoformat(),
             "customer_id": customer_id, "requested_by": requested_by}
    EVENT_ADAPTER.validate_python(event)
    return event


class EventProducer:
    """An aiokafka producer owned by the admin API: started on first use, stopped with the app.

    Separate from Faust's producer so the admin calls can wait for the broker's
    acknowledgement (``acks=all``) before answering 202, without touching the
    stages' transactions or buffering.
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
                await producer.start()
                self._producer = producer
            return self._producer

    async def send(self, event: dict[str, Any]) -> None:
        """Produce one event and wait until the broker has it."""
        producer = await self._started()
        key = f"c:{event['customer_id']}".encode()
        await producer.send_and_wait(self.topic, orjson.dumps(event), key=key)

    async def stop(self) -> None:
        async with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
