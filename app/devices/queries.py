"""Read side of devices."""

from __future__ import annotations

from app.core.context import Info, viewer_of
from app.core.ids import decode_arg
from app.core.pagination import (
    Connection,
    OrderKey,
    PageArgs,
    paginate,
)
from app.core.scope import visible
from app.devices import models
from app.devices.filters import (
    DectBaseFilter,
    PhoneFilter,
    PhoneModelFilter,
    PhoneOrder,
    filter_phones,
    phone_order,
    search_name_or_mac,
)
from app.devices.types import DectBase, Phone, PhoneModel, PhoneTemplate


async def phones(
    info: Info,
    args: PageArgs,
    filter: PhoneFilter | None = None,
    order_by: PhoneOrder | None = None,
) -> Connection[Phone]:
    qs = filter_phones(visible(models.Phone, viewer_of(info)), filter)
    return await paginate(qs, args, phone_order(order_by), Phone.from_model)


async def phone(info: Info, mac: str) -> Phone | None:
    row = await visible(models.Phone, viewer_of(info)).get_or_none(mac=mac)
    return Phone.from_model(row) if row else None


async def phone_models(info: Info, filter: PhoneModelFilter | None = None) -> list[PhoneModel]:
    qs = visible(models.PhoneModel, viewer_of(info))
    if filter is not None:
        if filter.vendor:
            qs = qs.filter(vendor__iexact=filter.vendor.strip())
        if filter.is_dect is not None:
            qs = qs.filter(is_dect=filter.is_dect)
    return [PhoneModel.from_model(r) for r in await qs.order_by("vendor", "name")]


async def phone_templates(info: Info) -> list[PhoneTemplate]:
    rows = await visible(models.PhoneTemplate, viewer_of(info)).order_by("filename")
    return [PhoneTemplate.from_model(r) for r in rows]


async def phone_template(info: Info, filename: str) -> PhoneTemplate | None:
    row = await visible(models.PhoneTemplate, viewer_of(info)).get_or_none(filename=filename)
    return PhoneTemplate.from_model(row) if row else None


async def dect_bases(
    info: Info, args: PageArgs, filter: DectBaseFilter | None = None
) -> Connection[DectBase]:
    qs = visible(models.DectBase, viewer_of(info))
    if filter is not None:
        if filter.company_id is not None:
            qs = qs.filter(company_id=decode_arg(filter.company_id, "Company", "filter.companyId"))
        qs = search_name_or_mac(qs, filter.search)
    return await paginate(qs, args, [OrderKey("name"), OrderKey("mac")], DectBase.from_model)
