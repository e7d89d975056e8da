"""Identity: whose profile an event belongs to, and when a cookie links to a customer."""

from __future__ import annotations

from pipeline.identity import Routing, route
from pipeline.messages import Handover

from .rules.conftest import event, view


def test_anonymous_event_of_an_unknown_cookie_is_the_visitors() -> None:
    assert route(view(visitor_id="v1"), "v1", None) == Routing("v:v1")


def test_first_logged_in_event_links_the_cookie_and_hands_over() -> None:
    login = event("identify", customer_id="c1", visitor_id="v1")
    assert route(login, "v1", None) == Routing("c:c1", link="c1", handover=Handover("c:c1", login.event_id))


def test_later_anonymous_events_from_a_linked_cookie_count_for_the_customer() -> None:
    assert route(view(visitor_id="v1"), "v1", "c1") == Routing("c:c1")


def test_a_linked_customer_is_not_handed_over_twice() -> None:
    assert route(view(visitor_id="v1", customer_id="c1"), "v1", "c1") == Routing("c:c1")


def test_a_shared_device_relinks_to_the_new_customer() -> None:
    routing = route(view(visitor_id="v1", customer_id="c2"), "v1", "c1")
    assert routing.subject == "c:c2" and routing.link == "c2" and routing.handover is not None
