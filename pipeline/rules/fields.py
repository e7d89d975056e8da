"""The vocabulary of the rule editor: which fields and operators exist.

Field and operator names are matched case-insensitively with spaces, dashes and
underscores ignored, so ``date joined``, ``datejoined`` and ``Date_Joined`` are
one field. Each field has a *kind* that decides which operators fit it; a row
whose operator does not fit its field is an error, never silently false.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from pipeline.profile import Action, Profile, ProfilePolicy

Kind = Literal["date", "number", "money", "bool", "text", "set", "behaviour"]

Op = Literal[
    "eq", "ne", "gt", "lt", "ge", "le", "between", "in", "contains",
    "is_set", "is_not_set", "in_last", "not_in_last",
]

# Searches count for a brand or category when they contain its name as whole words;
# the index names phrases up to this long, and longer names fall back to "any search".
MAX_PHRASE_WORDS = 5

ACTIONS: tuple[Action, ...] = ("viewed", "searched", "basket", "wishlist", "ordered")


def squash(name: str) -> str:
    """The lookup form of a field or operator name."""
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


_OPERATOR_ALIASES: dict[Op, tuple[str, ...]] = {
    "eq": ("equals", "=", "==", "is", "equal to", "equals to"),
    "ne": ("not equals", "not equal to", "does not equal", "!=", "<>", "is not"),
    "gt": ("greater than", ">", "after", "more than"),
    "lt": ("less than", "<", "before", "fewer than"),
    "ge": ("greater than or equal", "greater than or equal to", ">=", "on or after", "at least"),
    "le": ("less than or equal", "less than or equal to", "<=", "on or before", "at most"),
    "between": ("between",),
    "in": ("in list", "in", "one of", "is one of", "any of"),
    "contains": ("contains", "includes", "has"),
    "is_set": ("is set", "exists", "is known", "is not empty"),
    "is_not_set": ("is not set", "is empty", "is unknown", "does not exist"),
    "in_last": ("in the last", "within the last", "in last", "within"),
    "not_in_last": ("not in the last", "not within the last", "not in last"),
}
OPERATORS: dict[str, Op] = {squash(a): op for op, aliases in _OPERATOR_ALIASES.items() for a in aliases}

_ACTION_ALIASES: dict[str, tuple[str, ...]] = {
    "viewed": ("viewed", "view", "views"),
    "searched": ("searched", "search", "searched for"),
    "basket": ("basket", "basketed", "added to basket", "add to basket", "in basket"),
    "wishlist": ("wishlist", "wishlisted", "added to wishlist", "add to wishlist"),
    "ordered": ("ordered", "bought", "purchased", "order"),
    "any": ("any", "any action", "interacted", "interacted with"),
}
ACTION_OPS: dict[str, tuple[Action, ...]] = {
    squash(alias): (ACTIONS if action == "any" else (cast(Action, action),))
    for action, aliases in _ACTION_ALIASES.items()
    for alias in aliases
}

KIND_OPS: dict[Kind, frozenset[Op]] = {
    "date": frozenset({"eq", "ne", "gt", "lt", "ge", "le", "between", "is_set", "is_not_set",
                       "in_last", "not_in_last"}),
    "number": frozenset({"eq", "ne", "gt", "lt", "ge", "le", "between", "in"}),
    "money": frozenset({"eq", "ne", "gt", "lt", "ge", "le", "between", "is_set", "is_not_set"}),
    "bool": frozenset({"eq", "ne"}),
    "text": frozenset({"eq", "ne", "contains", "in", "is_set", "is_not_set"}),
    "set": frozenset({"contains", "in", "is_set", "is_not_set"}),
    "behaviour": frozenset(),
}

Extractor = Callable[[Profile, ProfilePolicy], object]


@dataclass(frozen=True, slots=True)
class ScalarField:
    """A profile or order-aggregate field: one value per subject (or none)."""

    name: str
    kind: Kind
    extract: Extractor
    reads: str
    help: str


@dataclass(frozen=True, slots=True)
class BehaviourField:
    """Something a visitor did to a brand, category, product or search text."""

    name: str
    dimension: Literal["brand", "category", "product", "query"]
    help: str
    kind: Kind = "behaviour"


_LAST_DAY: tuple[object, object, int] = (None, None, 0)


def _day(ts: datetime | None, policy: ProfilePolicy) -> int | None:
    """The local day of ``ts``, remembered for the last instant asked (by identity).

    One evaluation reads the same instant (last seen, last order) for each of its
    nodes over it; the next profile brings other instants. An LRU cache keyed by
    value missed on nearly every profile of a back-fill (a million instants) and
    hashed the policy each time: dearer than ``day_of`` itself.
    """
    global _LAST_DAY
    if ts is None:
        return None
    last = _LAST_DAY  # one read: a consistent (instant, policy, day)
    if last[0] is ts and last[1] is policy:
        return last[2]
    day = policy.day_of(ts)
    _LAST_DAY = (ts, policy, day)  # holds ts, so its id is not reused while remembered
    return day


def _email(p: Profile) -> str | None:
    return p.email.value.lower() if p.email is not None and p.email.value else None


def _email_domain(p: Profile, _: ProfilePolicy) -> str | None:
    email = _email(p)
    return email.rsplit("@", 1)[-1] if email else None


SCALAR_FIELDS: tuple[ScalarField, ...] = (
    ScalarField("datejoined", "date",
                lambda p, _: p.date_joined.value.toordinal() if p.date_joined else None,
                "profile", "the day the customer registered; not set for anonymous visitors"),
    ScalarField("registered", "bool", lambda p, _: p.registered, "profile",
                "yes for customers with an account, no for anonymous visitors"),
    ScalarField("email", "text", lambda p, _: _email(p), "profile", "the customer's email address"),
    ScalarField("emaildomain", "text", _email_domain, "profile",
                "the part of the email after @, e.g. gmail.com"),
    ScalarField("consent", "set", lambda p, _: p.consented_groups, "consent",
                "the public groups the customer has opted in to (by ID or name)"),
    ScalarField("orders", "number", lambda p, _: p.orders.count, "orders",
                "how many orders the subject has placed"),
    ScalarField("totalspend", "money",
                lambda p, _: p.orders.total_minor if p.orders.spend_orders else None, "orders",
                "the sum of order totals in the shop currency; not set before the first order"),
    ScalarField("averagespend", "money", lambda p, _: p.average_spend_minor, "orders",
                "total spend divided by the number of orders; not set before the first order"),
    ScalarField("firstorder", "date", lambda p, pol: _day(p.orders.first_at, pol), "orders",
                "the day of the first order"),
    ScalarField("lastorder", "date", lambda p, pol: _day(p.orders.last_at, pol), "orders",
                "the day of the latest order"),
    ScalarField("lastseen", "date", lambda p, pol: _day(p.last_seen, pol), "activity",
                "the day of the latest event of any kind"),
)

BEHAVIOUR_FIELDS: tuple[BehaviourField, ...] = (
    BehaviourField("brand", "brand", "a brand the subject viewed, searched, basketed, wishlisted or ordered"),
    BehaviourField("category", "category", "a category, as above"),
    BehaviourField("product", "product", "a product ID, as above"),
    BehaviourField("search", "query", "the text the subject searched for"),
)

_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "datejoined": ("joined", "signup date", "date registered", "registration date"),
    "registered": ("is registered", "has account"),
    "emaildomain": ("email domain", "domain"),
    "consent": ("opted in", "opt in", "consented", "consented to"),
    "orders": ("order count", "number of orders", "orders count"),
    "totalspend": ("spend", "total spent", "lifetime spend"),
    "averagespend": ("average order value", "aov", "average spent"),
    "firstorder": ("first order date", "first ordered"),
    "lastorder": ("last order date", "last ordered", "last purchase"),
    "lastseen": ("last visit", "last active", "last activity"),
    "brand": ("brands",),
    "category": ("categories",),
    "product": ("products", "product id"),
    "search": ("search text", "searched text", "search term", "query"),
}

FIELDS: dict[str, ScalarField | BehaviourField] = {}
_ALL_FIELDS: tuple[ScalarField | BehaviourField, ...] = (*SCALAR_FIELDS, *BEHAVIOUR_FIELDS)
for _field in _ALL_FIELDS:
    FIELDS[squash(_field.name)] = _field
    for _alias in _FIELD_ALIASES.get(_field.name, ()):
        FIELDS[squash(_alias)] = _field


def operator_names(ops: frozenset[Op] | set[Op]) -> list[str]:
    """The first (canonical) spelling of each operator, for error messages."""
    return [_OPERATOR_ALIASES[op][0] for op in _OPERATOR_ALIASES if op in ops]


def op_label(op: Op) -> str:
    return _OPERATOR_ALIASES[op][0]
