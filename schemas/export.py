"""JSON Schema files for the contract, so a storefront in any language can validate.

``customer-groups schemas export`` writes them under ``schemas/json/``; a test
fails when the committed files drift from the models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from schemas.decode import MAX_EVENTS_PER_RECORD
from schemas.events import EVENT_ADAPTER, SCHEMA_VERSION
from schemas.groups import RulesFile

SCHEMA_DIR = Path(__file__).parent / "json"
_BASE = "https://customer-groups.invalid/schemas"


# The compact row form the models also accept: [connector, field, operator, value].
_LIST_ROW: dict[str, Any] = {
    "type": "array",
    "minItems": 2,
    "maxItems": 4,
    "description": "[connector, field, operator, value] or [field, operator, value]",
    "items": {"type": ["string", "number", "boolean", "null", "array"]},
}


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema document."""
    event = EVENT_ADAPTER.json_schema(mode="validation")
    event.update({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_BASE}/event.v{SCHEMA_VERSION}.schema.json",
        "title": "customer-groups storefront and staff event",
    })
    rules = RulesFile.model_json_schema(mode="validation", by_alias=True)
    rules["$defs"]["RuleRow"] = {"anyOf": [rules["$defs"]["RuleRow"], _LIST_ROW]}
    rules.update({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_BASE}/group-definitions.schema.json",
        "title": "customer-groups group definitions (a rules_config/ file)",
    })
    batch = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{_BASE}/event-batch.v{SCHEMA_VERSION}.schema.json",
        "title": "customer-groups batched record: the events of one visitor (or customer) in one record",
        "description": "A record on the events topic holds one event (event.v1) or an array of them, all "
                       "for the record's key. The worker's limit is CG_MAX_EVENTS_PER_RECORD "
                       f"(default {MAX_EVENTS_PER_RECORD}); a bad event is dead-lettered alone, with its index.",
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_EVENTS_PER_RECORD,
        "items": {"$ref": f"{_BASE}/event.v{SCHEMA_VERSION}.schema.json"},
    }
    return {
        f"event.v{SCHEMA_VERSION}.schema.json": event,
        f"event-batch.v{SCHEMA_VERSION}.schema.json": batch,
        "group-definitions.schema.json": rules,
    }


def render(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in json_schemas().items():
        path = directory / name
        path.write_bytes(render(document))
        written.append(path)
    return written
