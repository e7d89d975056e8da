"""One row per member, from the details hash; consent and staff records for public and private groups."""

from __future__ import annotations

import orjson

from pipeline.export.rows import BASE_COLUMNS, spec_for

BASE = ["ann@example.com", "Ann", "Lee", "2025-11-01"]


def record(**fields: object) -> str:
    return orjson.dumps(fields).decode()


def test_columns_and_fields_by_group_type() -> None:
    public, private, dynamic = spec_for("1", "public"), spec_for("7", "private"), spec_for("12", "dynamic")
    assert public.columns == (*BASE_COLUMNS, "opted_in_at", "opt_in_source", "recorded_by")
    assert private.columns == (*BASE_COLUMNS, "added_at", "added_source", "added_by")
    assert dynamic.columns == BASE_COLUMNS == ("customer_id", "email", "first_name", "last_name", "date_joined")
    assert public.fields[-1] == "consent:1" and private.fields[-1] == "staff:7"
    assert dynamic.fields == ("email", "first_name", "last_name", "date_joined")


def test_public_row_carries_the_opt_in_record() -> None:
    consent = record(granted=True, at="2025-11-02T10:00:00+00:00", source="pos", staff_id="till-4")
    assert spec_for("1", "public").row("C1", [*BASE, consent]) == [
        "C1", *BASE, "2025-11-02T10:00:00+00:00", "pos", "till-4"]


def test_private_row_carries_who_added_the_customer() -> None:
    staff = record(member=True, at="2025-11-03T09:00:00+00:00", source="cms", staff_id="s9")
    assert spec_for("7", "private").row("C1", [*BASE, staff]) == [
        "C1", *BASE, "2025-11-03T09:00:00+00:00", "cms", "s9"]


def test_a_member_whose_record_no_longer_says_in_is_left_out() -> None:
    public, private = spec_for("1", "public"), spec_for("7", "private")
    revoked = record(granted=False, at="2025-11-02T10:00:00+00:00", source="account", staff_id=None)
    removed = record(member=False, at="2025-11-02T10:00:00+00:00", source="cms", staff_id="s9")
    assert public.row("C1", [*BASE, revoked]) is None  # opted out while the export ran
    assert private.row("C1", [*BASE, removed]) is None
    assert public.row("C1", [*BASE, None]) is None  # no record (erased meanwhile)
    assert public.row("C1", [*BASE, "not json"]) is None


def test_dynamic_member_without_details_still_gets_a_row() -> None:
    assert spec_for("12", "dynamic").row("C9", [None, None, None, None]) == ["C9", None, None, None, None]
