"""What the admin endpoints do, apart from HTTP: groups, members, definitions, live profiles.

Reads come from the state this worker already holds: the live group registry
(the definitions topic as every worker sees it), Redis for membership, and the
profile table for explanations and dry runs. Changes to definitions go to the
definitions topic exactly as ``customer-groups rules apply`` does (diff against
the topic, publish the difference), and changes to customers go to the events
topic as events (:mod:`pipeline.admin.commands`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Protocol

from pipeline.admin import members_csv
from pipeline.admin.commands import EventProducer, erasure_event, staff_membership_event
from pipeline.admin.http import ApiError
from pipeline.admin.validation import (
    ErasureRequest,
    StaffMembershipRequest,
    StaffRemovalQuery,
    compile_draft,
    introduced_problems,
    parse_definition,
    parse_identifier,
    parse_model,
    rule_error_details,
)
from pipeline.definitions.diff import diff
from pipeline.definitions.topic import publish, read_definitions
from pipeline.profile import ProfilePolicy
from pipeline.profile.stored import unpack
from pipeline.registry import GroupRegistry
from pipeline.rules import CompiledGroup, evaluate, matches
from pipeline.settings import Settings
from pipeline.store.connection import AsyncRedis
from pipeline.store.keys import KeySpace
from schemas.groups import GroupDefinition


class StoredProfiles(Protocol):
    """The worker's profile table, read only."""

    def raw(self, subject: str) -> bytes | None: ...

    def stored_subjects(self) -> list[str]: ...


class WorkerView(Protocol):
    """What the admin API reads of the worker that serves it (:class:`pipeline.stream.worker.Worker`)."""

    settings: Settings
    policy: ProfilePolicy
    keys: KeySpace
    redis: AsyncRedis

    @property
    def registry(self) -> GroupRegistry: ...

    @property
    def profiles(self) -> StoredProfiles: ...

    def now(self) -> datetime: ...

    def ready(self) -> bool:
        """Definitions read and no rebalance under way."""
        ...

    def owned_partitions(self) -> list[int]:
        """The profile partitions this worker owns."""
        ...

    def peers(self) -> dict[str, list[int]]:
        """The other workers of the group: advertised URL -> the profile partitions each owns."""
        ...

log = logging.getLogger(__name__)
APPLY_WAIT_SECONDS = 10.0
SCAN_CHUNK = 2000
PEER_TIMEOUT_SECONDS = 120.0
CSV_CHUNK = 500


def group_sort_key(group_id: str) -> tuple[int, int, str]:
    """CMS IDs are numbers: order 2 before 10, then any other IDs by text."""
    return (0, int(group_id), "") if group_id.isdigit() else (1, 0, group_id)


