"""Builders for rule tests: events from the real contract, folded into real profiles."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from pipeline.profile import Profile, ProfilePolicy, fold, new_profile, subject_for
from pipeline.rules import CompiledGroup, compile_group
from schemas.events import EVENT_ADAPTER, Event
from schemas.groups import GroupDefinition

POLICY = ProfilePolicy(timezone="Europe/London", retention_days=400, currency="GBP")
NOW = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


def at(day: date | str, hour: int = 12) -> datetime:
    """Noon UTC on a day given as a date or as dd/mm/yyyy."""
    if isinstance(day, str):
        d, m, y = (int(x) for x in day.split("/"))
        day = date(y, m, d)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def event(kind: str, when: datetime | None = None, **fields: Any) -> Event:
    body: dict[str, Any] = {"type": kind, "event_id": f"e{next(_ids)}",
                            "occurred_at": (when or NOW - timedelta(days=1)).isoformat()}
    if "customer_id" not in fields and "visitor_id" not in fields:
        fields["visitor_id"] = "v1"
    return EVENT_ADAPTER.validate_python({**body, **fields})


def product(brand: str | None = "Sony", category: str | None = "TV", pid: str = "p1") -> dict:
    return {"product_id": pid, "brand": brand, "category": category, "price": "100"}


def view(when: datetime | None = None, brand: str | None = "Sony", category: str | None = "TV",
         pid: str = "p1", **ids: Any) -> Event:
    return event("view", when, product=product(brand, category, pid), **ids)


def order(total: str, when: datetime | None = None, customer: str | None = "c1", **product_fields: Any) -> Event:
    ids = {"customer_id": customer} if customer else {}
    return event("order", when, order_id=f"o{next(_ids)}", total=total, currency="GBP",
                 lines=[{"product": product(**product_fields), "quantity": 1, "unit_price": total}], **ids)


def signup(joined: str, customer: str = "c1", **extra: Any) -> Event:
    d, m, y = (int(x) for x in joined.split("/"))
    fields = {"email": f"{customer}@example.com", "date_joined": date(y, m, d).isoformat(), **extra}
    return event("signup", at(joined), customer_id=customer, **fields)


def profile_of(*events: Event) -> Profile:
    customer = next((e.customer_id for e in events if e.customer_id), None)
    visitor = next((e.visitor_id for e in events if e.visitor_id), None)
    profile = new_profile(subject_for(customer, visitor or "v-none"))
    for e in events:
        fold(profile, e, POLICY)
    return profile


PUBLIC = {"1": "Newsletter", "3": "Lego"}


def group(*rules: Any, gid: str = "99", kind: str = "dynamic") -> CompiledGroup:
    definition = GroupDefinition.model_validate(
        {"id": gid, "name": f"test {gid}", "type": kind, "rules": list(rules)})
    return compile_group(definition, POLICY, PUBLIC)


def today(when: datetime = NOW) -> int:
    return POLICY.day_of(when)


@pytest.fixture
def policy() -> ProfilePolicy:
    return POLICY
