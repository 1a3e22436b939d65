"""Hosted PBX: the query fields (to join queries.py)."""

from __future__ import annotations

import strawberry

from app.core.context import Info
from app.core.pagination import Connection, PageArgs
from app.pbx import queries
from app.pbx.inputs import (
    SipDomainFilter,
    SipUserFilter,
    SipUserOrder,
)
from app.pbx.types import (
    SipDomain,
    SipGroup,
    SipQueue,
    SipUser,
    TrustedNetwork,
)


@strawberry.type
class PbxQuery:
    @strawberry.field(description="SIP domains the caller may see, by name.")
    async def sip_domains(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: SipDomainFilter | None = None,
    ) -> Connection[SipDomain]:
        return await queries.sip_domains(info, PageArgs(first, after, last, before), filter)

    @strawberry.field(description="One SIP domain (null if unknown or not visible).")
    async def sip_domain(self, info: Info, id: strawberry.ID) -> SipDomain | None:
        return await queries.sip_domain(info, id)

    @strawberry.field(
        description="SIP users the caller may see, across domains or in one (default order: "
        "username)."
    )
    async def sip_users(
        self,
        info: Info,
        domain_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: SipUserFilter | None = None,
        order_by: SipUserOrder | None = None,
    ) -> Connection[SipUser]:
        return await queries.sip_users(
            info, PageArgs(first, after, last, before), domain_id, filter, order_by
        )

    @strawberry.field(description="One SIP user (null if unknown or not visible).")
    async def sip_user(self, info: Info, id: strawberry.ID) -> SipUser | None:
        return await queries.sip_user(info, id)

    @strawberry.field(description="One SIP group (null if unknown or not visible).")
    async def sip_group(self, info: Info, id: strawberry.ID) -> SipGroup | None:
        return await queries.sip_group(info, id)

    @strawberry.field(description="One SIP queue (null if unknown or not visible).")
    async def sip_queue(self, info: Info, id: strawberry.ID) -> SipQueue | None:
        return await queries.sip_queue(info, id)

    @strawberry.field(description="One trusted network (null if unknown or not visible).")
    async def trusted_network(self, info: Info, id: strawberry.ID) -> TrustedNetwork | None:
        return await queries.trusted_network(info, id)
