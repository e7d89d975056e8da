"""The state of one subject (a customer or a cookie visitor) and the queries rules ask of it.

Every field is a merge that does not care about order, so that a profile is a
function of the *set* of events folded into it, whatever order Kafka delivers
them in:

* registers (email, names, date joined, consents, staff memberships) are
  last-writer-wins by ``(at, event_id)``;
* ``last_seen`` and ``newest_day`` are maxima, ``visitor_ids`` a (capped) union;
* the order ledger is keyed by order: a union, so lifetime order counts and spend
  survive retention without double counting a re-sent order;
* behaviour is a count per (action, dimension, value, local day), deduplicated
  by event ID and kept only for ``retention_days`` behind ``newest_day``.

Nothing here does I/O; :mod:`pipeline.profile.fold` mutates, this module models
and answers.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from hashlib import blake2b
from types import MappingProxyType
from typing import Generic, Literal, TypeVar, get_args

T = TypeVar("T")

Action = Literal["viewed", "searched", "basket", "wishlist", "ordered"]
Dimension = Literal["brand", "category", "product", "query"]
Kind = tuple[Action, Dimension]

ACTIONS: tuple[Action, ...] = get_args(Action)
DIMENSIONS: tuple[Dimension, ...] = get_args(Dimension)

CUSTOMER_PREFIX = "c:"
VISITOR_PREFIX = "v:"


_NORMALISED: dict[str, str] = {}
_NORMALISED_LIMIT = 100_000


def normalise(text: str) -> str:
    """The form in which behaviour values are stored and rule values compared.

    NFKC (so full-width and ligature forms match), case-folded, trimmed, with
    runs of whitespace collapsed to one space: ``"  SONY\u3000Bravia "`` and
    ``"sony bravia"`` are the same value.

    Memoised (a bounded dict, emptied when full): brands, categories and
    product IDs repeat on almost every event, and each event normalises
    several of them twice (for its index keys and for its fold).
    """
    value = _NORMALISED.get(text)
    if value is None:
        folded = unicodedata.normalize("NFKC", text).casefold()
        value = " ".join(unicodedata.normalize("NFKC", folded).split())
        if len(_NORMALISED) >= _NORMALISED_LIMIT:
            _NORMALISED.clear()
        _NORMALISED[text] = value
    return value


def id_hash(text: str) -> int:
    """A 64-bit hash of an event or order ID: what dedupe remembers instead of the ID."""
    return int.from_bytes(blake2b(text.encode(), digest_size=8).digest(), "big")


def subject_for(customer_id: str | None, visitor_id: str | None) -> str:
    """The profile key of an event: the customer when logged in, else the cookie."""
    if customer_id:
        return CUSTOMER_PREFIX + customer_id
    if visitor_id:
        return VISITOR_PREFIX + visitor_id
    raise ValueError("an event needs a customer_id or a visitor_id")


@dataclass(slots=True)
class Stamped(Generic[T]):
    """A last-writer-wins register: the winner is the largest ``(at, event_id)``."""

    value: T
    at: datetime
    event_id: str

    @property
    def stamp(self) -> tuple[datetime, str]:
        return (self.at, self.event_id)


@dataclass(slots=True)
class ConsentRecord:
    """The latest opt-in/opt-out of one public group, with who recorded it (GDPR proof)."""

    granted: bool
    at: datetime
    source: str
    staff_id: str | None
    event_id: str

    @property
    def stamp(self) -> tuple[datetime, str]:
        return (self.at, self.event_id)


@dataclass(slots=True)
class StaffRecord:
    """The latest staff decision on one private group."""

    member: bool
    at: datetime
    source: str
    staff_id: str
    event_id: str

    @property
    def stamp(self) -> tuple[datetime, str]:
        return (self.at, self.event_id)


@dataclass(slots=True)
class OrderRecord:
    """One order in the lifetime ledger.

    ``currency`` is None for the shop currency (the only orders that count as
    spend); otherwise it names the foreign currency and ``total_minor`` is in
    that currency's minor units.
    """

    at: datetime
    total_minor: int
    currency: str | None = None

    @property
    def rank(self) -> tuple[datetime, int, str]:
        """Tie-break when two events disagree about one order: the largest wins."""
        return (self.at, self.total_minor, self.currency or "")


@dataclass(slots=True)
class OrderStats:
    """Lifetime orders, keyed by a 64-bit hash of the order ID.

    A ledger rather than running totals: folding the same order twice (even as
    two events with different IDs, or long after its dedupe entry expired) is a
    no-op, so counts and spend are exact and independent of delivery order. It
    costs ~30 encoded bytes per order and is capped by ``ProfilePolicy.max_orders``.
    ``count`` includes orders in every currency; spend (``total_minor``,
    ``spend_orders``) only shop-currency orders.
    """

    ledger: dict[int, OrderRecord] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.ledger)

    @property
    def spend_orders(self) -> int:
        """Orders in the shop currency: the denominator of the average spend."""
        return sum(1 for o in self.ledger.values() if o.currency is None)

    @property
    def total_minor(self) -> int:
        """Spend in the shop currency, minor units (pence)."""
        return sum(o.total_minor for o in self.ledger.values() if o.currency is None)

    @property
    def other_currencies(self) -> dict[str, int]:
        """Currency -> number of orders not in the shop currency."""
        return dict(Counter(o.currency for o in self.ledger.values() if o.currency is not None))

    @property
    def first_at(self) -> datetime | None:
        return min((o.at for o in self.ledger.values()), default=None)

    @property
    def last_at(self) -> datetime | None:
        return max((o.at for o in self.ledger.values()), default=None)

    def between(self, start: datetime | None = None, end: datetime | None = None) -> list[OrderRecord]:
        """Orders with ``start <= at < end`` (None = open), oldest first."""
        return sorted(
            (
                o
                for o in self.ledger.values()
                if (start is None or o.at >= start) and (end is None or o.at < end)
            ),
            key=lambda o: o.rank,
        )


class _ReadOnlyValues(Mapping[str, Mapping[int, int]]):
    """value -> {day: count}, read-only all the way down (the evaluator must not mutate)."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, dict[int, int]]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Mapping[int, int]:
        return MappingProxyType(self._data[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


_EMPTY: dict[str, dict[int, int]] = {}


def _check_kind(action: str, dimension: str) -> Kind:
    if action not in ACTIONS or dimension not in DIMENSIONS:
        raise ValueError(f"unknown behaviour {action!r}/{dimension!r}")
    return (action, dimension)


def _sum_days(days: Mapping[int, int], first_day: int | None, last_day: int | None) -> int:
    if first_day is None and last_day is None:
        return sum(days.values())
    lo = first_day if first_day is not None else -(10**9)
    hi = last_day if last_day is not None else 10**9
    return sum(n for d, n in days.items() if lo <= d <= hi)


@dataclass(slots=True)
class Profile:
    """Everything rules know about one subject; small enough to live in a table row."""

    subject: str
    customer_id: str | None = None
    customer_stamp: tuple[datetime, str] | None = None
    """For cookie profiles only: ``(at, event_id)`` of the event that set ``customer_id``
    (last writer wins). A ``c:`` profile's customer ID comes from its subject."""
    visitor_ids: set[str] = field(default_factory=set)
    email: Stamped[str] | None = None
    first_name: Stamped[str] | None = None
    last_name: Stamped[str] | None = None
    date_joined: Stamped[date] | None = None
    consents: dict[str, ConsentRecord] = field(default_factory=dict)
    staff_groups: dict[str, StaffRecord] = field(default_factory=dict)
    orders: OrderStats = field(default_factory=OrderStats)
    behaviour: dict[Kind, dict[str, dict[int, int]]] = field(default_factory=dict)
    seen: dict[int, set[int]] = field(default_factory=dict)
    """Local day -> 64-bit hashes of the counted events (and merges) of that day."""
    newest_day: int | None = None
    last_seen: datetime | None = None
    """The latest storefront or login activity of the subject (not staff actions)."""
    groups: set[str] = field(default_factory=set)
    """Memberships as last written by the pipeline; fold and merge never touch it."""

    # --- queries for the rule evaluator ------------------------------------

    def count(
        self,
        action: Action,
        dimension: Dimension,
        value: str,
        first_day: int | None = None,
        last_day: int | None = None,
    ) -> int:
        """How often ``action`` happened to ``value`` on local days in
        ``[first_day, last_day]`` (both included; None = open). ``value`` is normalised."""
        kind = _check_kind(action, dimension)
        days = self.behaviour.get(kind, _EMPTY).get(normalise(value))
        return _sum_days(days, first_day, last_day) if days else 0

    def total(
        self,
        action: Action,
        dimension: Dimension,
        first_day: int | None = None,
        last_day: int | None = None,
    ) -> int:
        """The count summed over every value of one kind (e.g. all product views)."""
        kind = _check_kind(action, dimension)
        return sum(_sum_days(d, first_day, last_day) for d in self.behaviour.get(kind, _EMPTY).values())

    def values(self, action: Action, dimension: Dimension) -> Mapping[str, Mapping[int, int]]:
        """Read-only view of normalised value -> {local day: count} for one kind."""
        return _ReadOnlyValues(self.behaviour.get(_check_kind(action, dimension), _EMPTY))

    @property
    def registered(self) -> bool:
        """Has a customer account (a customer ID is known)."""
        return self.customer_id is not None

    @property
    def is_anonymous(self) -> bool:
        return self.customer_id is None

    @property
    def consented_groups(self) -> frozenset[str]:
        """Public groups whose latest consent is an opt-in."""
        return frozenset(g for g, r in self.consents.items() if r.granted)

    @property
    def staff_group_ids(self) -> frozenset[str]:
        """Private groups whose latest staff decision is 'member'."""
        return frozenset(g for g, r in self.staff_groups.items() if r.member)

    @property
    def average_spend_minor(self) -> int | None:
        """Mean shop-currency order total in minor units (half-even); None without such orders."""
        n = self.orders.spend_orders
        if n == 0:
            return None
        q, r = divmod(self.orders.total_minor, n)
        if 2 * r > n or (2 * r == n and q % 2 == 1):
            q += 1
        return q


def new_profile(subject: str) -> Profile:
    """An empty profile for ``"c:<customer_id>"`` or ``"v:<visitor_id>"``."""
    if subject.startswith(CUSTOMER_PREFIX) and len(subject) > 2:
        return Profile(subject=subject, customer_id=subject[2:])
    if subject.startswith(VISITOR_PREFIX) and len(subject) > 2:
        return Profile(subject=subject, visitor_ids={subject[2:]})
    raise ValueError(f"a subject is 'c:<customer_id>' or 'v:<visitor_id>', not {subject!r}")
