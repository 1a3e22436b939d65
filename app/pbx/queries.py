"""Read side of the hosted PBX: top-level lists and lookups, always through the scope."""

from __future__ import annotations

from tortoise.models import Model

from app.core.context import Info, viewer_of
from app.core.ids import decode_arg, parse_global_id
from app.core.pagination import Connection, OrderKey, PageArgs, paginate
from app.core.scope import get_visible, visible
from app.pbx import models
from app.pbx.filters import UserQuery, domain_filter_q
from app.pbx.inputs import SipDomainFilter, SipUserFilter, SipUserOrder
from app.pbx.types import SipDomain, SipGroup, SipQueue, SipUser, TrustedNetwork


async def sip_domains(
    info: Info, args: PageArgs, filter: SipDomainFilter | None
) -> Connection[SipDomain]:
    qs = visible(models.SipDomain, viewer_of(info)).filter(domain_filter_q(filter))
    return await paginate(qs, args, [OrderKey("name")], SipDomain.from_model)


async def sip_users(
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


async def sip_domain(info: Info, id: str) -> SipDomain | None:
    row = await _one(info, models.SipDomain, "SipDomain", id)
    return SipDomain.from_model(row) if row else None  # type: ignore[arg-type]


async def sip_user(info: Info, id: str) -> SipUser | None:
    row = await _one(info, models.SipUser, "SipUser", id)
    return SipUser.from_model(row) if row else None  # type: ignore[arg-type]


async def sip_group(info: Info, id: str) -> SipGroup | None:
    row = await _one(info, models.SipGroup, "SipGroup", id)
    return SipGroup.from_model(row) if row else None  # type: ignore[arg-type]


async def sip_queue(info: Info, id: str) -> SipQueue | None:
    row = await _one(info, models.SipQueue, "SipQueue", id)
    return SipQueue.from_model(row) if row else None  # type: ignore[arg-type]


async def trusted_network(info: Info, id: str) -> TrustedNetwork | None:
    row = await _one(info, models.TrustedNetwork, "TrustedNetwork", id)
    return TrustedNetwork.from_model(row) if row else None  # type: ignore[arg-type]
