"""What one subject's processing asks of another: the messages between the profile stages.

Pure values; :mod:`pipeline.stream.envelope` puts them on Kafka.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Handover:
    """Tell a visitor's profile to move into a customer's (sent to the visitor's subject)."""

    customer: str  # "c:<id>"
    merge_id: str


@dataclass(frozen=True, slots=True)
class MergeIn:
    """A visitor's profile arriving at the customer's subject."""

    visitor: str  # "v:<id>"
    merge_id: str
    profile: bytes | None  # encoded profile, None when the visitor had none


@dataclass(frozen=True, slots=True)
class Forget:
    """GDPR: drop the link from a cookie to an erased customer (sent to the identity stage)."""

    visitor_id: str
    customer_id: str


Outgoing = MergeIn | Forget
