"""Tenancy and access: queries and mutations."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from app.core import models, service
from app.core.auth import in_force
from app.core.context import Info, viewer_of
from app.core.errors import forbidden, returns_user_errors
from app.core.ids import decode_arg, to_global_id
from app.core.inputs import provided
from app.core.lookahead import load_ahead_connection
from app.core.node import Node, resolve_nodes
from app.core.pagination import Connection, OrderKey, PageArgs, paginate
from app.core.scope import visible
from app.core.types import (
    ApiToken,
    ApiTokenCreatePayload,
    ApiTokenFilter,
    ApiTokenInput,
    Company,
    CompanyInput,
    CompanyPayload,
    DeletePayload,
    Role,
    Viewer,
)

MAX_NODES = 100


@strawberry.type
class CoreQuery:
    @strawberry.field(description="Any object by its global ID (null if unknown or not visible).")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return (await resolve_nodes([id], viewer_of(info), info.context.loaders))[0]

    @strawberry.field(description=f"Objects by global ID, in order (at most {MAX_NODES}).")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        from app.core.errors import BadRequestError

        if len(ids) > MAX_NODES:
            raise BadRequestError(f"At most {MAX_NODES} ids at once.")
        return await resolve_nodes(list(ids), viewer_of(info), info.context.loaders)

    @strawberry.field(description="Who is calling.")
    def viewer(self, info: Info) -> Viewer:
        v = viewer_of(info)
        return Viewer(
            role=Role(v.role.value),
            token_name=v.token_name,
            company_id_=v.company_id,
            sip_user_id_=v.sip_user_id,
        )

    @strawberry.field(description="Companies the caller may see.")
    async def companies(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Company]:
        page = await paginate(
            visible(models.Company, viewer_of(info)),
            PageArgs(first, after, last, before),
            [OrderKey("name")],
            Company.from_model,
        )
        await load_ahead_connection(info, [node.row for node in page.nodes])
        return page

    @strawberry.field(
        description="API tokens, newest first (admins): system admins see every token, "
        "company admins their company's. USER tokens are refused (FORBIDDEN)."
    )
    async def api_tokens(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: ApiTokenFilter | None = None,
    ) -> Connection[ApiToken]:
        viewer = viewer_of(info)
        if viewer.role == models.Role.USER:
            raise forbidden("Only admins may list API tokens.")
        qs = visible(models.ApiToken, viewer)
        if filter is not None:
            if filter.company_id is not None:
                qs = qs.filter(
                    company_id=decode_arg(filter.company_id, "Company", "filter.companyId")
                )
            if filter.active is not None:
                working = in_force(datetime.now(UTC))
                qs = qs.filter(working if filter.active else ~working)
        # Ids grow with every insert: newest first without comparing timestamps.
        return await paginate(
            qs,
            PageArgs(first, after, last, before),
            [OrderKey("id", descending=True)],
            ApiToken.from_model,
        )


@strawberry.type
class CoreMutation:
    @strawberry.mutation(description="Create a company (system admins).")
    @returns_user_errors(CompanyPayload)
    async def company_create(self, info: Info, input: CompanyInput) -> CompanyPayload:
        row = await service.company_create(viewer_of(info), provided(input))
        return CompanyPayload(company=Company.from_model(row))

    @strawberry.mutation(description="Rename a company (system admins).")
    @returns_user_errors(CompanyPayload)
    async def company_update(
        self, info: Info, id: strawberry.ID, input: CompanyInput
    ) -> CompanyPayload:
        row = await service.company_update(viewer_of(info), id, provided(input))
        return CompanyPayload(company=Company.from_model(row))

    @strawberry.mutation(description="Delete a company with nothing left in it (system admins).")
    @returns_user_errors(DeletePayload)
    async def company_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        pk = await service.company_delete(viewer_of(info), id)
        return DeletePayload(deleted_id=strawberry.ID(to_global_id("Company", pk)))

    @strawberry.mutation(
        description="Give a company a new provisioning key; phones must use the new one."
    )
    @returns_user_errors(CompanyPayload)
    async def company_provisioning_key_regenerate(
        self, info: Info, id: strawberry.ID
    ) -> CompanyPayload:
        row = await service.provisioning_key_regenerate(viewer_of(info), id)
        return CompanyPayload(company=Company.from_model(row))

    @strawberry.mutation(description="Create an API token. Its secret is returned this once.")
    @returns_user_errors(ApiTokenCreatePayload)
    async def api_token_create(self, info: Info, input: ApiTokenInput) -> ApiTokenCreatePayload:
        row, secret = await service.api_token_create(viewer_of(info), provided(input))
        return ApiTokenCreatePayload(token=secret, api_token=ApiToken.from_model(row))

    @strawberry.mutation(description="Revoke an API token; it stops working at once.")
    @returns_user_errors(DeletePayload)
    async def api_token_revoke(self, info: Info, id: strawberry.ID) -> DeletePayload:
        pk = await service.api_token_revoke(viewer_of(info), id)
        return DeletePayload(deleted_id=strawberry.ID(to_global_id("ApiToken", pk)))
