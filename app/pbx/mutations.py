"""Hosted PBX: the mutations. Resolvers stay thin: input → service → payload."""

from __future__ import annotations

import strawberry

from app.core.context import Info, viewer_of
from app.core.errors import returns_user_errors
from app.core.ids import to_global_id
from app.core.inputs import provided
from app.core.types import DeletePayload
from app.pbx import service
from app.pbx.inputs import (
    SipDomainInput,
    SipGroupInput,
    SipQueueInput,
    SipQueueMemberInput,
    SipUserInput,
    TrustedNetworkInput,
)
from app.pbx.types import (
    SipDomain,
    SipDomainPayload,
    SipGroup,
    SipGroupPayload,
    SipQueue,
    SipQueuePayload,
    SipUser,
    SipUserPayload,
    TrustedNetwork,
    TrustedNetworkPayload,
)


def _deleted(type_name: str, pk: int) -> DeletePayload:
    return DeletePayload(deleted_id=strawberry.ID(to_global_id(type_name, pk)))


@strawberry.type
class PbxMutation:
    # ------------------------------------------------------------ domains

    @strawberry.mutation(description="Create a SIP domain for a company (system admins).")
    @returns_user_errors(SipDomainPayload)
    async def sip_domain_create(self, info: Info, input: SipDomainInput) -> SipDomainPayload:
        row = await service.domain_create(viewer_of(info), provided(input))
        return SipDomainPayload(sip_domain=SipDomain.from_model(row))

    @strawberry.mutation(
        description="Change a domain's display name or recording (the company's admins); "
        "system admins may also rename it."
    )
    @returns_user_errors(SipDomainPayload)
    async def sip_domain_update(
        self, info: Info, id: strawberry.ID, input: SipDomainInput
    ) -> SipDomainPayload:
        row = await service.domain_update(viewer_of(info), id, provided(input))
        return SipDomainPayload(sip_domain=SipDomain.from_model(row))

    @strawberry.mutation(
        description="Delete a domain without users, groups or queues (system admins)."
    )
    @returns_user_errors(DeletePayload)
    async def sip_domain_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        return _deleted("SipDomain", await service.domain_delete(viewer_of(info), id))

    # ------------------------------------------------------------ users

    @strawberry.mutation(description="Create a SIP user in a domain.")
    @returns_user_errors(SipUserPayload)
    async def sip_user_create(
        self, info: Info, domain_id: strawberry.ID, input: SipUserInput
    ) -> SipUserPayload:
        row = await service.user_create(viewer_of(info), domain_id, provided(input))
        return SipUserPayload(sip_user=SipUser.from_model(row))

    @strawberry.mutation(description="Change a SIP user; fields left out stay as they are.")
    @returns_user_errors(SipUserPayload)
    async def sip_user_update(
        self, info: Info, id: strawberry.ID, input: SipUserInput
    ) -> SipUserPayload:
        row = await service.user_update(viewer_of(info), id, provided(input))
        return SipUserPayload(sip_user=SipUser.from_model(row))

    @strawberry.mutation(
        description="Delete a SIP user with their group memberships and phone profiles; "
        "their phone lines become free."
    )
    @returns_user_errors(DeletePayload)
    async def sip_user_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        return _deleted("SipUser", await service.user_delete(viewer_of(info), id))

    # ------------------------------------------------------------ groups

    @strawberry.mutation(description="Create a SIP group in a domain.")
    @returns_user_errors(SipGroupPayload)
    async def sip_group_create(
        self, info: Info, domain_id: strawberry.ID, input: SipGroupInput
    ) -> SipGroupPayload:
        row = await service.group_create(viewer_of(info), domain_id, provided(input))
        return SipGroupPayload(sip_group=SipGroup.from_model(row))

    @strawberry.mutation(description="Change a SIP group; fields left out stay as they are.")
    @returns_user_errors(SipGroupPayload)
    async def sip_group_update(
        self, info: Info, id: strawberry.ID, input: SipGroupInput
    ) -> SipGroupPayload:
        row = await service.group_update(viewer_of(info), id, provided(input))
        return SipGroupPayload(sip_group=SipGroup.from_model(row))

    @strawberry.mutation(description="Delete a SIP group that no queue uses (else IN_USE).")
    @returns_user_errors(DeletePayload)
    async def sip_group_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        return _deleted("SipGroup", await service.group_delete(viewer_of(info), id))

    @strawberry.mutation(
        description="Add users of the group's domain to the group (members already in it "
        "are left alone)."
    )
    @returns_user_errors(SipGroupPayload)
    async def sip_group_members_add(
        self, info: Info, group_id: strawberry.ID, user_ids: list[strawberry.ID]
    ) -> SipGroupPayload:
        row = await service.group_members_add(viewer_of(info), group_id, list(user_ids))
        return SipGroupPayload(sip_group=SipGroup.from_model(row))

    @strawberry.mutation(description="Remove users from the group.")
    @returns_user_errors(SipGroupPayload)
    async def sip_group_members_remove(
        self, info: Info, group_id: strawberry.ID, user_ids: list[strawberry.ID]
    ) -> SipGroupPayload:
        row = await service.group_members_remove(viewer_of(info), group_id, list(user_ids))
        return SipGroupPayload(sip_group=SipGroup.from_model(row))

    # ------------------------------------------------------------ queues

    @strawberry.mutation(description="Create a SIP queue in a domain.")
    @returns_user_errors(SipQueuePayload)
    async def sip_queue_create(
        self, info: Info, domain_id: strawberry.ID, input: SipQueueInput
    ) -> SipQueuePayload:
        row = await service.queue_create(viewer_of(info), domain_id, provided(input))
        return SipQueuePayload(sip_queue=SipQueue.from_model(row))

    @strawberry.mutation(description="Change a SIP queue; fields left out stay as they are.")
    @returns_user_errors(SipQueuePayload)
    async def sip_queue_update(
        self, info: Info, id: strawberry.ID, input: SipQueueInput
    ) -> SipQueuePayload:
        row = await service.queue_update(viewer_of(info), id, provided(input))
        return SipQueuePayload(sip_queue=SipQueue.from_model(row))

    @strawberry.mutation(description="Delete a SIP queue and its members (the groups stay).")
    @returns_user_errors(DeletePayload)
    async def sip_queue_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        return _deleted("SipQueue", await service.queue_delete(viewer_of(info), id))

    @strawberry.mutation(
        description="Add a group of the queue's domain to the queue; without ringOrder it "
        "rings after the current last member. Returns the queue."
    )
    @returns_user_errors(SipQueuePayload)
    async def sip_queue_member_create(
        self, info: Info, queue_id: strawberry.ID, input: SipQueueMemberInput
    ) -> SipQueuePayload:
        row = await service.queue_member_create(viewer_of(info), queue_id, provided(input))
        return SipQueuePayload(sip_queue=SipQueue.from_model(row))

    @strawberry.mutation(description="Change a queue member. Returns the queue.")
    @returns_user_errors(SipQueuePayload)
    async def sip_queue_member_update(
        self, info: Info, id: strawberry.ID, input: SipQueueMemberInput
    ) -> SipQueuePayload:
        row = await service.queue_member_update(viewer_of(info), id, provided(input))
        return SipQueuePayload(sip_queue=SipQueue.from_model(row))

    @strawberry.mutation(description="Remove a member from its queue. Returns the queue.")
    @returns_user_errors(SipQueuePayload)
    async def sip_queue_member_delete(self, info: Info, id: strawberry.ID) -> SipQueuePayload:
        row = await service.queue_member_delete(viewer_of(info), id)
        return SipQueuePayload(sip_queue=SipQueue.from_model(row))

    @strawberry.mutation(
        description="Set the ring order: memberIds lists every member of the queue exactly "
        "once, first to ring first; their ringOrder becomes 0, 1, 2, ..."
    )
    @returns_user_errors(SipQueuePayload)
    async def sip_queue_members_reorder(
        self, info: Info, queue_id: strawberry.ID, member_ids: list[strawberry.ID]
    ) -> SipQueuePayload:
        row = await service.queue_members_reorder(viewer_of(info), queue_id, list(member_ids))
        return SipQueuePayload(sip_queue=SipQueue.from_model(row))

    # ------------------------------------------------------------ trusted networks

    @strawberry.mutation(description="Trust a network (CIDR) for a domain.")
    @returns_user_errors(TrustedNetworkPayload)
    async def trusted_network_create(
        self, info: Info, domain_id: strawberry.ID, input: TrustedNetworkInput
    ) -> TrustedNetworkPayload:
        row = await service.trusted_network_create(viewer_of(info), domain_id, provided(input))
        return TrustedNetworkPayload(trusted_network=TrustedNetwork.from_model(row))

    @strawberry.mutation(description="Change a trusted network.")
    @returns_user_errors(TrustedNetworkPayload)
    async def trusted_network_update(
        self, info: Info, id: strawberry.ID, input: TrustedNetworkInput
    ) -> TrustedNetworkPayload:
        row = await service.trusted_network_update(viewer_of(info), id, provided(input))
        return TrustedNetworkPayload(trusted_network=TrustedNetwork.from_model(row))

    @strawberry.mutation(description="Stop trusting a network.")
    @returns_user_errors(DeletePayload)
    async def trusted_network_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        return _deleted("TrustedNetwork", await service.trusted_network_delete(viewer_of(info), id))
