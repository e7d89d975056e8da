"""The customer details the exporter needs, as a Redis hash per customer.

The exporter lists members with their email, names, join date and, for
public and private groups, the consent or staff record (when, how, by whom):
the record of marketing opt-in. Kept in Redis beside the memberships so the
exporter, a separate job, never needs the workers' state.
"""

from __future__ import annotations

import orjson

from pipeline.profile import Profile
from pipeline.store.keys import KeySpace
from pipeline.store.writer import Command


def details_of(profile: Profile | None) -> dict[str, str]:
    """Hash fields of a customer's details; empty for anonymous visitors."""
    if profile is None or not profile.subject.startswith("c:"):
        return {}
    fields: dict[str, str] = {}
    for name in ("email", "first_name", "last_name"):
        stamped = getattr(profile, name)
        if stamped is not None:
            fields[name] = stamped.value
    if profile.date_joined is not None:
        fields["date_joined"] = profile.date_joined.value.isoformat()
    for group_id, consent in profile.consents.items():
        fields[f"consent:{group_id}"] = orjson.dumps({
            "granted": consent.granted, "at": consent.at.isoformat(), "source": consent.source,
            "staff_id": consent.staff_id}).decode()
    for group_id, staff in profile.staff_groups.items():
        fields[f"staff:{group_id}"] = orjson.dumps({
            "member": staff.member, "at": staff.at.isoformat(), "source": staff.source,
            "staff_id": staff.staff_id}).decode()
    return fields


def details_commands(keys: KeySpace, subject: str, before: dict[str, str], after: dict[str, str],
                     deleted: bool) -> list[Command]:
    """Only what changed: HSET new or changed fields, HDEL gone ones, DEL on erasure."""
    if not subject.startswith("c:"):
        return []
    key = keys.details(subject)
    if deleted:
        return [("DEL", key)] if before or after else []
    commands: list[Command] = []
    changed = [(k, v) for k, v in sorted(after.items()) if before.get(k) != v]
    if changed:
        commands.append(("HSET", key, *[part for pair in changed for part in pair]))
    gone = sorted(set(before) - set(after))
    if gone:
        commands.append(("HDEL", key, *gone))
    return commands
