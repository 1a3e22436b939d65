"""GraphQL types of tenancy and access: companies, API tokens, the viewer."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from app.core import models
from app.core.context import Info, loaders_of, viewer_of
from app.core.crypto import decrypt
from app.core.errors import UserError, payload_type
from app.core.ids import to_global_id
from app.core.node import Node, register_node
from app.core.scope import administers

# The storage enum doubles as the GraphQL enum.
Role = strawberry.enum(models.Role, description="What a token may do.")


@strawberry.type(description="A customer of the operator: owns SIP domains, phones, DECT bases.")
class Company(Node):
    id: strawberry.ID
    name: str
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[models.Company]

    @classmethod
    def from_model(cls, row: models.Company) -> Company:
        return cls(
            id=strawberry.ID(to_global_id("Company", row.id)),
            name=row.name,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(
        description="Secret path segment phones use to fetch their configs "
        "(GET /provisioning/{key}/{filename}). Readable by this company's admins only."
    )
    def provisioning_key(self, info: Info) -> str | None:
        if not administers(viewer_of(info), self.row.id):
            return None
        return decrypt(self.row.provisioning_key_enc)


register_node("Company", models.Company, Company.from_model)


@strawberry.type(description="An API token (its secret is never readable).")
class ApiToken(Node):
    id: strawberry.ID
    name: str
    role: Role
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None = strawberry.field(
        description="When the token stops working by itself; null: never."
    )
    revoked_at: datetime | None = strawberry.field(
        description="When the token was revoked; null: it was not. A revoked or expired "
        "token is refused, and the WebSockets open with it are closed (4403)."
    )
    row: strawberry.Private[models.ApiToken]

    @classmethod
    def from_model(cls, row: models.ApiToken) -> ApiToken:
        return cls(
            id=strawberry.ID(to_global_id("ApiToken", row.id)),
            name=row.name,
            role=Role(row.role),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            row=row,
        )

    @strawberry.field(description="Whether the token works now: neither revoked nor expired.")
    def active(self) -> bool:
        if self.row.revoked_at is not None:
            return False
        return self.row.expires_at is None or self.row.expires_at > datetime.now(UTC)

    @strawberry.field
    async def company(self, info: Info) -> Company | None:
        row = await loaders_of(info).one(models.Company, self.row.company_id)  # type: ignore[attr-defined]
        return Company.from_model(row) if row else None


register_node("ApiToken", models.ApiToken, ApiToken.from_model)


@strawberry.type(description="Who is calling.")
class Viewer:
    role: Role
    token_name: str
    company_id_: strawberry.Private[int | None]
    sip_user_id_: strawberry.Private[int | None]

    @strawberry.field
    async def company(self, info: Info) -> Company | None:
        row = await loaders_of(info).one(models.Company, self.company_id_)
        return Company.from_model(row) if row else None


@strawberry.input(description="A company's editable fields (partial on update).")
class CompanyInput:
    name: str | None = strawberry.UNSET


@strawberry.input(description="A new API token.")
class ApiTokenInput:
    name: str
    role: Role
    company_id: strawberry.ID | None = strawberry.field(
        default=None, description="Required for COMPANY_ADMIN."
    )
    sip_user_id: strawberry.ID | None = strawberry.field(
        default=None, description="Required for USER."
    )
    expires_at: datetime | None = strawberry.field(
        default=None,
        description="When the token stops working by itself (in the future); null: never.",
    )


@strawberry.input(description="Which API tokens to list (all conditions must hold).")
class ApiTokenFilter:
    company_id: strawberry.ID | None = None
    active: bool | None = strawberry.field(
        default=None, description="true: tokens that work now; false: revoked or expired ones."
    )


CompanyPayload = payload_type("CompanyPayload", "company", Company)


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class ApiTokenCreatePayload:
    token: str | None = strawberry.field(
        default=None, description="The secret, shown this once only."
    )
    api_token: ApiToken | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
