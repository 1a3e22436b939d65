"""Read side of devices."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from app.core.context import Info, viewer_of
from app.core.ids import decode_arg
from app.core.inputs import provided
from app.core.pagination import (
    Connection,
    OrderDirection,
    OrderKey,
    PageArgs,
    paginate,
    paginate_nested,
)
from app.core.scope import visible
from app.devices import models
from app.devices.types import (
    DectBase,
    DectBaseFilter,
    Phone,
    PhoneFilter,
    PhoneModel,
    PhoneModelFilter,
    PhoneOrder,
    PhoneOrderField,
    PhoneTemplate,
)

# Stands in for "never provisioned" so the keyset compares (NULLs sort first ascending).
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)
_MAC_SEARCH = re.compile(r"^[0-9A-Fa-f:.\-]+$")


def _search(qs: QuerySet, text: str | None) -> QuerySet:
    if not text or not text.strip():
        return qs
    text = text.strip()
    cond = Q(name__icontains=text)
    if _MAC_SEARCH.match(text):
        digits = re.sub(r"[^0-9A-Fa-f]", "", text).upper()
        if digits:
            cond = cond | Q(mac__contains=digits)
    return qs.filter(cond)


def filter_phones(qs: QuerySet[models.Phone], f: PhoneFilter | None) -> QuerySet[models.Phone]:
    if f is None:
        return qs
    if f.company_id is not None:
        qs = qs.filter(company_id=decode_arg(f.company_id, "Company", "filter.companyId"))
    if f.status is not None:
        qs = qs.filter(status=models.PhoneStatus(f.status))
    if f.vendor:
        qs = qs.filter(model__vendor__iexact=f.vendor.strip())
    if f.model:
        qs = qs.filter(model__name__iexact=f.model.strip())
    return _search(qs, f.search)


def _phone_order(order: PhoneOrder | None) -> list[OrderKey]:
    if order is None:
        return [OrderKey("mac")]
    desc = order.direction == OrderDirection.DESC
    if order.field == PhoneOrderField.NAME:
        return [OrderKey("name", desc, null_as=""), OrderKey("mac", desc)]
    if order.field == PhoneOrderField.CREATED_AT:
        return [OrderKey("created_at", desc, null_as=_NEVER)]
    if order.field == PhoneOrderField.LAST_PROVISIONED_AT:
        return [OrderKey("last_provisioned_at", desc, null_as=_NEVER)]
    return [OrderKey("mac", desc)]


async def phones(
    info: Info,
    args: PageArgs,
    filter: PhoneFilter | None = None,
    order_by: PhoneOrder | None = None,
) -> Connection[Phone]:
    qs = filter_phones(visible(models.Phone, viewer_of(info)), filter)
    return await paginate(qs, args, _phone_order(order_by), Phone.from_model)


async def company_phones(
    info: Info,
    company_id: int,
    *,
    first: int | None = None,
    after: str | None = None,
    filter: PhoneFilter | None = None,
) -> Connection[Phone]:
    """A company's phones (``Company.phones``), by MAC.

    One query loads the page of every company of the page (per filter and page
    arguments), so a list of companies costs the same number of queries whatever its
    length, and reads only the phones it returns.
    """
    viewer = viewer_of(info)
    args = PageArgs(first, after)

    async def load(company_ids: list[int]) -> list[Connection[Phone]]:
        qs = filter_phones(visible(models.Phone, viewer), filter)
        return await paginate_nested(
            qs, "company_id", company_ids, args, [OrderKey("mac")], Phone.from_model
        )

    key = (
        "company_phones",
        tuple(sorted((k, str(v)) for k, v in provided(filter).items())),
        args,
    )
    return await info.context.loaders.get(key, load).load(company_id)


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
        qs = _search(qs, filter.search)
    return await paginate(qs, args, [OrderKey("name"), OrderKey("mac")], DectBase.from_model)
