"""Customer details for exports: written only when they change."""

from __future__ import annotations

import orjson

from pipeline.profile import fold, new_profile
from pipeline.store.details import details_commands, details_of
from pipeline.store.keys import KeySpace

from ..rules.conftest import POLICY, event, signup

KEYS = KeySpace("cg")


def test_details_of_a_customer_include_the_opt_in_record() -> None:
    profile = new_profile("c:c1")
    fold(profile, signup("05/11/2025", customer="c1", first_name="Ann", public_groups=["1"]), POLICY)
    fold(profile, event("staff_membership", customer_id="c1", group_id="7", action="add", source="pos",
                        staff_id="till-3"), POLICY)
    fields = details_of(profile)
    assert fields["email"] == "c1@example.com" and fields["first_name"] == "Ann"
    assert fields["date_joined"] == "2025-11-05"
    assert orjson.loads(fields["consent:1"])["source"] == "registration"
    assert orjson.loads(fields["staff:7"]) | {"at": None} == {
        "member": True, "at": None, "source": "pos", "staff_id": "till-3"}


def test_visitors_have_no_details() -> None:
    assert details_of(new_profile("v:x")) == {} and details_of(None) == {}
    assert details_commands(KEYS, "v:x", {}, {"email": "a"}, False) == []


def test_only_changes_are_written() -> None:
    assert details_commands(KEYS, "c:1", {"email": "a"}, {"email": "a"}, False) == []
    assert details_commands(KEYS, "c:1", {"email": "a", "x": "1"}, {"email": "b"}, False) == [
        ("HSET", "cg:d:{c:1}", "email", "b"), ("HDEL", "cg:d:{c:1}", "x")]
    assert details_commands(KEYS, "c:1", {"email": "a"}, {}, True) == [("DEL", "cg:d:{c:1}")]
