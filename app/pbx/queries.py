"""Hosted PBX: the query fields and the reads behind them, always through the scope."""

from __future__ import annotations

import strawberry
from tortoise.models import Model

from app.core.context import Info, viewer_of
from app.core.ids import decode_arg, parse_global_id
from app.core.pagination import Connection, OrderKey, PageArgs, paginate
from app.core.scope import get_visible, visible
from app.pbx import models
from app.pbx.filters import UserQuery, domain_filter_q
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


async def _sip_domains(
    info: Info, args: PageArgs, filter: SipDomainFilter | None
) -> Connection[SipDomain]:
    qs = visible(models.SipDomain, viewer_of(info)).filter(domain_filter_q(filter))
    return await paginate(qs, args, [OrderKey("name")], SipDomain.from_model)


async def _sip_users(
    info: Info,
    args: PageArgs,
    domain_id: str | None,
    filter: SipUserFilter | None,
    order_by: SipUserOrder | None,
) -> Connection[SipUser]:
    query = UserQuery.parse(filter, order_by)
    qs = visible(models.SipUser, viewer_of(info))
    if domain_id is not None:
        qs = qs.filter(domain_id=decode_arg(domain_id, "SipDomain", "domainId"))
    return await paginate(query.apply(qs), args, query.order_keys(), SipUser.from_model)


async def _one(info: Info, model: type[Model], type_name: str, id: str) -> Model | None:
    """The visible object behind ``id``; like ``node``, null for any other id."""
    parsed = parse_global_id(id)
    if parsed is None or parsed[0] != type_name:
        return None
    return await get_visible(model, viewer_of(info), parsed[1])


async def _sip_domain(info: Info, id: str) -> SipDomain | None:
    row = await _one(info, models.SipDomain, "SipDomain", id)
    return SipDomain.from_model(row) if row else None  # type: ignore[arg-type]


async def _sip_user(info: Info, id: str) -> SipUser | None:
    row = await _one(info, models.SipUser, "SipUser", id)
    return SipUser.from_model(row) if row else None  # type: ignore[arg-type]


async def _sip_group(info: Info, id: str) -> SipGroup | None:
    row = await _one(info, models.SipGroup, "SipGroup", id)
    return SipGroup.from_model(row) if row else None  # type: ignore[arg-type]


async def _sip_queue(info: Info, id: str) -> SipQueue | None:
    row = await _one(info, models.SipQueue, "SipQueue", id)
    return SipQueue.from_model(row) if row else None  # type: ignore[arg-type]


async def _trusted_network(info: Info, id: str) -> TrustedNetwork | None:
    row = await _one(info, models.TrustedNetwork, "TrustedNetwork", id)
    return TrustedNetwork.from_model(row) if row else None  # type: ignore[arg-type]


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
        return await _sip_domains(info, PageArgs(first, after, last, before), filter)

    @strawberry.field(description="One SIP domain (null if unknown or not visible).")
    async def sip_domain(self, info: Info, id: strawberry.ID) -> SipDomain | None:
        return await _sip_domain(info, id)

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
        return await _sip_users(
            info, PageArgs(first, after, last, before), domain_id, filter, order_by
        )

    @strawberry.field(description="One SIP user (null if unknown or not visible).")
    async def sip_user(self, info: Info, id: strawberry.ID) -> SipUser | None:
        return await _sip_user(info, id)

    @strawberry.field(description="One SIP group (null if unknown or not visible).")
    async def sip_group(self, info: Info, id: strawberry.ID) -> SipGroup | None:
        return await _sip_group(info, id)

    @strawberry.field(description="One SIP queue (null if unknown or not visible).")
    async def sip_queue(self, info: Info, id: strawberry.ID) -> SipQueue | None:
        return await _sip_queue(info, id)

    @strawberry.field(description="One trusted network (null if unknown or not visible).")
    async def trusted_network(self, info: Info, id: strawberry.ID) -> TrustedNetwork | None:
        return await _trusted_network(info, id)
