"""Read side of devices."""

from __future__ import annotations

from app.core.context import Info, viewer_of
from app.core.pagination import Connection, OrderKey, PageArgs, paginate
from app.core.scope import visible
from app.devices import models
from app.devices.types import Phone, PhoneFilter


async def company_phones(
    info: Info,
    company_id: int,
    *,
    first: int | None = None,
    after: str | None = None,
    filter: PhoneFilter | None = None,
) -> Connection[Phone]:
    qs = visible(models.Phone, viewer_of(info)).filter(company_id=company_id)
    return await paginate(qs, PageArgs(first, after), [OrderKey("mac")], Phone.from_model)
