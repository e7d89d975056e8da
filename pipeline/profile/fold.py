"""Folding events into a profile, merging a visitor into a customer, and pruning.

Event -> behaviour (each +1 on the event's shop-local day, values normalised):

============================  ==================================================
view                          (viewed, brand/category/product) of the product
search                        (searched, query) plus (searched, brand/category)
                              for the facets chosen
basket ``add``                (basket, brand/category/product), +1 per event,
                              whatever the quantity
wishlist ``add``              (wishlist, brand/category/product)
basket/wishlist ``remove``    nothing: the add still happened
order                         (ordered, brand/category/product) +1 per order for
                              each distinct value among its lines; and the order
                              goes into the lifetime ledger (``Profile.orders``)
============================  ==================================================

Other events set registers, all last-writer-wins by ``(occurred_at, event_id)``:
signup (email, names when given, date joined = the event's or the local date of
``occurred_at``, and an opt-in with source ``registration`` for each of
``public_groups`` -- the pipeline checks they are public first), consent,
staff_membership, customer_updated (only the fields given); identify adds the
cookie to ``visitor_ids``. Erasure changes nothing and returns True: the
pipeline deletes the profile.

Why the result does not depend on delivery order:

* counted events (the behaviour rows above) are deduplicated by a 64-bit hash
  of their event ID, remembered per local day in ``seen``;
* ``newest_day`` only grows; behaviour and ``seen`` older than
  ``newest_day - retention_days`` are dropped, and a counted event older than
  that is not counted, so what remains is exactly the events inside the final
  window, whichever arrived first;
* every other effect is a lattice join (max, union, last-writer-wins), applied
  even for events outside the window, so it too is the same in every order.

The one exception is the per-kind key cap (``max_keys_per_kind``): the *set*
of values kept is always the top ``max_keys_per_kind`` by (newest day, value),
in every order, but a value evicted and later seen again restarts its counts,
so its counts may be lower than in another order. Only subjects with hundreds
of distinct brands/products in the window (bots) meet the cap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pipeline.memo import Memo
from pipeline.profile.model import (
    CUSTOMER_PREFIX,
    VISITOR_PREFIX,
    ConsentRecord,
    Kind,
    OrderRecord,
    Profile,
    StaffRecord,
    Stamped,
    id_hash,
    normalise,
)
from pipeline.profile.policy import ProfilePolicy
from schemas.events import (
    STOREFRONT_EVENT_TYPES,
    BasketEvent,
    ConsentEvent,
    CustomerUpdatedEvent,
    ErasureEvent,
    Event,
    OrderEvent,
    Product,
    SearchEvent,
    SignupEvent,
    StaffMembershipEvent,
    ViewEvent,
    WishlistEvent,
)

ACTIVITY_TYPES = STOREFRONT_EVENT_TYPES | {"identify"}
"""Events the subject did themselves: only these move ``last_seen``."""

_MERGE_SALT = "\x00merge\x00"


def merge_hash(merge_id: str) -> int:
    """The ``seen`` entry of a merge: salted so the identify event's own ID can still be folded."""
    return id_hash(_MERGE_SALT + merge_id)


# --- behaviour --------------------------------------------------------------


_ROWS: Memo[tuple[str, str, str | None, str | None], list[tuple[Kind, str]]] = Memo()


def _one_product_rows(action: str, product: Product) -> list[tuple[Kind, str]]:
    """Memoised (read only): a catalogue's products recur on most events."""
    memo = (action, product.product_id, product.brand, product.category)
    rows = _ROWS.get(memo)
    if rows is None:
        found: dict[tuple[Kind, str], None] = {}
        for dimension, raw in (("brand", product.brand), ("category", product.category),
                               ("product", product.product_id)):
            value = normalise(raw) if raw else ""
            if value:
                found[((action, dimension), value)] = None  # type: ignore[index]  # the literals make a Kind; mypy widens them
        rows = _ROWS.put(memo, list(found))
    return rows


def _product_rows(action: str, products: Iterable[Product]) -> list[tuple[Kind, str]]:
    rows: dict[tuple[Kind, str], None] = {}
    for product in products:
        rows.update(dict.fromkeys(_one_product_rows(action, product)))
    return list(rows)


