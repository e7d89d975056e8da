"""The demo's traffic fills the public and private groups too (pipeline.traffic, TrafficShape.contact)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import orjson

from pipeline.demo import DEMO_SHAPE
from pipeline.traffic import TrafficShape, generate
from schemas import decode_event

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
SHAPE = TrafficShape(customers=200, visitors=300, catalogue=80, days=450, seed=3)


def test_the_extras_are_off_by_default_so_the_benchs_traffic_is_unchanged() -> None:
    kinds = Counter(e["type"] for e in generate(SHAPE, now=NOW))
    assert kinds["consent"] == kinds["staff_membership"] == 0
    assert DEMO_SHAPE.contact is True


def test_with_them_every_public_and_private_group_gets_customers_and_the_rest_is_as_before() -> None:
    extra = [decode_event(orjson.dumps(e)) for e in generate(DEMO_SHAPE, now=NOW)]
    ticked = Counter(g for e in extra if e.type == "signup" for g in e.public_groups)
    assert {"1", "2", "3"} <= set(ticked)
    consents = [e for e in extra if e.type == "consent"]
    assert {e.source for e in consents} >= {"account"} and any(not e.granted for e in consents)
    staff = [e for e in extra if e.type == "staff_membership"]
    assert {e.group_id for e in staff} == {"7", "8"} and {e.source for e in staff} <= {"pos", "cms"}
    # the storefront's behaviour is the same events, only the contact ones are added
    plain = list(generate(SHAPE, now=NOW))
    with_extras = list(generate(TrafficShape(**{**SHAPE.__dict__, "contact": True}), now=NOW))
    behaviour = ("view", "search", "basket", "wishlist", "order")
    assert [(e["type"], e["occurred_at"]) for e in with_extras if e["type"] in behaviour] == \
        [(e["type"], e["occurred_at"]) for e in plain if e["type"] in behaviour]
