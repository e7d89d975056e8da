"""The admin API's endpoints: thin Faust views over :class:`AdminService`.

Views only translate HTTP (path, query, body, status codes); what they do is
in :mod:`pipeline.admin.service`. Errors are raised as :class:`ApiError` and
rendered by the middleware (:mod:`pipeline.admin.http`); Faust's own errors
(e.g. 503 from ``table_route`` while partitions are unassigned) use the same
shape through :meth:`AdminView.error`.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, ClassVar

from aiohttp import web
from faust.web import Request, Response, View

from pipeline.admin import members_csv
from pipeline.admin.http import json_response, read_json_object
from pipeline.admin.openapi import build_spec
from pipeline.admin.service import AdminService
from pipeline.admin.validation import parse_page, parse_subject


class AdminView(View):
    """Base of every admin view: carries the service, renders Faust errors as ours."""

    service: ClassVar[AdminService]

    def error(self, status: int, reason: str, headers: MutableMapping | None = None,
              **kwargs: Any) -> Response:
        return self.json({"error": reason, "details": kwargs or None}, status=status, headers=headers)


class GroupsView(AdminView):
    async def get(self, request: Request) -> Any:
        """The Customer Groups table."""
        return json_response({"groups": await self.service.list_groups()})

    async def post(self, request: Request) -> Any:
        """Create a group (published to the definitions topic)."""
        created = await self.service.create_group(await read_json_object(request))  # type: ignore[arg-type]  # Faust's Request is aiohttp's underneath
        return json_response(created, 201, {"Location": f"/api/groups/{created['id']}"})


class DryRunView(AdminView):
    async def post(self, request: Request) -> Any:
        """Count who a draft dynamic group would take in, over every worker's live profiles."""
        body = await read_json_object(request)  # type: ignore[arg-type]  # Faust's Request is aiohttp's underneath
        return json_response(await self.service.dry_run(body, request.query.get("scope", "all")))


class GroupView(AdminView):
    async def get(self, request: Request, group_id: str) -> Any:
        """The definition, counts and a page of customers."""
        cursor, count = parse_page(request.query)
        return json_response(await self.service.group_detail(group_id, cursor, count))

    async def put(self, request: Request, group_id: str) -> Any:
        """Replace a group's definition."""
        body = await read_json_object(request)  # type: ignore[arg-type]  # Faust's Request is aiohttp's underneath
        return json_response(await self.service.update_group(group_id, body))

    async def delete(self, request: Request, group_id: str) -> Any:
        """Delete a group (a tombstone; workers drop it from Redis)."""
        await self.service.delete_group(group_id)
        return web.Response(status=204)


class MembersCsvView(AdminView):
    async def get(self, request: Request, group_id: str) -> Any:
        """Stream every customer of the group as CSV, neutralised against spreadsheet formulas."""
        self.service.group(group_id)  # 404 before any byte is sent
        headers = {"Content-Type": "text/csv; charset=utf-8",
                   "Content-Disposition": f'attachment; filename="{members_csv.filename(group_id)}"'}
        if request.method == "HEAD":  # Faust answers HEAD with get(): headers only
            return web.Response(headers=headers)
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)  # type: ignore[arg-type]  # Faust's Request is aiohttp's underneath
        await response.write(members_csv.render([], header=True).encode())
        async for rows in self.service.member_rows(group_id):
            await response.write(members_csv.render(rows).encode())
        await response.write_eof()
        return response


class MembersView(AdminView):
    async def post(self, request: Request, group_id: str) -> Any:
        """Staff add a customer to a private group: a staff_membership event, applied shortly."""
        body = await read_json_object(request)  # type: ignore[arg-type]  # Faust's Request is aiohttp's underneath
        return json_response(await self.service.add_member(group_id, body), 202)


class MemberView(AdminView):
    async def delete(self, request: Request, group_id: str, customer_id: str) -> Any:
        """Staff remove a customer from a private group."""
        query = dict(request.query)
        return json_response(await self.service.remove_member(group_id, customer_id, query), 202)


class ExplainView(AdminView):
    # register_admin wraps get in app.table_route: the worker owning the subject answers.
    async def get(self, request: Request, subject: str) -> Any:
        """Why the subject is (not) in each group, from its live profile."""
        group = request.query.get("group") or None
        return json_response(self.service.explain(parse_subject(subject), group))


class PublicGroupsView(AdminView):
    async def get(self, request: Request) -> Any:
        """The registration form's opt-ins (no token: the storefront calls it)."""
        return json_response({"groups": self.service.public_groups()})


class EraseView(AdminView):
    async def post(self, request: Request, customer_id: str) -> Any:
        """GDPR erasure: an erasure event; the pipeline forgets the customer shortly."""
        body = await read_json_object(request)  # type: ignore[arg-type]  # Faust's Request is aiohttp's underneath
        return json_response(await self.service.erase(customer_id, body), 202)


class OpenApiView(AdminView):
    async def get(self, request: Request) -> Any:
        """This API's OpenAPI 3.1 description (no token)."""
        return json_response(build_spec())


#: Every admin route, in registration order (the fixed dry-run path before ``{group_id}``).
ROUTES: tuple[tuple[str, type[AdminView]], ...] = (
    ("/api/groups", GroupsView),
    ("/api/groups/dry-run", DryRunView),
    ("/api/groups/{group_id}", GroupView),
    ("/api/groups/{group_id}/members.csv", MembersCsvView),
    ("/api/groups/{group_id}/members", MembersView),
    ("/api/groups/{group_id}/members/{customer_id}", MemberView),
    ("/api/subjects/{subject}/explain", ExplainView),
    ("/api/public-groups", PublicGroupsView),
    ("/api/customers/{customer_id}/erase", EraseView),
    ("/api/openapi.json", OpenApiView),
)
