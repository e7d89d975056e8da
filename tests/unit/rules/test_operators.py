"""Every field with every operator that fits it, and missing data."""

from __future__ import annotations

import pytest

from pipeline.rules import matches

from .conftest import at, event, group, order, profile_of, signup, today, view

CUSTOMER = (
    signup("05/11/2025", email="Ann@Example.COM", public_groups=["1"]),
    order("300", at("10/11/2025")),
    order("900", at("15/11/2025")),
    view(at("19/11/2025"), customer_id="c1"),
)
VISITOR = (view(at("19/11/2025")),)

# field, operator, value, customer (joined 05/11, 2 orders £1200 total, avg £600,
# first 10/11, last 15/11, seen 19/11, consent Newsletter), anonymous visitor
CASES = [
    ("datejoined", "equals", "05/11/2025", True, False),
    ("datejoined", "not equals", "05/11/2025", False, False),
    ("datejoined", "greater than", "04/11/2025", True, False),
    ("datejoined", "less than", "05/11/2025", False, False),
    ("datejoined", "greater than or equal", "05/11/2025", True, False),
    ("datejoined", "less than or equal", "05/11/2025", True, False),
    ("datejoined", "between", ["01/11/2025", "05/11/2025"], True, False),
    ("datejoined", "is set", None, True, False),
    ("datejoined", "is not set", None, False, True),
    ("datejoined", "in the last", "30 days", True, False),
    ("datejoined", "not in the last", "7 days", True, False),
    ("datejoined", "after", "30 days ago", True, False),
    ("registered", "equals", "yes", True, False),
    ("registered", "not equals", "yes", False, True),
    ("email", "equals", "ann@example.com", True, False),
    ("email", "contains", "example", True, False),
    ("email", "in list", ["x@y.z", "ann@example.com"], True, False),
    ("email", "is not set", None, False, True),
    ("emaildomain", "equals", "example.com", True, False),
    ("consent", "contains", "Newsletter", True, False),
    ("consent", "contains", "1", True, False),
    ("consent", "in list", ["Lego", "Newsletter"], True, False),
    ("consent", "is set", None, True, False),
    ("consent", "is not set", None, False, True),
    ("orders", "equals", 2, True, False),
    ("orders", "equals", 0, False, True),
    ("orders", "not equals", 0, True, False),
    ("orders", "greater than", 1, True, False),
    ("orders", "less than", 3, True, True),
    ("orders", "between", [1, 2], True, False),
    ("orders", "in list", [0, 5], False, True),
    ("totalspend", "equals", "£1200", True, False),
    ("totalspend", "greater than or equal", 1200, True, False),
    ("totalspend", "is not set", None, False, True),
    ("averagespend", "greater than", "£500", True, False),
    ("averagespend", "less than", "£600", False, False),
    ("averagespend", "is set", None, True, False),
    ("firstorder", "equals", "10/11/2025", True, False),
    ("lastorder", "in the last", "7 days", True, False),
    ("lastorder", "on or before", "15/11/2025", True, False),
    ("lastseen", "equals", "yesterday", True, True),
    ("lastseen", "in the last", "1 day", False, False),
]


@pytest.mark.parametrize(("field", "op", "value", "customer", "visitor"), CASES,
                         ids=[f"{f} {o} {v}" for f, o, v, *_ in CASES])
def test_field_operator(field: str, op: str, value: object, customer: bool, visitor: bool) -> None:
    g = group([field, op, value] if value is not None else [field, op])
    assert matches(g, profile_of(*CUSTOMER), today()) is customer
    assert matches(g, profile_of(*VISITOR), today()) is visitor


def test_missing_data_is_false_even_for_not_equals_but_not_blocks_negate() -> None:
    visitor = profile_of(*VISITOR)
    assert not matches(group(["averagespend", "not equals", 100]), visitor, today())
    assert matches(group({"not": ["averagespend", "equals", 100]}), visitor, today())


BEHAVIOUR = [
    # field, action, value, extra, expected for the events below
    ("brand", "viewed", "Sony", {}, True),
    ("brand", "viewed", ["Panasonic", "sony"], {}, True),
    ("brand", "viewed", "Sony", {"at_least": 2}, True),
    ("brand", "viewed", "Sony", {"at_least": 3}, False),
    ("brand", "viewed", "Sony", {"within": "3 days"}, True),
    ("brand", "viewed", "Sony", {"within": "3 days", "at_least": 2}, False),
    ("brand", "viewed", "Sony", {"between": ["01/11/2025", "05/11/2025"]}, True),
    ("brand", "viewed", "Sony", {"between": ["06/11/2025", "17/11/2025"]}, False),
    ("category", "basket", "Chairs", {}, True),
    ("category", "any", "chairs", {}, True),
    ("product", "wishlist", "P-42", {}, True),
    ("product", "ordered", "p-42", {}, True),
    ("product", "viewed", "*", {"at_least": 2}, True),
    ("brand", "ordered", "Stressless", {}, True),
    ("brand", "ordered", "Sony", {}, False),
    ("search", "contains", "arm chair", {}, True),
    ("search", "equals", "leather arm chair", {}, True),
    ("search", "equals", "arm chair", {}, False),
    ("brand", "searched", "Stressless", {}, False),
]
EVENTS = (
    view(at("02/11/2025"), brand="Sony", pid="tv1"),
    view(at("18/11/2025"), brand="Sony", pid="tv2"),
    event("basket", at("18/11/2025"), action="add", product={"product_id": "c9", "category": "Chairs"}),
    event("wishlist", at("18/11/2025"), action="add", product={"product_id": "p-42"}),
    order("10", at("18/11/2025"), customer=None, brand="Stressless", category="Chairs", pid="P-42"),
    event("search", at("18/11/2025"), query="  Leather   ARM chair"),
)


@pytest.mark.parametrize(("field", "action", "value", "extra", "expected"), BEHAVIOUR,
                         ids=[f"{f} {a} {v} {e}" for f, a, v, e, _ in BEHAVIOUR])
def test_behaviour(field: str, action: str, value: object, extra: dict, expected: bool) -> None:
    g = group({"field": field, "op": action, "value": value, **extra})
    assert matches(g, profile_of(*EVENTS), today()) is expected
