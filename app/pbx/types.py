"""GraphQL types of the hosted PBX: SIP domains, users, groups, queues, trusted networks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.core import models as core_models
from app.core.context import Info, loaders_of
from app.core.errors import payload_type
from app.core.extend import field_of
from app.core.ids import to_global_id
from app.core.loaders import now_or_later
from app.core.lookahead import prefetch, present
from app.core.node import Node, register_node
from app.core.pagination import Connection, PageArgs
from app.core.types import ApiToken, Company, Viewer
from app.pbx import loaders, models
from app.pbx.enums import RingStrategy
from app.pbx.filters import UserQuery
from app.pbx.inputs import SipUserFilter, SipUserOrder


def _gid(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(to_global_id(type_name, pk))


async def _domain(info: Info, domain_id: int) -> SipDomain:
    row = await loaders_of(info).one(models.SipDomain, domain_id)
    return SipDomain.from_model(row)


@strawberry.type(description="A SIP domain: one hosted PBX of a company.")
class SipDomain(Node):
    id: strawberry.ID
    name: str = strawberry.field(description='The DNS name, e.g. "acme.sip.example.net".')
    display_name: str
    recording_enabled: bool = strawberry.field(description="Whether calls are recorded.")
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[models.SipDomain]

    @classmethod
    def from_model(cls, row: models.SipDomain) -> SipDomain:
        return cls(
            id=_gid("SipDomain", row.id),
            name=row.name,
            display_name=row.display_name,
            recording_enabled=row.recording_enabled,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(description="The company the domain belongs to.")
    async def company(self, info: Info) -> Company:
        row = await loaders_of(info).one(core_models.Company, self.row.company_id)  # type: ignore[attr-defined]
        return Company.from_model(row)

    @strawberry.field(description="The domain's users (default order: username).")
    async def users(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: SipUserFilter | None = None,
        order_by: SipUserOrder | None = None,
    ) -> Connection[SipUser]:
        query = UserQuery.parse(filter, order_by)
        args = PageArgs(first, after, last, before)
        return await loaders.domain_users(info, query, args, SipUser.from_model).load(self.row.id)

    @strawberry.field(description="The domain's groups, by group name.")
    async def groups(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[SipGroup]:
        args = PageArgs(first, after, last, before)
        return await loaders.domain_groups(info, args, SipGroup.from_model).load(self.row.id)

    @strawberry.field(description="The domain's queues, by queue name.")
    async def queues(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[SipQueue]:
        args = PageArgs(first, after, last, before)
        return await loaders.domain_queues(info, args, SipQueue.from_model).load(self.row.id)

    @strawberry.field(description="Networks whose SIP traffic the domain trusts.")
    async def trusted_networks(self, info: Info) -> list[TrustedNetwork]:
        rows = await loaders.domain_trusted_networks(info, self.row.id)
        return [TrustedNetwork.from_model(r) for r in rows]


@strawberry.type(description="A SIP user (an extension) of a domain.")
class SipUser(Node):
    id: strawberry.ID
    username: str = strawberry.field(description="The SIP user name, e.g. joe.blogs.")
    display_name: str
    extension_number: str = strawberry.field(
        description="Internal number, callable by the domain's other users."
    )
    email: str | None
    first_name: str | None
    last_name: str | None
    job_name: str | None
    department_name: str | None
    company_name: str | None
    office_name: str | None
    uk_caller_id: str | None = strawberry.field(
        description="Caller ID presented on calls to UK numbers."
    )
    us_caller_id: str | None = strawberry.field(
        description="Caller ID presented on calls to US numbers."
    )
    mobile_number: str | None
    mobile_follow: bool = strawberry.field(
        description="Forward unanswered calls to the mobile number."
    )
    hotdesk_allowed: bool = strawberry.field(
        description="May log in to shared phones with the PIN."
    )
    dashboard: bool = strawberry.field(description="Shown on the real-time dashboard.")
    has_password: bool = strawberry.field(description="Whether a SIP password is set.")
    has_pin: bool = strawberry.field(description="Whether a hot-desking PIN is set.")
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[models.SipUser]

    @classmethod
    def from_model(cls, row: models.SipUser) -> SipUser:
        return cls(
            id=_gid("SipUser", row.id),
            username=row.username,
            display_name=row.display_name,
            extension_number=row.extension_number,
            email=row.email,
            first_name=row.first_name,
            last_name=row.last_name,
            job_name=row.job_name,
            department_name=row.department_name,
            company_name=row.company_name,
            office_name=row.office_name,
            uk_caller_id=row.uk_caller_id,
            us_caller_id=row.us_caller_id,
            mobile_number=row.mobile_number,
            mobile_follow=row.mobile_follow,
            hotdesk_allowed=row.hotdesk_allowed,
            dashboard=row.dashboard,
            has_password=bool(row.password_enc),
            has_pin=bool(row.pin_hash),
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field
    async def domain(self, info: Info) -> SipDomain:
        return await _domain(info, self.row.domain_id)  # type: ignore[attr-defined]

    @strawberry.field(description="Groups the user belongs to, by group name.")
    def groups(self, info: Info) -> list[SipGroup]:
        return now_or_later(
            loaders.user_groups(info),
            self.row.id,
            lambda rows: [SipGroup.from_model(r) for r in rows],
        )


@strawberry.type(description="A group of users that rings together under one extension.")
class SipGroup(Node):
    id: strawberry.ID
    group_name: str = strawberry.field(description="Short name, e.g. sales.")
    display_name: str
    extension_number: str
    ring_retry: bool
    ring_exclusive: bool = strawberry.field(description="Whether calls queue for this group.")
    caller_name_format: str | None = strawberry.field(
        description="Uses only {displayName}, {srcPhoneNumber} and {dgrpName}."
    )
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[models.SipGroup]

    @classmethod
    def from_model(cls, row: models.SipGroup) -> SipGroup:
        return cls(
            id=_gid("SipGroup", row.id),
            group_name=row.group_name,
            display_name=row.display_name,
            extension_number=row.extension_number,
            ring_retry=row.ring_retry,
            ring_exclusive=row.ring_exclusive,
            caller_name_format=row.caller_name_format,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field
    async def domain(self, info: Info) -> SipDomain:
        return await _domain(info, self.row.domain_id)  # type: ignore[attr-defined]

    @strawberry.field(description="The group's users, by username.")
    async def members(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[SipUser]:
        args = PageArgs(first, after, last, before)
        return await loaders.group_members(info, args, SipUser.from_model).load(self.row.id)


@strawberry.type(description="A call queue: rings its member groups in ring order.")
class SipQueue(Node):
    id: strawberry.ID
    queue_name: str = strawberry.field(description="Short name, e.g. support.")
    display_name: str
    extension_number: str
    caller_name_format: str | None = strawberry.field(
        description="Uses only {displayName}, {srcPhoneNumber} and {dgrpName}."
    )
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[models.SipQueue]

    @classmethod
    def from_model(cls, row: models.SipQueue) -> SipQueue:
        return cls(
            id=_gid("SipQueue", row.id),
            queue_name=row.queue_name,
            display_name=row.display_name,
            extension_number=row.extension_number,
            caller_name_format=row.caller_name_format,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field
    async def domain(self, info: Info) -> SipDomain:
        return await _domain(info, self.row.domain_id)  # type: ignore[attr-defined]

    @strawberry.field(description="Ordered by ringOrder, lowest first.")
    async def members(self, info: Info) -> list[SipQueueMember]:
        rows = await loaders.queue_members(info, self.row.id)
        return [SipQueueMember.from_model(r) for r in rows]


@strawberry.type(description="A group taking part in a queue, and how it is rung.")
class SipQueueMember(Node):
    id: strawberry.ID
    ring_strategy: RingStrategy
    ring_attempts: int = strawberry.field(
        description="How often the group's users are tried when all are busy."
    )
    ring_secs: int = strawberry.field(description="Seconds to ring before moving on.")
    ring_order: int = strawberry.field(description="Lowest rings first.")
    row: strawberry.Private[models.SipQueueMember]

    @classmethod
    def from_model(cls, row: models.SipQueueMember) -> SipQueueMember:
        return cls(
            id=_gid("SipQueueMember", row.id),
            ring_strategy=RingStrategy(str(row.ring_strategy)),
            ring_attempts=row.ring_attempts,
            ring_secs=row.ring_secs,
            ring_order=row.ring_order,
            row=row,
        )

    @strawberry.field
    async def group(self, info: Info) -> SipGroup:
        row = await loaders_of(info).one(models.SipGroup, self.row.group_id)  # type: ignore[attr-defined]
        return SipGroup.from_model(row)

    @strawberry.field
    async def queue(self, info: Info) -> SipQueue:
        row = await loaders_of(info).one(models.SipQueue, self.row.queue_id)  # type: ignore[attr-defined]
        return SipQueue.from_model(row)


@strawberry.type(description="A network whose SIP traffic the domain trusts.")
class TrustedNetwork(Node):
    id: strawberry.ID
    network: str = strawberry.field(description="Normalised CIDR, e.g. 10.0.20.0/24.")
    description: str | None
    created_at: datetime
    row: strawberry.Private[models.TrustedNetwork]

    @classmethod
    def from_model(cls, row: models.TrustedNetwork) -> TrustedNetwork:
        return cls(
            id=_gid("TrustedNetwork", row.id),
            network=row.network,
            description=row.description,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field
    async def domain(self, info: Info) -> SipDomain:
        return await _domain(info, self.row.domain_id)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- on tenancy's types


@field_of(Company, description="The company's SIP domains.")
async def sip_domains(
    self: Company, info: Info, first: int | None = None, after: str | None = None
) -> Connection[SipDomain]:
    loader = loaders.company_domains(info, PageArgs(first, after), SipDomain.from_model)
    return await loader.load(self.row.id)


@field_of(ApiToken)
async def sip_user(self: ApiToken, info: Info) -> SipUser | None:
    row = await loaders_of(info).one(models.SipUser, self.row.sip_user_id)  # type: ignore[attr-defined]
    return SipUser.from_model(row) if row else None


@field_of(Viewer, name="sip_user")
async def viewer_sip_user(self: Viewer, info: Info) -> SipUser | None:
    row = await loaders_of(info).one(models.SipUser, self.sip_user_id_)
    return SipUser.from_model(row) if row else None


@prefetch("SipUser", "groups")
async def _groups_ahead(info: Info, rows: list[models.SipUser], _: dict[str, Any]) -> list[Any]:
    """A page of users' groups at once (app.core.lookahead)."""
    return present(
        g for groups in await loaders.user_groups(info).load_many([r.id for r in rows])
        for g in groups
    )


register_node("SipDomain", models.SipDomain, SipDomain.from_model)
register_node("SipUser", models.SipUser, SipUser.from_model)
register_node("SipGroup", models.SipGroup, SipGroup.from_model)
register_node("SipQueue", models.SipQueue, SipQueue.from_model)
register_node("SipQueueMember", models.SipQueueMember, SipQueueMember.from_model)
register_node("TrustedNetwork", models.TrustedNetwork, TrustedNetwork.from_model)


SipDomainPayload = payload_type("SipDomainPayload", "sip_domain", SipDomain)


SipUserPayload = payload_type("SipUserPayload", "sip_user", SipUser)


SipGroupPayload = payload_type("SipGroupPayload", "sip_group", SipGroup)


SipQueuePayload = payload_type("SipQueuePayload", "sip_queue", SipQueue)


TrustedNetworkPayload = payload_type("TrustedNetworkPayload", "trusted_network", TrustedNetwork)