def behaviour_rows(event: Event) -> list[tuple[Kind, str]] | None:
    """The (kind, value) rows an event counts, or None when it counts nothing (read only: may be shared)."""
    if isinstance(event, ViewEvent):
        return _one_product_rows("viewed", event.product)
    if isinstance(event, SearchEvent):
        rows: list[tuple[Kind, str]] = []
        for dimension, raw in (("query", event.query), ("brand", event.brand), ("category", event.category)):
            value = normalise(raw) if raw else ""
            if value:
                rows.append((("searched", dimension), value))  # type: ignore[arg-type]  # the literals make a Kind; mypy widens them
        return rows
    if isinstance(event, (BasketEvent, WishlistEvent)):
        if event.action != "add":
            return None
        return _one_product_rows(event.type, event.product)
    if isinstance(event, OrderEvent):
        return _product_rows("ordered", (line.product for line in event.lines))
    return None


def _evict_key(item: tuple[str, dict[int, int]]) -> tuple[int, str]:
    value, days = item
    return (max(days, default=-1), value)


def _cap(values: dict[str, dict[int, int]], cap: int) -> None:
    """Drop the values whose newest day is oldest (tie: smallest value) down to ``cap``."""
    excess = len(values) - cap
    if excess == 1:
        del values[min(values.items(), key=_evict_key)[0]]
    elif excess > 1:
        for value, _ in sorted(values.items(), key=_evict_key)[:excess]:
            del values[value]


def _add(profile: Profile, kind: Kind, value: str, day: int, n: int, policy: ProfilePolicy) -> None:
    values = profile.behaviour.setdefault(kind, {})
    days = values.get(value)
    if days is None:
        values[value] = {day: n}
        _cap(values, policy.max_keys_per_kind)
    else:
        days[day] = days.get(day, 0) + n


# --- retention and caps -------------------------------------------------------


def cutoff_day(profile: Profile, policy: ProfilePolicy) -> int | None:
    """The oldest local day still kept, or None for a profile with no events."""
    if profile.newest_day is None:
        return None
    return profile.newest_day - policy.retention_days


def _prune_window(profile: Profile, cutoff: int) -> None:
    for kind in list(profile.behaviour):
        values = profile.behaviour[kind]
        for value in list(values):
            days = values[value]
            if min(days, default=cutoff) < cutoff:
                for day in [d for d in days if d < cutoff]:
                    del days[day]
            if not days:
                del values[value]
        if not values:
            del profile.behaviour[kind]
    for day in [d for d in profile.seen if d < cutoff]:
        del profile.seen[day]


def _cap_visitors(profile: Profile, policy: ProfilePolicy) -> None:
    """Keep the smallest cookie IDs (and a cookie profile's own): a lattice, order-free."""
    ids = profile.visitor_ids
    if len(ids) <= policy.max_visitor_ids:
        return
    own = profile.subject[2:] if profile.subject.startswith(VISITOR_PREFIX) else None
    kept = sorted(ids - {own})[: policy.max_visitor_ids - (own is not None)]
    profile.visitor_ids = set(kept) | ({own} if own is not None else set())


def _cap_orders(profile: Profile, policy: ProfilePolicy) -> None:
    """Keep the newest orders by (record rank, order hash)."""
    ledger = profile.orders.ledger
    excess = len(ledger) - policy.max_orders
    if excess > 0:
        for key, _ in sorted(ledger.items(), key=lambda kv: (kv[1].rank, kv[0]))[:excess]:
            del ledger[key]


def prune(profile: Profile, policy: ProfilePolicy) -> None:
    """Enforce retention and every cap (idempotent).

    Fold keeps these invariants incrementally and merge ends with a prune; call it
    yourself after lowering ``retention_days`` or a cap on stored profiles.
    """
    cutoff = cutoff_day(profile, policy)
    if cutoff is not None:
        _prune_window(profile, cutoff)
    for values in profile.behaviour.values():
        _cap(values, policy.max_keys_per_kind)
    _cap_visitors(profile, policy)
    _cap_orders(profile, policy)


