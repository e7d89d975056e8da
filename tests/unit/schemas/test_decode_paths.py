"""pydantic reading the JSON (``parsed_event``) decides as orjson then ``validate_event`` does.

The worker reads a record holding one event with ``parsed_event`` and takes
the long way (``orjson.loads`` then ``validate_event``) only when it fails, to
word the reason. So the two must accept the same events, as equal models, and
the long way alone gives the reasons.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.decode import EventRejected, _parse, decode_event, parsed_event, validate_event
from tests.unit.schemas.test_events import BASE, VALID

# JSON values a storefront might send where another was expected: orjson writes every one.
SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, 100_000, 100_001, 2**31, 2**63 - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["", " ", " x ", "\t", "\x00", "\x7f", "a\u200bb", "{b}", "GBP", "gbp", "1.5", "-1",
                     "2025-11-02T10:00:00+00:00", "2025-11-02T10:00:00", "2025-11-02", "  2025-11-02T10:00:00Z ",
                     "9999-12-31T23:59:59+00:00", "view", "add", "true", "1e3", "0.12345", "1" * 20]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["product_id", "brand", "price", "x"]), inner, max_size=3), max_leaves=6)
FIELDS = ["type", "event_id", "occurred_at", "visitor_id", "customer_id", "schema_version", "product", "query",
          "brand", "category", "action", "quantity", "order_id", "lines", "total", "currency", "email",
          "first_name", "date_joined", "public_groups", "group_id", "granted", "source", "staff_id", "method",
          "requested_by", "extra"]


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event of any type, then a few fields set to other JSON values or removed."""
    body, _ = draw(st.sampled_from(VALID))
    event = {**BASE, **orjson.loads(orjson.dumps(body))}
    for _ in range(draw(st.integers(0, 3))):
        where = event
        if "product" in event and isinstance(event["product"], dict) and draw(st.booleans()):
            where = event["product"]
            name = draw(st.sampled_from(["product_id", "brand", "category", "price", "x"]))
        else:
            name = draw(st.sampled_from(FIELDS))
        if draw(st.integers(0, 4)) == 0:
            where.pop(name, None)
        else:
            where[name] = draw(VALUES)
    return event


def _outcome(decode: Any, raw: bytes) -> object:
    try:
        return decode(raw)
    except EventRejected as exc:
        return exc


def _long_way(raw: bytes) -> object:
    return validate_event(_parse(raw))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies())
def test_both_ways_decide_alike(body: dict[str, Any]) -> None:
    raw = orjson.dumps(body)
    expected = _outcome(_long_way, raw)
    fast = parsed_event(raw)
    if isinstance(expected, EventRejected):
        assert fast is None, f"pydantic accepted what validate_event refuses: {expected}"
    else:
        assert fast == expected
    assert _outcome(decode_event, raw) == expected  # the same event, or the same reason


@pytest.mark.parametrize("raw", [
    b'{"type":"view","event_id":"e\\ud800","occurred_at":"2025-11-02T10:00:00+00:00","visitor_id":"v",'
    b'"product":{"product_id":"p"}}',  # a lone surrogate
    b'{"type":"view","event_id":"e","occurred_at":"2025-11-02T10:00:00+00:00","visitor_id":"v",'
    b'"product":{"product_id":"p","price":NaN}}',
    b'{"type":"view","event_id":"e","occurred_at":"2025-11-02T10:00:00+00:00","visitor_id":"v",'
    b'"product":{"product_id":"p","price":1e400}}',
    b'{"type":"view","event_id":"e","occurred_at":"2025-11-02T10:00:00+00:00","visitor_id":"v",'
    b'"product":{"product_id":"p"}} trailing',
    b'\xef\xbb\xbf{"type":"view","event_id":"e","occurred_at":"2025-11-02T10:00:00+00:00","visitor_id":"v",'
    b'"product":{"product_id":"p"}}',  # a byte order mark
    b'{"type":"view","event_id":"e\xff","occurred_at":"2025-11-02T10:00:00+00:00","visitor_id":"v",'
    b'"product":{"product_id":"p"}}',  # not UTF-8
    b'{"type":"view","event_id":"e","occurred_at":"2025-11-02T10:00:00+00:00","visitor_id":"v",'
    b'"schema_version":99999999999999999999,"product":{"product_id":"p"}}',  # beyond 64 bits
    b'{"type":"view","event_id":"e","occurred_at":"2025-11-02T10:00:00+00:00","visitor_id":"v",'
    b'"schema_version":9223372036854775808,"product":{"product_id":"p"}}',  # beyond an int64
    b"[]", b"1", b"null", b'"view"', b"",
])
def test_what_orjson_refuses_pydantic_refuses_too_and_the_reason_is_the_long_ways(raw: bytes) -> None:
    assert parsed_event(raw) is None
    with pytest.raises(EventRejected) as long_way:
        _long_way(raw)
    with pytest.raises(EventRejected) as decoded:
        decode_event(raw)
    assert decoded.value == long_way.value


def test_a_type_that_is_no_string_is_an_invalid_event() -> None:
    raw = orjson.dumps({**BASE, "type": ["view"], "product": {"product_id": "p"}})
    with pytest.raises(EventRejected) as rejected:
        decode_event(raw)
    assert rejected.value.reason == "invalid event"
