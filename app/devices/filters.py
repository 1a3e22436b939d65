"""Filters and orders of device lists."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import strawberry
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from app.core.ids import decode_arg
from app.core.pagination import OrderDirection, OrderKey
from app.core.validation import argument_text, search_text
from app.devices import models
from app.devices.enums import PhoneOrderField, PhoneStatus


@strawberry.input(description="Which catalogue models to list.")
class PhoneModelFilter:
    vendor: str | None = strawberry.field(default=None, description="Vendor, any case.")
    is_dect: bool | None = None


@strawberry.input(description="Which phones to list.")
class PhoneFilter:
    company_id: strawberry.ID | None = None
    status: PhoneStatus | None = None
    vendor: str | None = strawberry.field(default=None, description="Model vendor, any case.")
    model: str | None = strawberry.field(default=None, description='Model name, e.g. "8845".')
    search: str | None = strawberry.field(
        default=None, description="Part of the name (any case) or of the MAC (any form)."
    )
    online: bool | None = strawberry.field(
        default=None,
        description="Phones found up (true) or down (false) by presence probes; phones "
        "never probed match neither.",
    )


# Fields of PhoneFilter whose meaning a domain above owns (presence: ``online``): that
# domain registers how the field narrows the phones, in SQL; devices only declares it.
PhoneFilterPart = Callable[[QuerySet[models.Phone], Any], QuerySet[models.Phone]]
_FILTER_PARTS: dict[str, PhoneFilterPart] = {}


def extend_phone_filter(field: str, apply: PhoneFilterPart) -> None:
    """Make ``PhoneFilter.<field>`` (declared above) narrow phones with ``apply(qs, value)``."""
    if field not in PhoneFilter.__dataclass_fields__:  # type: ignore[attr-defined]
        raise ValueError(f"PhoneFilter has no field {field!r}")
    _FILTER_PARTS[field] = apply


@strawberry.input(description="Sort order of phones (MAC breaks ties).")
class PhoneOrder:
    field: PhoneOrderField
    direction: OrderDirection | None = OrderDirection.ASC


@strawberry.input(description="Which DECT bases to list.")
class DectBaseFilter:
    company_id: strawberry.ID | None = None
    search: str | None = strawberry.field(
        default=None, description="Part of the name (any case) or of the MAC (any form)."
    )


# Stands in for "never provisioned" so the keyset compares (NULLs sort first ascending).
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)


_MAC_SEARCH = re.compile(r"^[0-9A-Fa-f:.\-]+$")


def search_name_or_mac(qs: QuerySet, text: str | None) -> QuerySet:
    """Rows whose name holds ``text`` (any case), or whose MAC holds its hex digits."""
    text = search_text(text)
    if text is None:
        return qs
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
    if vendor := argument_text(f.vendor, 64, "filter.vendor"):
        qs = qs.filter(model__vendor__iexact=vendor)
    if model := argument_text(f.model, 64, "filter.model"):
        qs = qs.filter(model__name__iexact=model)
    for field, apply in _FILTER_PARTS.items():
        value = getattr(f, field)
        if value is not None:
            qs = apply(qs, value)
    return search_name_or_mac(qs, f.search)


def phone_order(order: PhoneOrder | None) -> list[OrderKey]:
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
