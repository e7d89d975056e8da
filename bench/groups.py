"""Synthetic dynamic groups of realistic variety, for the rule-scaling step.

What a shop's marketing team builds over the years: brand and category
interest with windows and thresholds, product watchers, order aggregates
(orders, total and average spend, last order), sign-up cohorts, e-mail
domains, and mixes of them with and/or and nested blocks. Deterministic for a
seed, and a prefix of a longer list is the shorter list, so the 10-group set is
inside the 100-group set, inside the 1,000 and the 10,000.

Like a real shop's, groups reuse the same conditions: the same brands,
categories, windows and thresholds, and rows naming several brands or
categories take one of a few lists the team uses again and again (a brand
family, a department), not a fresh random mix each time.
"""

from __future__ import annotations

import random
from typing import Any

from pipeline.traffic import BRANDS, CATEGORIES
from schemas.groups import GroupDefinition

ACTIONS = ["viewed", "viewed", "viewed", "searched", "basket", "wishlist", "ordered", "any"]
WINDOWS = [None, None, "7 days", "30 days", "90 days", "6 months", "12 months"]
FIRST_ID = 1000
_LISTS = random.Random(3)
BRAND_LISTS = [sorted(_LISTS.sample(BRANDS, 3)) for _ in range(12)]
CATEGORY_LISTS = [sorted(_LISTS.sample(CATEGORIES, 3)) for _ in range(8)]


def _window(rng: random.Random, row: dict[str, Any]) -> dict[str, Any]:
    window = rng.choice(WINDOWS)
    if window:
        row["within"] = window
    if rng.random() < 0.3:
        row["at_least"] = rng.choice([2, 3, 5])
    return row


def _behaviour(rng: random.Random, catalogue: int) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.5:
        field, value = "brand", rng.choice(BRANDS)
    elif roll < 0.85:
        field, value = "category", rng.choice(CATEGORIES)
    else:  # a product page watcher: popular products more often
        field, value = "product", f"P{min(int(rng.paretovariate(0.8)) - 1, catalogue - 1):05d}"
    if field != "product" and rng.random() < 0.15:
        value = rng.choice(BRAND_LISTS if field == "brand" else CATEGORY_LISTS)
    return _window(rng, {"field": field, "operator": rng.choice(ACTIONS), "value": value})


def _aggregate(rng: random.Random) -> list[Any]:
    return rng.choice([
        ["orders", "greater than", rng.choice([0, 1, 2, 5])],
        ["orders", "equals", 0],
        ["totalspend", "greater than", f"£{rng.choice([50, 100, 250, 1000])}"],
        ["averagespend", "greater than", f"£{rng.choice([50, 100, 500])}"],
        ["lastorder", "in the last", rng.choice(["30 days", "3 months", "12 months"])],
        ["firstorder", "before", "01/09/2025"],
        ["datejoined", "greater than", rng.choice(["01/08/2025", "01/10/2025", "01/11/2025"])],
        ["registered", "equals", rng.choice(["yes", "no"])],
        ["emaildomain", "in list", ["example.com", "nhs.net"]],
        ["lastseen", "in the last", rng.choice(["7 days", "30 days"])],
    ])


def _rules(rng: random.Random, catalogue: int) -> list[Any]:
    roll = rng.random()
    if roll < 0.45:  # one behaviour row
        return [_behaviour(rng, catalogue)]
    if roll < 0.60:  # interest in any of a few things
        return [_behaviour(rng, catalogue)] + [
            {**_behaviour(rng, catalogue), "connector": "or"} for _ in range(rng.randint(1, 3))]
    if roll < 0.75:  # pure aggregates
        rows: list[Any] = [_aggregate(rng)]
        if rng.random() < 0.5:
            rows.append(["and", *_aggregate(rng)])
        return rows
    if roll < 0.90:  # behaviour and an aggregate
        return [_behaviour(rng, catalogue), ["and", *_aggregate(rng)]]
    # nested: any of two behaviours, and not a recent order / or a big spender
    return [{"any": [_behaviour(rng, catalogue), _behaviour(rng, catalogue)]},
            rng.choice([{"not": ["lastorder", "in the last", "30 days"]},
                        {"all": [["orders", "greater than", 2], ["averagespend", "greater than", "£100"]]}])]


def synthetic_groups(count: int, *, seed: int = 7, catalogue: int = 10_000) -> list[GroupDefinition]:
    rng = random.Random(seed)
    groups = []
    for i in range(count):
        groups.append(GroupDefinition.model_validate({
            "id": FIRST_ID + i, "name": f"bench group {i}", "type": "dynamic",
            "rules": _rules(rng, catalogue)}))
    return groups
