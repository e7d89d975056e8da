"""One ID policy (schemas.identifiers), enforced by the contract, the admin API and the exporter alike."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from schemas import EventRejected, decode_event
from schemas.events import EARLIEST_TIME, LATEST_TIME
from schemas.identifiers import ID_PATTERN, MAX_ID_LENGTH, Identifier, all_valid_ids, id_problem, is_valid_id

BASE = {"event_id": "e-1", "occurred_at": "2025-11-02T10:00:00+00:00"}
FORBIDDEN = ["\x00", "\x1c", "\x1d", "\x1e", "\x1f", "\x7f", "\x85", "\x9f", "{", "}", " ", "\t", "\n",
             "\u00a0", "\u200b", "\u200e", "\u2028", "\u202e", "\u2060", "\ufeff"]
ADAPTER: TypeAdapter[str] = TypeAdapter(Identifier)


@pytest.mark.parametrize("char", FORBIDDEN, ids=[f"U+{ord(c):04X}" for c in FORBIDDEN])
def test_forbidden_characters_are_refused_everywhere(char: str) -> None:
    value = f"C{char}1"
    assert id_problem(value) is not None and f"U+{ord(char):04X}" in id_problem(value)  # type: ignore[operator]
    assert not all_valid_ids(["ok", value])
    with pytest.raises(ValidationError):
        ADAPTER.validate_python(value)
    with pytest.raises(EventRejected) as caught:
        decode_event(orjson.dumps({**BASE, "type": "view", "visitor_id": value,
                                   "product": {"product_id": "p1"}}))
    assert [e.location for e in caught.value.errors] == ["visitor_id"]


@pytest.mark.parametrize("value", ["C00042", "ann@example.com", "山田", "a:b/c|d", "Łukasz-1",
                                   "550e8400-e29b-41d4-a716-446655440000", "x" * MAX_ID_LENGTH])
def test_ordinary_ids_pass(value: str) -> None:
    assert is_valid_id(value) and all_valid_ids([value])
    assert ADAPTER.validate_python(value) == value


def test_length_is_bounded() -> None:
    assert id_problem("") == "empty" and not all_valid_ids([""])
    assert id_problem("x" * (MAX_ID_LENGTH + 1)) is not None
    with pytest.raises(ValidationError):
        ADAPTER.validate_python("x" * (MAX_ID_LENGTH + 1))


@given(st.text(min_size=1, max_size=20))
def test_the_python_check_agrees_with_the_contract(value: str) -> None:
    """pydantic (Rust regex), Python's re and id_problem must draw the same line."""
    try:
        ADAPTER.validate_python(value)
        contract = True
    except ValidationError:
        contract = False
    assert is_valid_id(value) == contract == bool(re.fullmatch(ID_PATTERN, value))


@pytest.mark.parametrize("field", ["customer_id", "event_id"])
def test_customer_and_event_ids_follow_the_policy(field: str) -> None:
    body = {**BASE, "type": "erasure", "customer_id": "c1", "requested_by": "dpo", field: "c{1}"}
    with pytest.raises(EventRejected) as caught:
        decode_event(orjson.dumps(body))
    assert caught.value.errors[0].location == field


def test_product_ids_follow_the_policy() -> None:
    with pytest.raises(EventRejected) as caught:
        decode_event(orjson.dumps({**BASE, "type": "view", "visitor_id": "v1",
                                   "product": {"product_id": "p\x001"}}))
    assert caught.value.errors[0].location == "product.product_id"


@pytest.mark.parametrize(("field", "value"), [("first_name", "Ann\x00"), ("last_name", "Lee\x1f"),
                                              ("email", "a\x00@b.co")])
def test_names_and_emails_carry_no_control_characters(field: str, value: str) -> None:
    body = {**BASE, "type": "signup", "customer_id": "c1", "email": "a@b.co", field: value}
    with pytest.raises(EventRejected) as caught:
        decode_event(orjson.dumps(body))
    assert caught.value.errors[0].location == field


@pytest.mark.parametrize("occurred_at", [1732000000, 1732000000.5, 0])
def test_a_number_is_not_a_time(occurred_at: object) -> None:
    with pytest.raises(EventRejected) as caught:
        decode_event(orjson.dumps({**BASE, "type": "identify", "customer_id": "c1", "visitor_id": "v1",
                                   "occurred_at": occurred_at}))
    assert caught.value.errors[0].location == "occurred_at"
    assert "ISO 8601" in caught.value.errors[0].message


@pytest.mark.parametrize("occurred_at", ["0001-01-01T00:00:00+00:00", "1969-12-31T23:59:59+00:00",
                                         "3000-01-01T00:00:00+00:00", "9999-12-31T23:59:59-05:00"])
def test_times_outside_the_range_are_refused_at_the_contract(occurred_at: str) -> None:
    with pytest.raises(EventRejected) as caught:
        decode_event(orjson.dumps({**BASE, "type": "identify", "customer_id": "c1", "visitor_id": "v1",
                                   "occurred_at": occurred_at}))
    assert caught.value.errors[0].location == "occurred_at"


@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12)),
                                               timezone(timedelta(hours=5, minutes=30))])))
def test_the_time_range_check_agrees_with_the_plain_comparison(instant: datetime) -> None:
    """Its fast path (a year well inside) never accepts what the exact comparison refuses."""
    inside = EARLIEST_TIME <= instant < LATEST_TIME
    try:
        decode_event(orjson.dumps({**BASE, "type": "identify", "customer_id": "c1", "visitor_id": "v1",
                                   "occurred_at": instant.isoformat()}))
        accepted = True
    except EventRejected:
        accepted = False
    assert accepted == inside


def test_date_joined_is_bounded_too() -> None:
    with pytest.raises(EventRejected) as caught:
        decode_event(orjson.dumps({**BASE, "type": "signup", "customer_id": "c1", "email": "a@b.co",
                                   "date_joined": "0001-01-01"}))
    assert caught.value.errors[0].location == "date_joined"
