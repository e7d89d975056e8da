"""Admin commands become contract-valid events (pipeline.admin.commands)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from pipeline.admin.commands import erasure_event, staff_membership_event
from schemas.events import EVENT_ADAPTER, ErasureEvent, StaffMembershipEvent

NOW = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)


def test_a_staff_membership_event_is_valid_and_fresh() -> None:
    first = staff_membership_event("7", "c1", "till-3", "pos", "add", NOW)
    second = staff_membership_event("7", "c1", "till-3", "pos", "remove", NOW)
    parsed = EVENT_ADAPTER.validate_python(first)
    assert isinstance(parsed, StaffMembershipEvent)
    assert (parsed.group_id, parsed.customer_id, parsed.action, parsed.source, parsed.staff_id) == (
        "7", "c1", "add", "pos", "till-3")
    assert parsed.occurred_at == NOW
    # a later call sorts after an earlier one: the profile breaks equal timestamps by event ID
    assert first["event_id"] != second["event_id"] and second["event_id"] > first["event_id"]


def test_an_erasure_event_is_valid() -> None:
    parsed = EVENT_ADAPTER.validate_python(erasure_event("c1", "dpo-1", NOW))
    assert isinstance(parsed, ErasureEvent) and parsed.requested_by == "dpo-1"


def test_an_invalid_command_is_never_produced() -> None:
    with pytest.raises(ValidationError):
        staff_membership_event("7", "c1", "s", "web", "add", NOW)
