"""The Redis commands planned for each kind of change (the contract's write side)."""

from __future__ import annotations

from pipeline.processor import Result
from pipeline.profile import new_profile
from pipeline.store.keys import KeySpace, split_subject
from pipeline.store.writer import plan

import pytest

KEYS = KeySpace("cg")


def test_keys_carry_cluster_hash_tags() -> None:
    assert KEYS.subject("c:42") == "cg:s:{c:42}"
    assert KEYS.member_keys("12") == ("cg:g:{12}:c", "cg:g:{12}:v")
    assert split_subject("v:abc") == (True, "abc")
    with pytest.raises(ValueError):
        split_subject("x:1")


def test_join_and_leave_write_both_sides_and_mirrors() -> None:
    profile = new_profile("c:42")
    profile.groups = {"12"}
    result = Result(profile=profile, store=True, joined=frozenset({"12"}), left=frozenset({"20"}),
                    mirrors=("v:a",))
    assert plan(KEYS, "c:42", result) == [
        ("SADD", "cg:s:{c:42}", "12"), ("SREM", "cg:s:{c:42}", "20"),
        ("SADD", "cg:s:{v:a}", "12"), ("SREM", "cg:s:{v:a}", "20"),
        ("SADD", "cg:g:{12}:c", "42"), ("SREM", "cg:g:{20}:c", "42"),
    ]


def test_guests_are_counted_apart() -> None:
    result = Result(profile=new_profile("v:a"), joined=frozenset({"12"}))
    assert ("SADD", "cg:g:{12}:v", "a") in plan(KEYS, "v:a", result)


def test_dropping_a_subject_removes_it_everywhere() -> None:
    result = Result(profile=None, delete=True, dropped=frozenset({"12", "20"}), mirrors=("v:a",))
    assert plan(KEYS, "c:42", result) == [
        ("SREM", "cg:g:{12}:c", "42"), ("SREM", "cg:g:{20}:c", "42"),
        ("DEL", "cg:s:{c:42}"), ("DEL", "cg:s:{v:a}", "cg:l:{v:a}"),
    ]


def test_mirror_reset_rewrites_the_cookie_whole() -> None:
    profile = new_profile("c:42")
    profile.groups = {"1", "12"}
    result = Result(profile=profile, store=True, reset_mirrors=("v:a",))
    assert plan(KEYS, "c:42", result) == [
        ("DEL", "cg:s:{v:a}"), ("SET", "cg:l:{v:a}", "c:42"), ("SADD", "cg:s:{v:a}", "1", "12")]


def test_key_parsing_inverts_the_layout() -> None:
    assert KEYS.parse_subject_key(KEYS.subject("v:a:b")) == "v:a:b"
    assert KEYS.parse_members_key(KEYS.members("12", True)) == ("12", True)
    assert KEYS.link("v:a") == "cg:l:{v:a}"
