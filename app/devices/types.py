"""GraphQL types of devices (to be completed by the devices issue)."""

from __future__ import annotations

import strawberry

from app.core.ids import to_global_id
from app.core.node import Node, register_node
from app.core.scalars import MacAddress, format_mac
from app.devices import models


@strawberry.input(description="Which phones to list.")
class PhoneFilter:
    company_id: strawberry.ID | None = None
    search: str | None = None


@strawberry.type(description="A desk phone.")
class Phone(Node):
    id: strawberry.ID
    mac: MacAddress
    name: str | None
    row: strawberry.Private[models.Phone]

    @classmethod
    def from_model(cls, row: models.Phone) -> Phone:
        return cls(
            id=strawberry.ID(to_global_id("Phone", row.id)),
            mac=MacAddress(format_mac(row.mac)),
            name=row.name,
            row=row,
        )


register_node("Phone", models.Phone, Phone.from_model)