# --- registers ------------------------------------------------------------------


def _utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC)


def _newer(current: Stamped[Any] | ConsentRecord | StaffRecord | None, stamp: tuple[datetime, str]) -> bool:
    return current is None or stamp > current.stamp


def _set_customer(profile: Profile, customer_id: str, stamp: tuple[datetime, str]) -> bool:
    """A cookie profile's customer is the last one seen; a customer profile's is its subject."""
    if profile.subject.startswith(CUSTOMER_PREFIX):
        return False
    if profile.customer_stamp is not None and stamp <= profile.customer_stamp:
        return False
    profile.customer_id, profile.customer_stamp = customer_id, stamp
    return True


def add_visitor(profile: Profile, visitor_id: str, policy: ProfilePolicy) -> bool:
    """Record a cookie as one of the profile's (capped); True when it is newly kept."""
    if visitor_id in profile.visitor_ids:
        return False
    profile.visitor_ids.add(visitor_id)
    _cap_visitors(profile, policy)
    return visitor_id in profile.visitor_ids


def _set_names(profile: Profile, event: SignupEvent | CustomerUpdatedEvent, at: datetime) -> bool:
    changed = False
    stamp = (at, event.event_id)
    for name in ("email", "first_name", "last_name"):
        value = getattr(event, name)
        if value is not None and _newer(getattr(profile, name), stamp):
            setattr(profile, name, Stamped(value, at, event.event_id))
            changed = True
    return changed


def _set_consent(profile: Profile, group_id: str, record: ConsentRecord) -> bool:
    if _newer(profile.consents.get(group_id), record.stamp):
        profile.consents[group_id] = record
        return True
    return False


def _add_order(profile: Profile, event: OrderEvent, at: datetime, policy: ProfilePolicy) -> bool:
    foreign = None if event.currency == policy.currency else event.currency
    record = OrderRecord(at, policy.to_minor(event.total, event.currency), foreign)
    key = id_hash(event.order_id)
    ledger = profile.orders.ledger
    current = ledger.get(key)
    if current is not None and record.rank <= current.rank:
        return False
    ledger[key] = record
    _cap_orders(profile, policy)
    return key in ledger


def _registers(profile: Profile, event: Event, at: datetime, policy: ProfilePolicy) -> bool:
    stamp = (at, event.event_id)
    if isinstance(event, SignupEvent):
        changed = _set_names(profile, event, at)
        if _newer(profile.date_joined, stamp):
            joined = event.date_joined or policy.local_date(at)
            profile.date_joined = Stamped(joined, at, event.event_id)
            changed = True
        for group_id in event.public_groups:
            record = ConsentRecord(True, at, "registration", None, event.event_id)
            changed |= _set_consent(profile, group_id, record)
        return changed
    if isinstance(event, CustomerUpdatedEvent):
        return _set_names(profile, event, at)
    if isinstance(event, ConsentEvent):
        record = ConsentRecord(event.granted, at, event.source, event.staff_id, event.event_id)
        return _set_consent(profile, event.group_id, record)
    if isinstance(event, StaffMembershipEvent):
        if _newer(profile.staff_groups.get(event.group_id), stamp):
            profile.staff_groups[event.group_id] = StaffRecord(
                event.action == "add", at, event.source, event.staff_id, event.event_id
            )
            return True
        return False
    if isinstance(event, OrderEvent):
        return _add_order(profile, event, at, policy)
    return False


# --- fold -------------------------------------------------------------------------


def counted(profile: Profile, event: Event, policy: ProfilePolicy) -> bool:
    """True when ``event`` is already counted in ``profile`` (its dedupe remembers it)."""
    if behaviour_rows(event) is None:
        return False
    return id_hash(event.event_id) in profile.seen.get(policy.day_of(_utc(event.occurred_at)), ())


