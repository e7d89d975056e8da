"""What one CSV row holds, from the customer details hash (``{prefix}:d:{c:<id>}``).

Every group lists its registered members with their contact details. Public
and private groups add the record that makes marketing to them lawful: when,
how and by whom the customer opted in (``consent:<group>``) or was added by
staff (``staff:<group>``). The worker writes membership and those records in
the same Redis pipeline, so a record that no longer says "in" means the
customer opted out or was removed *while the export ran*: such a row is left
out rather than sent to a marketing tool.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import orjson

BASE_COLUMNS = ("customer_id", "email", "first_name", "last_name", "date_joined")
BASE_FIELDS = ("email", "first_name", "last_name", "date_joined")
PUBLIC_COLUMNS = ("opted_in_at", "opt_in_source", "recorded_by")
PRIVATE_COLUMNS = ("added_at", "added_source", "added_by")
LEFT_COLUMNS = ("customer_id",)

Cells = list[str | None]


@dataclass(frozen=True, slots=True)
class RowSpec:
    """The columns of one group's files and the hash fields (HMGET arguments) that fill them."""

    group_id: str
    group_type: str
    columns: tuple[str, ...]
    fields: tuple[str, ...]
    record_flag: str | None = None  # "granted" / "member": what the group's record must say

    def row(self, customer_id: str, values: Sequence[str | None]) -> Cells | None:
        """The cells for one member, or ``None`` when the member must be left out.

        ``values`` are the HMGET replies for :attr:`fields` (``None`` for a
        missing field). A dynamic group's member with no details at all (a
        customer ID seen only in behaviour events) still gets a row.
        """
        if self.record_flag is None:
            return [customer_id, *values]
        record = _record(values[4])
        if record is None or record.get(self.record_flag) is not True:
            return None
        return [customer_id, values[0], values[1], values[2], values[3],
                _text(record.get("at")), _text(record.get("source")), _text(record.get("staff_id"))]


def spec_for(group_id: str, group_type: str) -> RowSpec:
    """Columns and fields for a group of this type (``public``, ``private``, ``dynamic``)."""
    if group_type == "public":
        return RowSpec(group_id, group_type, BASE_COLUMNS + PUBLIC_COLUMNS,
                       (*BASE_FIELDS, f"consent:{group_id}"), "granted")
    if group_type == "private":
        return RowSpec(group_id, group_type, BASE_COLUMNS + PRIVATE_COLUMNS,
                       (*BASE_FIELDS, f"staff:{group_id}"), "member")
    return RowSpec(group_id, group_type, BASE_COLUMNS, BASE_FIELDS)


def _record(raw: str | None) -> dict[str, object] | None:
    if not raw:
        return None
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)
