"""The event contract: every event type decodes, bad input gets precise errors."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest

from schemas import EventRejected, decode_event
from schemas.events import (
    BasketEvent,
    ConsentEvent,
    CustomerUpdatedEvent,
    ErasureEvent,
    IdentifyEvent,
    OrderEvent,
    SearchEvent,
    SignupEvent,
    StaffMembershipEvent,
    ViewEvent,
    WishlistEvent,
)

BASE = {"event_id": "e-1", "occurred_at": "2025-11-02T10:00:00+00:00", "visitor_id": "v-1"}
PRODUCT = {"product_id": "p-1", "brand": "Sony", "category": "TV", "price": "499.99"}

VALID = [
    ({"type": "view", "product": PRODUCT}, ViewEvent),
    ({"type": "search", "query": "sony tv", "brand": "Sony"}, SearchEvent),
    ({"type": "basket", "action": "add", "product": PRODUCT, "quantity": 2}, BasketEvent),
    ({"type": "basket", "action": "remove", "product": PRODUCT}, BasketEvent),
    ({"type": "wishlist", "action": "add", "product": PRODUCT}, WishlistEvent),
    ({"type": "order", "order_id": "o-1", "total": "999.98", "currency": "GBP",
      "lines": [{"product": PRODUCT, "quantity": 2, "unit_price": "499.99"}]}, OrderEvent),
    ({"type": "signup", "customer_id": "c-1", "email": "a@b.co", "first_name": "Ann",
      "public_groups": ["1", "3"]}, SignupEvent),
    ({"type": "identify", "customer_id": "c-1"}, IdentifyEvent),
    ({"type": "consent", "customer_id": "c-1", "group_id": "1", "granted": True,
      "source": "account"}, ConsentEvent),
    ({"type": "staff_membership", "customer_id": "c-1", "group_id": "7", "action": "add",
      "source": "pos", "staff_id": "till-3"}, StaffMembershipEvent),
    ({"type": "customer_updated", "customer_id": "c-1", "email": "new@b.co"}, CustomerUpdatedEvent),
    ({"type": "erasure", "customer_id": "c-1", "requested_by": "dpo"}, ErasureEvent),
]


@pytest.mark.parametrize(("body", "model"), VALID, ids=[m.__name__ for _, m in VALID])
def test_every_event_type_decodes_to_its_model(body: dict, model: type) -> None:
    event = decode_event(orjson.dumps({**BASE, **body}))
    assert type(event) is model
    assert event.event_id == "e-1"
    assert event.occurred_at.utcoffset() is not None


def test_money_is_exact_decimal() -> None:
    event = decode_event(orjson.dumps({**BASE, **VALID[5][0]}))
    assert isinstance(event, OrderEvent)
    assert event.total == Decimal("999.98")


def test_unknown_fields_and_newer_versions_are_accepted() -> None:
    body = {**BASE, "type": "view", "product": {**PRODUCT, "colour": "black"},
            "schema_version": 7, "campaign": {"utm": "x"}}
    event = decode_event(orjson.dumps(body))
    assert isinstance(event, ViewEvent)
    assert event.schema_version == 7
    assert not hasattr(event, "campaign")


def _reject(body: object) -> EventRejected:
    with pytest.raises(EventRejected) as caught:
        decode_event(orjson.dumps(body) if not isinstance(body, bytes) else body)
    return caught.value


def test_malformed_json_is_rejected_with_reason() -> None:
    rejected = _reject(b"{not json")
    assert rejected.reason == "malformed JSON"
    assert rejected.errors[0].kind == "json_invalid"


def test_non_object_is_rejected() -> None:
    assert _reject([1, 2]).reason == "not an event"


def test_unknown_type_is_named_in_the_errors_not_the_reason() -> None:
    rejected = _reject({**BASE, "type": "teleport"})
    assert rejected.reason == "invalid event"  # reasons are few and fixed: metrics count by them
    assert "teleport" in rejected.errors[0].message


def test_errors_locate_the_field_without_the_type_tag() -> None:
    rejected = _reject({**BASE, "type": "view", "product": {"brand": "Sony"}})
    assert rejected.reason == "invalid 'view' event"
    assert [e.location for e in rejected.errors] == ["product.product_id"]
    assert rejected.as_dict()["errors"][0]["kind"] == "missing"


def test_naive_timestamps_are_rejected() -> None:
    rejected = _reject({**BASE, "occurred_at": "2025-11-02T10:00:00", "type": "search",
                        "query": "x"})
    assert rejected.errors[0].location == "occurred_at"


def test_an_event_needs_a_subject() -> None:
    body = {"event_id": "e", "occurred_at": BASE["occurred_at"], "type": "search", "query": "x"}
    assert "visitor_id or customer_id" in str(_reject(body))


@pytest.mark.parametrize("kind", ["signup", "consent", "staff_membership", "erasure", "identify"])
def test_customer_events_require_a_customer_id(kind: str) -> None:
    rejected = _reject({**BASE, "type": kind})
    assert "customer_id" in {e.location for e in rejected.errors}


@pytest.mark.parametrize(("field", "value"), [
    ("event_id", ""), ("event_id", "has space"), ("visitor_id", "x" * 129),
])
def test_identifiers_are_checked(field: str, value: str) -> None:
    rejected = _reject({**BASE, field: value, "type": "search", "query": "x"})
    assert rejected.errors[0].location == field


def test_negative_money_and_bad_currency_are_rejected() -> None:
    body = {**BASE, **VALID[5][0], "total": "-1", "currency": "gbp"}
    assert {e.location for e in _reject(body).errors} == {"total", "currency"}


def test_staff_source_cannot_be_the_storefront() -> None:
    body = {**BASE, **VALID[9][0], "source": "registration"}
    assert _reject(body).errors[0].location == "source"
