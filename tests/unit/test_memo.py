"""The bounded memo forgets its oldest entries one at a time and answers like a dict for the rest."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.memo import Memo


def test_past_its_limit_each_new_entry_drops_the_oldest_alone() -> None:
    memo: Memo[str, int] = Memo(3)
    assert [memo.put(k, n) for n, k in enumerate("abc")] == [0, 1, 2]
    memo.put("d", 3)
    assert list(memo.items()) == [("b", 1), ("c", 2), ("d", 3)]  # not emptied: one entry went
    assert memo.get("a") is None and memo.get("d") == 3


def test_putting_a_key_it_holds_replaces_the_value_and_drops_nothing() -> None:
    memo: Memo[str, int] = Memo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    memo.put("a", 3)
    assert dict(memo) == {"a": 3, "b": 2}


def test_a_memo_holds_at_least_one_entry() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Memo(0)


@given(st.integers(1, 8), st.lists(st.tuples(st.integers(0, 20), st.integers())))
def test_it_holds_the_latest_distinct_keys_up_to_its_limit(limit: int, puts: list[tuple[int, int]]) -> None:
    memo: Memo[int, int] = Memo(limit)
    model: list[tuple[int, int]] = []  # (key, value), oldest first
    for key, value in puts:
        memo.put(key, value)
        held = [k for k, _ in model]
        if key in held:
            model[held.index(key)] = (key, value)
        else:
            model = [*model[1:]] if len(model) == limit else model
            model.append((key, value))
        assert list(memo.items()) == model
        assert memo.get(key) == value and len(memo) <= limit
