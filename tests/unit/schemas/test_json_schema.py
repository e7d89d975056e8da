"""The committed JSON Schema files are what the models say."""

from __future__ import annotations

import orjson

from schemas.export import SCHEMA_DIR, json_schemas, render


def test_committed_json_schemas_match_the_models() -> None:
    expected = json_schemas()
    committed = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert committed == set(expected), "run: customer-groups schemas export"
    for name, document in expected.items():
        assert (SCHEMA_DIR / name).read_bytes() == render(document), (
            f"{name} drifted from the models; run: customer-groups schemas export")


def test_event_schema_is_a_discriminated_union_of_every_type() -> None:
    document = orjson.loads((SCHEMA_DIR / "event.v1.schema.json").read_bytes())
    mapping = document["discriminator"]["mapping"]
    assert set(mapping) == {"view", "search", "basket", "wishlist", "order", "signup", "identify",
                            "consent", "staff_membership", "customer_updated", "erasure"}


def test_rules_schema_accepts_compact_list_rows() -> None:
    document = orjson.loads((SCHEMA_DIR / "group-definitions.schema.json").read_bytes())
    forms = document["$defs"]["RuleRow"]["anyOf"]
    assert {f.get("type") for f in forms} == {"object", "array"}
