"""GraphQL types of phone profiles (to be completed by the profiles/deploy issue)."""

from __future__ import annotations

import strawberry

from app.core.ids import to_global_id
from app.core.node import Node, register_node
from app.profiles import models


@strawberry.type(description="A user's full Cisco SEP<MAC>.cnf.xml, deployable to any desk phone.")
class PhoneProfile(Node):
    id: strawberry.ID
    name: str
    row: strawberry.Private[models.PhoneProfile]

    @classmethod
    def from_model(cls, row: models.PhoneProfile) -> PhoneProfile:
        return cls(id=strawberry.ID(to_global_id("PhoneProfile", row.id)), name=row.name, row=row)


register_node("PhoneProfile", models.PhoneProfile, PhoneProfile.from_model)
