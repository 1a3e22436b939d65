"""Filters and orders of device lists."""

from __future__ import annotations

import strawberry

from app.core.pagination import OrderDirection
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
