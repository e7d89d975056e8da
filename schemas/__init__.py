"""The contract between the storefront, the shop's staff tools and this pipeline."""

from schemas.decode import EventRejected, FieldError, decode_event
from schemas.events import EVENT_ADAPTER, SCHEMA_VERSION, Event
from schemas.groups import GroupDefinition, RulesFile

__all__ = [
    "EVENT_ADAPTER",
    "SCHEMA_VERSION",
    "Event",
    "EventRejected",
    "FieldError",
    "GroupDefinition",
    "RulesFile",
    "decode_event",
]