def definition_json(definition: GroupDefinition) -> dict[str, Any]:
    """A definition as the API shows and accepts it (``operator``, ``not``: the file form)."""
    return definition.model_dump(mode="json", by_alias=True, exclude_none=True)


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class AdminService:
    def __init__(self, worker: WorkerView) -> None:
        self.worker = worker
        self.producer = EventProducer(worker.settings.kafka_bootstrap, worker.settings.topic_events)
        self._definitions_lock = asyncio.Lock()  # one definition change at a time per worker

    # --- reading groups -------------------------------------------------------

    def group(self, group_id: str) -> CompiledGroup:
        group = self.worker.registry.groups.get(group_id)
        if group is None:
            raise ApiError(404, f"group {group_id} does not exist")
        return group

    def _groups(self) -> list[CompiledGroup]:
        groups = self.worker.registry.groups
        return [groups[gid] for gid in sorted(groups, key=group_sort_key)]

    async def _counts(self, group_ids: list[str]) -> dict[str, tuple[int, int]]:
        """(customers, anonymous guests) per group: SCARD of both sets, one round trip."""
        if not group_ids:
            return {}
        keys = self.worker.keys
        async with self.worker.redis.pipeline(transaction=False) as pipe:
            for gid in group_ids:
                customers, guests = keys.member_keys(gid)
                pipe.scard(customers)
                pipe.scard(guests)
            sizes = await pipe.execute()
        return {gid: (int(sizes[2 * i]), int(sizes[2 * i + 1])) for i, gid in enumerate(group_ids)}

    @staticmethod
    def _summary(group: CompiledGroup, counts: tuple[int, int]) -> dict[str, Any]:
        d = group.definition
        return {"id": d.id, "name": d.name, "type": d.type, "members": counts[0],
                "anonymous_guests": counts[1], "description": d.description}

    async def list_groups(self) -> list[dict[str, Any]]:
        """The Customer Groups page's table."""
        groups = self._groups()
        counts = await self._counts([g.id for g in groups])
        return [self._summary(g, counts[g.id]) for g in groups]

    def public_groups(self) -> list[dict[str, Any]]:
        """What the registration form offers: public groups only."""
        return [{"id": g.id, "name": g.definition.name, "description": g.definition.description}
                for g in self._groups() if g.type == "public"]

    async def group_detail(self, group_id: str, cursor: int, count: int) -> dict[str, Any]:
        """The definition, its counts and one SSCAN page of customers with their email."""
        group = self.group(group_id)
        counts = (await self._counts([group_id]))[group_id]
        customers_key = self.worker.keys.members(group_id, anonymous=False)
        next_cursor, raw_members = await self.worker.redis.sscan(customers_key, cursor=cursor, count=count)
        members = sorted(_text(m) or "" for m in raw_members)
        emails: list[Any] = []
        if members:
            async with self.worker.redis.pipeline(transaction=False) as pipe:
                for customer in members:
                    pipe.hget(self.worker.keys.details(f"c:{customer}"), "email")
                emails = await pipe.execute()
        return {**self._summary(group, counts), "definition": definition_json(group.definition),
                "members_page": [{"customer_id": c, "email": _text(e)} for c, e in zip(members, emails, strict=False)],
                "next_cursor": int(next_cursor)}

    async def member_rows(self, group_id: str) -> AsyncIterator[list[list[str | None]]]:
        """Every customer of a group with their details, in chunks (SSCAN: Redis keeps serving)."""
        self.group(group_id)
        redis, keys = self.worker.redis, self.worker.keys
        seen: set[str] = set()  # SSCAN may return an element twice
        cursor = 0
        while True:
            cursor, raw = await redis.sscan(keys.members(group_id, anonymous=False), cursor=cursor,
                                            count=CSV_CHUNK)
            batch = sorted({_text(m) or "" for m in raw} - seen)
            seen.update(batch)
            if batch:
                async with redis.pipeline(transaction=False) as pipe:
                    for customer in batch:
                        pipe.hmget(keys.details(f"c:{customer}"), list(members_csv.DETAIL_FIELDS))
                    details = await pipe.execute()
                yield [[customer, *(_text(v) for v in values)] for customer, values in zip(batch, details, strict=False)]
            if int(cursor) == 0:
                return

    # --- changing definitions ---------------------------------------------------

    async def create_group(self, data: dict[str, Any]) -> dict[str, Any]:
        definition = parse_definition(data)
        async with self._definitions_lock:
            current = await read_definitions(self.worker.settings)
            if definition.id in current:
                raise ApiError(409, f"group {definition.id} already exists",
                               "edit it with PUT /api/groups/{id}, or choose another id")
            await self._change(current, {**current, definition.id: definition})
        return definition_json(definition)

    async def update_group(self, group_id: str, data: dict[str, Any]) -> dict[str, Any]:
        definition = parse_definition(data, path_id=group_id)
        async with self._definitions_lock:
            current = await read_definitions(self.worker.settings)
            if group_id not in current:
                raise ApiError(404, f"group {group_id} does not exist")
            await self._change(current, {**current, group_id: definition})
        return definition_json(definition)

    async def delete_group(self, group_id: str) -> None:
        async with self._definitions_lock:
            current = await read_definitions(self.worker.settings)
            if group_id not in current:
                raise ApiError(404, f"group {group_id} does not exist")
            await self._change(current, {gid: d for gid, d in current.items() if gid != group_id})

    async def _change(self, before: dict[str, GroupDefinition], after: dict[str, GroupDefinition]) -> None:
        """Refuse what would break a group; publish the difference; wait until this worker has it."""
        problems = introduced_problems(before, after, self.worker.policy)
        if problems:
            raise ApiError(422, "invalid group definition", rule_error_details(problems))
        changes = diff(before, after.values())
        if changes.empty:
            return
        await publish(self.worker.settings, changes)
        log.info("admin API published: %s", "; ".join(changes.lines()))
        changed = [d.id for d in (*changes.added, *changes.changed, *changes.renamed, *changes.removed)]
        await self._wait_until_live(changed, after)

    async def _wait_until_live(self, changed: list[str], after: dict[str, GroupDefinition]) -> None:
        """Read-your-writes: the next GET on this worker shows the change (best effort, bounded)."""

        def live() -> bool:
            groups = self.worker.registry.groups
            return all((gid in groups and groups[gid].definition == after[gid]) if gid in after
                       else gid not in groups for gid in changed)

        loop = asyncio.get_running_loop()
        deadline = loop.time() + APPLY_WAIT_SECONDS
        while loop.time() < deadline:
            if live():
                return
            await asyncio.sleep(0.05)
        log.warning("admin API: a definition change was published but is not live here after %.0fs",
                    APPLY_WAIT_SECONDS)

    # --- live profiles ------------------------------------------------------------

    def _require_ready(self) -> None:
        if not self.worker.ready():
            raise ApiError(503, "the worker is starting or rebalancing: its profiles are incomplete",
                           "retry in a few seconds", {"Retry-After": "5"})

    async def dry_run(self, data: dict[str, Any], scope: str = "all") -> dict[str, Any]:
        """How many profiles a draft dynamic group would take in: this worker's and every other's.

        ``scope="local"`` counts this worker's partitions only (what a worker asks
        the others). The answer says which partitions answered, so a count taken
        while a worker is unreachable or rebalancing is never mistaken for the whole.
        """
        if scope not in ("all", "local"):
            raise ApiError(422, f"scope must be 'all' or 'local', not {scope!r}", "leave it out to count every worker")
        draft = parse_definition(data, draft=True)
        live = {gid: g.definition for gid, g in self.worker.registry.groups.items()}
        group = compile_draft(live, draft, self.worker.policy)
        self._require_ready()
        own = self.worker.owned_partitions()
        result = {**await self._count(group), "partitions": own}
        if scope == "local":
            return result
        workers = [{"url": self.worker.settings.advertised_url, "partitions": own, "answered": True}]
        peers = self.worker.peers()
        answers = await asyncio.gather(*(self._ask_peer(url, data) for url in peers))
        answered = set(own)
        for (url, partitions), (answer, error) in zip(peers.items(), answers, strict=True):
            if answer is None:
                workers.append({"url": url, "partitions": partitions, "answered": False, "error": error})
                continue
            for key in ("customers", "anonymous_guests", "profiles_scanned"):
                result[key] += answer[key]
            answered |= set(answer["partitions"])
            workers.append({"url": url, "partitions": answer["partitions"], "answered": True})
        total = self.worker.settings.topic_partitions
        result.pop("partitions")
        return {**result, "partitions_answered": len(answered), "partitions_total": total,
                "complete": len(answered) == total, "workers": workers}

    async def _ask_peer(self, url: str, data: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """Another worker's local count, or (None, why not)."""
        import aiohttp

        token = self.worker.settings.admin_token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=PEER_TIMEOUT_SECONDS)) as http, \
                    http.post(f"{url}/api/groups/dry-run", params={"scope": "local"}, json=data,
                              headers=headers) as response:
                body = await response.json(content_type=None)
                if response.status != 200:
                    return None, f"HTTP {response.status}: {body.get('error') if isinstance(body, dict) else body}"
                return body, None
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            return None, f"{type(exc).__name__}: {exc}"

    async def _count(self, group: CompiledGroup) -> dict[str, Any]:
        """The draft over the profiles this worker stores."""
        today = self.worker.policy.day_of(self.worker.now())
        profiles = self.worker.profiles
        subjects = profiles.stored_subjects()  # a snapshot: the profile stage keeps writing meanwhile
        customers = guests = scanned = 0
        for start in range(0, len(subjects), SCAN_CHUNK):
            for subject in subjects[start:start + SCAN_CHUNK]:
                stored = profiles.raw(subject)
                if stored is None:
                    continue
                profile, _ = unpack(stored)
                scanned += 1
                if matches(group, profile, today):
                    if subject.startswith("c:"):
                        customers += 1
                    else:
                        guests += 1
            await asyncio.sleep(0)  # let the stages and heartbeats run
        return {"customers": customers, "anonymous_guests": guests, "profiles_scanned": scanned}

    def explain(self, subject: str, group_id: str | None) -> dict[str, Any]:
        """The evaluator's explanation for one stored subject, for one group or all of them."""
        groups = [self.group(group_id)] if group_id else self._groups()
        self._require_ready()
        stored = self.worker.profiles.raw(subject)
        if stored is None:
            raise ApiError(404, f"no profile for {subject} on this worker",
                           "the subject has sent no events yet, or was erased")
        profile, _ = unpack(stored)
        now = self.worker.now()
        outcomes = []
        for group in groups:
            outcome = evaluate(group, profile, now, self.worker.policy).as_dict()
            outcomes.append({**outcome, "name": group.definition.name, "type": group.type})
        return {"subject": subject, "evaluated_at": now.isoformat(), "groups": outcomes}

    # --- commands about customers ---------------------------------------------------

    async def staff_membership(self, group_id: str, customer_id: str, staff_id: str, source: str,
                               action: str) -> dict[str, Any]:
        group = self.group(group_id)
        if group.type == "dynamic":
            raise ApiError(409, f"group {group_id} is dynamic: nobody can be added by hand",
                           "its rules decide who is in it")
        if group.type == "public":
            raise ApiError(409, f"group {group_id} is public: customers opt in themselves",
                           "record their consent instead (a consent event)")
        event = staff_membership_event(group_id, customer_id, staff_id, source, action,  # type: ignore[arg-type]  # action is "add" or "remove" (the request model)
                                       self.worker.now())
        await self.producer.send(event)
        return {"accepted": True, "event_id": event["event_id"], "event": event}

    async def add_member(self, group_id: str, data: dict[str, Any]) -> dict[str, Any]:
        body: StaffMembershipRequest = parse_model(StaffMembershipRequest, data, "request")
        return await self.staff_membership(group_id, body.customer_id, body.staff_id, body.source, "add")

    async def remove_member(self, group_id: str, customer_id: str, query: dict[str, str]) -> dict[str, Any]:
        customer_id = parse_identifier(customer_id, "customer_id")
        params: StaffRemovalQuery = parse_model(StaffRemovalQuery, query, "query")
        return await self.staff_membership(group_id, customer_id, params.staff_id, params.source, "remove")

    async def erase(self, customer_id: str, data: dict[str, Any]) -> dict[str, Any]:
        customer_id = parse_identifier(customer_id, "customer_id")
        body: ErasureRequest = parse_model(ErasureRequest, data, "request")
        event = erasure_event(customer_id, body.requested_by, self.worker.now())
        await self.producer.send(event)
        return {"accepted": True, "event_id": event["event_id"], "event": event}