def fold(profile: Profile, event: Event, policy: ProfilePolicy, day: int | None = None) -> bool:
    """Fold one event into ``profile`` in place; True if the profile changed.

    False for a duplicate of a counted event, and for an event that changes
    nothing (a counted event older than the retention window that brings no
    new register value, a repeated consent, ...).
    """
    if isinstance(event, ErasureEvent):
        return True
    at = _utc(event.occurred_at)
    if day is None:  # a caller that knows the event's local day passes it (the processor does)
        day = policy.day_of(at)
    rows = behaviour_rows(event)
    key = id_hash(event.event_id)
    if rows is not None and key in profile.seen.get(day, ()):
        return False

    changed = False
    if profile.newest_day is None or day > profile.newest_day:
        profile.newest_day = day
        _prune_window(profile, day - policy.retention_days)
        changed = True
    if event.customer_id is not None:
        changed |= _set_customer(profile, event.customer_id, (at, event.event_id))
    if event.visitor_id is not None:
        changed |= add_visitor(profile, event.visitor_id, policy)
    if event.type in ACTIVITY_TYPES and (profile.last_seen is None or at > profile.last_seen):
        profile.last_seen = at
        changed = True
    changed |= _registers(profile, event, at, policy)

    if rows is not None and day >= profile.newest_day - policy.retention_days:
        profile.seen.setdefault(day, set()).add(key)
        for kind, value in rows:
            _add(profile, kind, value, day, 1, policy)
        changed = True
    return changed


# --- merge --------------------------------------------------------------------------


def merge(customer: Profile, visitor: Profile, policy: ProfilePolicy, merge_id: str) -> bool:
    """Fold a cookie visitor's profile into a customer's (at login or signup).

    Counts are summed, so a merge must happen once: ``merge_id`` (the identify
    event's ID) is remembered in ``customer.seen`` and a second merge with the
    same ID returns False and does nothing (for ``retention_days``, like all
    dedupe). The two profiles must not share counted events; after a merge the
    pipeline should delete or reset the visitor profile, otherwise a later
    merge of the same cookie counts its old behaviour again. ``visitor`` is not
    modified; ``groups`` is never merged (the pipeline recomputes it).
    """
    marker = merge_hash(merge_id)
    if any(marker in hashes for hashes in customer.seen.values()):
        return False
    if visitor.newest_day is None:
        return False  # nothing was ever folded into the visitor
    if visitor.seen and all(hashes <= customer.seen.get(day, set()) for day, hashes in visitor.seen.items()):
        # Every event of the visitor is already counted here: the same cookie content
        # merged before under another login's merge ID (a failover can replay a cookie's
        # profile that a lost table write had already handed over). Counting it again
        # would double it; remember the merge ID so the answer stays the same.
        customer.seen.setdefault(customer.newest_day or visitor.newest_day, set()).add(marker)
        return True

    if customer.newest_day is None or visitor.newest_day > customer.newest_day:
        customer.newest_day = visitor.newest_day
    if visitor.customer_id is not None and visitor.customer_stamp is not None:
        _set_customer(customer, visitor.customer_id, visitor.customer_stamp)
    customer.visitor_ids |= visitor.visitor_ids
    if visitor.last_seen is not None and (customer.last_seen is None or visitor.last_seen > customer.last_seen):
        customer.last_seen = visitor.last_seen

    for name in ("email", "first_name", "last_name", "date_joined"):
        theirs = getattr(visitor, name)
        if theirs is not None and _newer(getattr(customer, name), theirs.stamp):
            setattr(customer, name, replace(theirs))
    for group_id, consent in visitor.consents.items():
        _set_consent(customer, group_id, replace(consent))
    for group_id, staff in visitor.staff_groups.items():
        if _newer(customer.staff_groups.get(group_id), staff.stamp):
            customer.staff_groups[group_id] = replace(staff)
    ledger = customer.orders.ledger
    for key, order in visitor.orders.ledger.items():
        current = ledger.get(key)
        if current is None or order.rank > current.rank:
            ledger[key] = replace(order)

    for kind, values in visitor.behaviour.items():
        mine = customer.behaviour.setdefault(kind, {})
        for value, days in values.items():
            target = mine.setdefault(value, {})
            for day, n in days.items():
                target[day] = target.get(day, 0) + n
    for day, hashes in visitor.seen.items():
        customer.seen.setdefault(day, set()).update(hashes)
    customer.seen.setdefault(customer.newest_day, set()).add(marker)
    prune(customer, policy)
    return True
