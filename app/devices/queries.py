"""Devices: the query fields and the reads behind them, always through the scope."""

from __future__ import annotations

import strawberry

from app.core.context import Info, viewer_of
from app.core.ids import decode_arg
from app.core.lookahead import load_ahead_connection
from app.core.pagination import (
    Connection,
    OrderKey,
    PageArgs,
    paginate,
)
from app.core.scalars import MacAddress
from app.core.scope import visible
from app.core.validation import argument_text
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
from app.devices.types import (
    DectBase,
    Phone,
    PhoneModel,
    PhoneTemplate,
)
from app.devices.validation import TEMPLATE_FILENAME_MAX


async def _phones(
    info: Info,
    args: PageArgs,
    filter: PhoneFilter | None = None,
    order_by: PhoneOrder | None = None,
) -> Connection[Phone]:
    qs = filter_phones(visible(models.Phone, viewer_of(info)), filter)
    page = await paginate(qs, args, phone_order(order_by), Phone.from_model)
    await load_ahead_connection(info, [node.row for node in page.nodes])
    return page


async def _phone(info: Info, mac: str) -> Phone | None:
    row = await visible(models.Phone, viewer_of(info)).get_or_none(mac=mac)
    return Phone.from_model(row) if row else None


async def _phone_models(info: Info, filter: PhoneModelFilter | None = None) -> list[PhoneModel]:
    qs = visible(models.PhoneModel, viewer_of(info))
    if filter is not None:
        if vendor := argument_text(filter.vendor, 64, "filter.vendor"):
            qs = qs.filter(vendor__iexact=vendor)
        if filter.is_dect is not None:
            qs = qs.filter(is_dect=filter.is_dect)
    return [PhoneModel.from_model(r) for r in await qs.order_by("vendor", "name")]


async def _phone_templates(info: Info) -> list[PhoneTemplate]:
    rows = await visible(models.PhoneTemplate, viewer_of(info)).order_by("filename")
    return [PhoneTemplate.from_model(r) for r in rows]


async def _phone_template(info: Info, filename: str) -> PhoneTemplate | None:
    argument_text(filename, TEMPLATE_FILENAME_MAX, "filename")
    row = await visible(models.PhoneTemplate, viewer_of(info)).get_or_none(filename=filename)
    return PhoneTemplate.from_model(row) if row else None


async def _dect_bases(
    info: Info, args: PageArgs, filter: DectBaseFilter | None = None
) -> Connection[DectBase]:
    qs = visible(models.DectBase, viewer_of(info))
    if filter is not None:
        if filter.company_id is not None:
            qs = qs.filter(company_id=decode_arg(filter.company_id, "Company", "filter.companyId"))
        qs = search_name_or_mac(qs, filter.search)
    return await paginate(qs, args, [OrderKey("name"), OrderKey("mac")], DectBase.from_model)


@strawberry.type
class DevicesQuery:
    @strawberry.field(description="Phones the caller may see.")
    async def phones(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: PhoneFilter | None = None,
        order_by: PhoneOrder | None = None,
    ) -> Connection[Phone]:
        return await _phones(info, PageArgs(first, after, last, before), filter, order_by)

    @strawberry.field(description="A phone by MAC (null if unknown or not visible).")
    async def phone(self, info: Info, mac: MacAddress) -> Phone | None:
        return await _phone(info, mac)

    @strawberry.field(description="The model catalogue.")
    async def phone_models(
        self, info: Info, filter: PhoneModelFilter | None = None
    ) -> list[PhoneModel]:
        return await _phone_models(info, filter)

    @strawberry.field(description="Config templates, by filename (administrators).")
    async def phone_templates(self, info: Info) -> list[PhoneTemplate]:
        return await _phone_templates(info)

    @strawberry.field(description="A config template by filename (null if unknown).")
    async def phone_template(self, info: Info, filename: str) -> PhoneTemplate | None:
        return await _phone_template(info, filename)

    @strawberry.field(description="DECT bases the caller may see, by name.")
    async def dect_bases(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: DectBaseFilter | None = None,
    ) -> Connection[DectBase]:
        return await _dect_bases(info, PageArgs(first, after, last, before), filter)
