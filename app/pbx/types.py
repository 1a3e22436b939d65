"""GraphQL types of the hosted PBX (to be completed by the PBX issue)."""

from __future__ import annotations

import strawberry

from app.core.ids import to_global_id
from app.core.node import Node, register_node
from app.pbx import models


@strawberry.type(description="A SIP domain: one hosted PBX of a company.")
class SipDomain(Node):
    id: strawberry.ID
    name: str
    display_name: str
    recording_enabled: bool
    row: strawberry.Private[models.SipDomain]

    @classmethod
    def from_model(cls, row: models.SipDomain) -> SipDomain:
        return cls(
            id=strawberry.ID(to_global_id("SipDomain", row.id)),
            name=row.name,
            display_name=row.display_name,
            recording_enabled=row.recording_enabled,
            row=row,
        )


register_node("SipDomain", models.SipDomain, SipDomain.from_model)


@strawberry.type(description="A SIP user (an extension) of a domain.")
class SipUser(Node):
    id: strawberry.ID
    username: str
    display_name: str
    extension_number: str
    row: strawberry.Private[models.SipUser]

    @classmethod
    def from_model(cls, row: models.SipUser) -> SipUser:
        return cls(
            id=strawberry.ID(to_global_id("SipUser", row.id)),
            username=row.username,
            display_name=row.display_name,
            extension_number=row.extension_number,
            row=row,
        )


register_node("SipUser", models.SipUser, SipUser.from_model)
