"""Which groups can an event affect? An index from what events touch to who reads it.

Each compiled group declares the keys it reads (``viewed:brand:sony``,
``orders``, ``consent``...); each event names the keys it touches. Only groups
that share a key with the event are re-evaluated, so a shop with 1,000 brand
groups pays for the few brands an event mentions, not for all 1,000.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from pipeline.memo import Memo
from pipeline.profile import normalise
from pipeline.rules.compiler import CompiledGroup
from pipeline.rules.fields import MAX_PHRASE_WORDS
from schemas.events import (
    BasketEvent,
    ConsentEvent,
    CustomerUpdatedEvent,
    Event,
    OrderEvent,
    Product,
    SearchEvent,
    SignupEvent,
    StaffMembershipEvent,
    ViewEvent,
    WishlistEvent,
)

EVERYTHING = "*"
_NONE: frozenset[str] = frozenset()


_PRODUCT_KEYS: Memo[tuple[str, str, str | None, str | None], frozenset[str]] = Memo()


def _product_keys(action: str, product: Product) -> frozenset[str]:
    """The keys of one product row, memoised (a catalogue's products recur on most events)."""
    memo = (action, product.product_id, product.brand, product.category)
    keys = _PRODUCT_KEYS.get(memo)
    if keys is None:
        found = {f"{action}:product:{normalise(product.product_id)}", f"{action}:product:*"}
        if product.brand:
            found |= {f"{action}:brand:{normalise(product.brand)}", f"{action}:brand:*"}
        if product.category:
            found |= {f"{action}:category:{normalise(product.category)}", f"{action}:category:*"}
        keys = _PRODUCT_KEYS.put(memo, frozenset(found | {"activity"}))
    return keys


def phrases(text: str, longest: int = MAX_PHRASE_WORDS) -> set[str]:
    """Every run of up to ``longest`` consecutive words: what a search could be 'for'."""
    words = text.split()
    return {" ".join(words[i:j]) for i in range(len(words))
            for j in range(i + 1, min(i + longest, len(words)) + 1)}


def event_keys(event: Event) -> frozenset[str]:
    """The keys an event can change in a profile."""
    if isinstance(event, ViewEvent):  # the most common events: one memoised product row
        return _product_keys("viewed", event.product)
    if isinstance(event, (BasketEvent, WishlistEvent)) and event.action == "add":
        return _product_keys(event.type, event.product)
    keys: set[str] = {"activity"}
    if isinstance(event, (BasketEvent, WishlistEvent)):
        pass  # a removal: only activity
    elif isinstance(event, SearchEvent):
        query = normalise(event.query)
        keys |= {f"searched:query:{query}", "searched:query:*",
                 "searched:brand:*", "searched:category:*"}
        for phrase in phrases(query):
            keys |= {f"searched:brand:{phrase}", f"searched:category:{phrase}"}
        if event.brand:
            keys.add(f"searched:brand:{normalise(event.brand)}")
        if event.category:
            keys.add(f"searched:category:{normalise(event.category)}")
    elif isinstance(event, OrderEvent):
        keys.add("orders")
        for line in event.lines:
            keys |= _product_keys("ordered", line.product)
    elif isinstance(event, SignupEvent):
        keys |= {"profile", "consent"}
    elif isinstance(event, CustomerUpdatedEvent):
        keys.add("profile")
    elif isinstance(event, ConsentEvent):
        keys.add("consent")
    elif isinstance(event, StaffMembershipEvent):
        keys.add("staff")
    else:  # identify (merges two profiles) and erasure touch everything
        keys.add(EVERYTHING)
    return frozenset(keys)


class RuleIndex:
    """Groups by the keys they read."""

    def __init__(self, groups: Iterable[CompiledGroup]) -> None:
        self.groups: dict[str, CompiledGroup] = {g.id: g for g in groups}
        self._by_key: dict[str, set[str]] = defaultdict(set)
        for group in self.groups.values():
            for key in group.reads - {"time"}:
                self._by_key[key].add(group.id)
        self.time_dependent = frozenset(g.id for g in self.groups.values() if g.time_dependent)
        self._memo: Memo[frozenset[str], list[CompiledGroup]] = Memo()

    def affected(self, keys: Iterable[str]) -> list[CompiledGroup]:
        """The groups reading any of ``keys``, by ID (read only: the answer may be shared)."""
        memo = keys if isinstance(keys, frozenset) else frozenset(keys)
        found = self._memo.get(memo)
        if found is None:
            if EVERYTHING in memo:
                found = list(self.groups.values())
            else:
                ids: set[str] = set()
                for key in memo:
                    ids |= self._by_key.get(key, _NONE)
                found = [self.groups[i] for i in sorted(ids)]
            self._memo.put(memo, found)  # events' key sets recur (memoised per product)
        return found

    def for_event(self, event: Event) -> list[CompiledGroup]:
        return self.affected(event_keys(event))
