"""Devices: the query fields (to join queries.py)."""

from __future__ import annotations

import strawberry

from app.core.context import Info
from app.core.pagination import Connection, PageArgs
from app.core.scalars import MacAddress
from app.devices import queries
from app.devices.filters import DectBaseFilter, PhoneFilter, PhoneModelFilter, PhoneOrder
from app.devices.types import (
    DectBase,
    Phone,
    PhoneModel,
    PhoneTemplate,
)


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
        return await queries.phones(info, PageArgs(first, after, last, before), filter, order_by)

    @strawberry.field(description="A phone by MAC (null if unknown or not visible).")
    async def phone(self, info: Info, mac: MacAddress) -> Phone | None:
        return await queries.phone(info, mac)

    @strawberry.field(description="The model catalogue.")
    async def phone_models(
        self, info: Info, filter: PhoneModelFilter | None = None
    ) -> list[PhoneModel]:
        return await queries.phone_models(info, filter)

    @strawberry.field(description="Config templates, by filename (administrators).")
    async def phone_templates(self, info: Info) -> list[PhoneTemplate]:
        return await queries.phone_templates(info)

    @strawberry.field(description="A config template by filename (null if unknown).")
    async def phone_template(self, info: Info, filename: str) -> PhoneTemplate | None:
        return await queries.phone_template(info, filename)

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
        return await queries.dect_bases(info, PageArgs(first, after, last, before), filter)
