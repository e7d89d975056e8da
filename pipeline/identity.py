"""Who an event is about: the customer, or the cookie visitor, or the customer a cookie belongs to.

Runs where events are partitioned by visitor ID, beside a table mapping each
cookie to the customer it logged in as. Pure: the Faust agent supplies the
table lookup and applies the decision.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.messages import Handover
from schemas.events import Event


@dataclass(frozen=True, slots=True)
class Routing:
    subject: str  # the profile the event folds into
    link: str | None = None  # a customer ID to record for this cookie
    handover: Handover | None = None  # to send to the cookie's own subject


def route(event: Event, visitor_id: str, linked_customer: str | None) -> Routing:
    """Logged-in events belong to the customer; the first one from a cookie links it.

    Later anonymous events from a linked cookie count for the customer, so a
    shopper who logs out keeps building the same profile.
    """
    if event.customer_id:
        subject = f"c:{event.customer_id}"
        if linked_customer == event.customer_id:
            return Routing(subject)
        return Routing(subject, link=event.customer_id,
                       handover=Handover(customer=subject, merge_id=event.event_id))
    if linked_customer:
        return Routing(f"c:{linked_customer}")
    return Routing(f"v:{visitor_id}")
