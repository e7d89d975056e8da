"""Topics of bytes in, bytes out, without Faust's serializer registry per message.

Every topic of the worker carries bytes that the stages decode themselves
(``key_serializer="raw", value_serializer="raw"``). Faust still sends each
message's key and value through its serializer registry
(``Schema.compile`` → ``Registry.loads_key``/``loads_value`` → the ``raw``
codec's ``want_bytes``, faust/serializers/schemas.py and registry.py): four
calls, two codec lookups and a settings read per message to hand on the bytes
it was given. :class:`RawSchema` is a ``faust.Schema`` (Faust's own extension
point for decoding, ``app.topic(..., schema=...)``) whose decoder makes the event
from the message's key and value as they are, which is what the ``raw`` codec
returns for bytes and for ``None``.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.types import AppT, Message


class RawSchema(faust.Schema):
    """Keys and values as the broker gave them: ``bytes`` (or ``None``), nothing decoded."""

    def __init__(self) -> None:
        super().__init__(key_serializer="raw", value_serializer="raw")

    def compile(self, app: AppT, **_: Any) -> Any:
        """The decoder Faust's conductor calls per message: the event, made at once."""
        create_event = app.create_event

        async def decode(message: Message, *, propagate: bool = False) -> Any:
            return create_event(message.key, message.value, message.headers, message)

        return decode
