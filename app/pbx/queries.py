"""Read side of the hosted PBX."""

from __future__ import annotations

from app.core.context import Info, viewer_of
from app.core.pagination import Connection, OrderKey, PageArgs, paginate
from app.core.scope import visible
from app.pbx import models
from app.pbx.types import SipDomain


async def company_sip_domains(
    info: Info, company_id: int, *, first: int | None = None, after: str | None = None
) -> Connection[SipDomain]:
    qs = visible(models.SipDomain, viewer_of(info)).filter(company_id=company_id)
    return await paginate(qs, PageArgs(first, after), [OrderKey("name")], SipDomain.from_model)
