"""The Redis commands planned for each kind of change (the contract's write side)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.membership import MembershipChange
from pipeline.store.keys import KeySpace, split_subject
from pipeline.store.writer import coalesce, plan

KEYS = KeySpace("cg")


def test_keys_carry_cluster_hash_tags() -> None:
    assert KEYS.subject("c:42") == "cg:s:{c:42}"
    assert KEYS.member_keys("12") == ("cg:g:{12}:c", "cg:g:{12}:v")
    assert split_subject("v:abc") == (True, "abc")
    with pytest.raises(ValueError):
        split_subject("x:1")


def test_join_and_leave_write_both_sides_and_mirrors() -> None:
    result = MembershipChange(joined=frozenset({"12"}), left=frozenset({"20"}), mirrors=("v:a",), groups=("12",))
    assert plan(KEYS, "c:42", result) == [
        ("SADD", "cg:s:{c:42}", "12"), ("SREM", "cg:s:{c:42}", "20"),
        ("SADD", "cg:s:{v:a}", "12"), ("SREM", "cg:s:{v:a}", "20"),
        ("SADD", "cg:g:{12}:c", "42"), ("SREM", "cg:g:{20}:c", "42"),
    ]


def test_guests_are_counted_apart() -> None:
    result = MembershipChange(joined=frozenset({"12"}))
    assert ("SADD", "cg:g:{12}:v", "a") in plan(KEYS, "v:a", result)


def test_dropping_a_subject_removes_it_everywhere() -> None:
    result = MembershipChange(delete=True, dropped=frozenset({"12", "20"}), mirrors=("v:a",))
    assert plan(KEYS, "c:42", result) == [
        ("SREM", "cg:g:{12}:c", "42"), ("SREM", "cg:g:{20}:c", "42"),
        ("DEL", "cg:s:{c:42}"), ("DEL", "cg:s:{v:a}", "cg:l:{v:a}"),
    ]


def test_mirror_reset_rewrites_the_cookie_whole() -> None:
    result = MembershipChange(reset_mirrors=("v:a",), groups=("1", "12"))
    assert plan(KEYS, "c:42", result) == [
        ("DEL", "cg:s:{v:a}"), ("SET", "cg:l:{v:a}", "c:42"), ("SADD", "cg:s:{v:a}", "1", "12")]


def test_key_parsing_inverts_the_layout() -> None:
    assert KEYS.parse_subject_key(KEYS.subject("v:a:b")) == "v:a:b"
    assert KEYS.parse_members_key(KEYS.members("12", True)) == ("12", True)
    assert KEYS.link("v:a") == "cg:l:{v:a}"


# --- coalescing ------------------------------------------------------------------

# Each key holds one kind of value, as in the real keyspace: sets, link strings, detail hashes.
_keys = st.sampled_from(["g:1:c", "g:1:v", "s:c:1", "s:v:a"])
_links, _hashes = st.sampled_from(["l:v:a", "l:v:b"]), st.sampled_from(["d:c:1", "d:c:2"])
_members = st.lists(st.sampled_from(["1", "2", "3", "a", "b"]), min_size=1, max_size=3)
_commands = st.one_of(
    st.builds(lambda k, m: ("SADD", k, *m), _keys, _members),
    st.builds(lambda k, m: ("SREM", k, *m), _keys, _members),
    st.builds(lambda ks: ("DEL", *ks), st.lists(st.one_of(_keys, _links, _hashes), min_size=1, max_size=2)),
    st.builds(lambda k, v: ("SET", k, v), _links, st.sampled_from(["x", "y"])),
    st.builds(lambda k, v: ("HSET", k, "f", v), _hashes, st.sampled_from(["x", "y"])),
)


def _apply(commands: list[tuple[str, ...]]) -> dict[str, object]:
    """A model of what the commands leave in Redis."""
    db: dict[str, object] = {}
    for op, key, *rest in commands:
        if op == "SADD":
            db.setdefault(key, set()).update(rest)  # type: ignore[union-attr]
        elif op == "SREM":
            db.setdefault(key, set()).difference_update(rest)  # type: ignore[union-attr]
        elif op == "DEL":
            for k in (key, *rest):
                db.pop(k, None)
        elif op == "SET":
            db[key] = rest[0]
        elif op == "HSET":
            db[key] = dict(zip(rest[::2], rest[1::2], strict=False))
    return {k: v for k, v in db.items() if v != set()}


@given(st.lists(_commands, max_size=40))
def test_coalescing_leaves_redis_exactly_as_the_commands_one_by_one(commands: list[tuple[str, ...]]) -> None:
    merged = coalesce(commands)
    assert _apply(merged) == _apply(commands)
    assert len(merged) <= len(commands)


def test_a_thousand_joins_of_one_group_become_one_sadd() -> None:
    commands = [c for i in range(1000) for c in (("SADD", f"s:c:{i}", "900"), ("SADD", "g:900:c", str(i)))]
    merged = coalesce(commands)
    assert len(merged) == 1001
    assert merged[1] == ("SADD", "g:900:c", *map(str, range(1000)))


def test_a_remove_between_two_adds_keeps_its_place() -> None:
    commands = [("SADD", "k", "a"), ("SREM", "k", "a"), ("SADD", "k", "a", "b")]
    assert coalesce(commands) == commands
