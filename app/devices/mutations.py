"""Devices: the mutations. Resolvers stay thin: input → service → payload."""

from __future__ import annotations

import strawberry

from app.core.context import Info, viewer_of
from app.core.errors import returns_user_errors
from app.core.ids import to_global_id
from app.core.inputs import provided
from app.core.scalars import MacAddress
from app.core.types import DeletePayload
from app.devices import service
from app.devices.inputs import DectBaseInput, DectMemberInput, PhoneInput, PhoneTemplateInput
from app.devices.types import (
    DectBase,
    DectBasePayload,
    Phone,
    PhonePayload,
    PhoneTemplate,
    PhoneTemplatePayload,
)


def _phone(row: object) -> PhonePayload:
    return PhonePayload(phone=Phone.from_model(row))  # type: ignore[arg-type]


@strawberry.type
class DevicesMutation:
    @strawberry.mutation(
        description="Add a phone (ACTIVE at once), with as many lines as its model."
    )
    @returns_user_errors(PhonePayload)
    async def phone_create(self, info: Info, input: PhoneInput) -> PhonePayload:
        return _phone(await service.phone_create(viewer_of(info), provided(input)))

    @strawberry.mutation(description="Change the fields sent; others are left alone.")
    @returns_user_errors(PhonePayload)
    async def phone_update(self, info: Info, mac: MacAddress, input: PhoneInput) -> PhonePayload:
        return _phone(await service.phone_update(viewer_of(info), mac, provided(input)))

    @strawberry.mutation(
        description="Delete a phone with its lines and the history of its deploy jobs. "
        "Refused with IN_USE while one of its deploy jobs is QUEUED or RUNNING: cancel it "
        "(deployJobCancel) and let it end first."
    )
    @returns_user_errors(DeletePayload)
    async def phone_delete(self, info: Info, mac: MacAddress) -> DeletePayload:
        pk = await service.phone_delete(viewer_of(info), mac)
        return DeletePayload(deleted_id=strawberry.ID(to_global_id("Phone", pk)))

    @strawberry.mutation(
        description="Let a PENDING (or REJECTED) phone fetch its config: it becomes ACTIVE. "
        "Approving an ACTIVE phone changes nothing."
    )
    @returns_user_errors(PhonePayload)
    async def phone_approve(self, info: Info, mac: MacAddress) -> PhonePayload:
        return _phone(await service.phone_approve(viewer_of(info), mac))

    @strawberry.mutation(
        description="Refuse a phone auto-provisioning: the endpoint answers it 403 from now on."
    )
    @returns_user_errors(PhonePayload)
    async def phone_reject(self, info: Info, mac: MacAddress) -> PhonePayload:
        return _phone(await service.phone_reject(viewer_of(info), mac))

    @strawberry.mutation(
        description="Put a SIP user of the phone's company on a line (port 1..lineCount), "
        "or free the line with sipUserId: null."
    )
    @returns_user_errors(PhonePayload)
    async def phone_line_assign(
        self, info: Info, mac: MacAddress, port: int, sip_user_id: strawberry.ID | None = None
    ) -> PhonePayload:
        return _phone(await service.phone_line_assign(viewer_of(info), mac, port, sip_user_id))

    @strawberry.mutation(
        description="Give every line of the phone a new random SIP auth secret (never "
        "readable; reprovision the phone to deliver them)."
    )
    @returns_user_errors(PhonePayload)
    async def phone_passwords_regenerate(self, info: Info, mac: MacAddress) -> PhonePayload:
        return _phone(await service.phone_passwords_regenerate(viewer_of(info), mac))

    @strawberry.mutation(
        description="Add a config template (system admins). A template that does not "
        "compile is refused with the line number."
    )
    @returns_user_errors(PhoneTemplatePayload)
    async def phone_template_create(
        self, info: Info, input: PhoneTemplateInput
    ) -> PhoneTemplatePayload:
        row = await service.template_create(viewer_of(info), provided(input))
        return PhoneTemplatePayload(phone_template=PhoneTemplate.from_model(row))

    @strawberry.mutation(
        description="Change a template's filename, content or model (system admins)."
    )
    @returns_user_errors(PhoneTemplatePayload)
    async def phone_template_update(
        self, info: Info, filename: str, input: PhoneTemplateInput
    ) -> PhoneTemplatePayload:
        row = await service.template_update(viewer_of(info), filename, provided(input))
        return PhoneTemplatePayload(phone_template=PhoneTemplate.from_model(row))

    @strawberry.mutation(description="Delete a template no device uses (system admins).")
    @returns_user_errors(DeletePayload)
    async def phone_template_delete(self, info: Info, filename: str) -> DeletePayload:
        pk = await service.template_delete(viewer_of(info), filename)
        return DeletePayload(deleted_id=strawberry.ID(to_global_id("PhoneTemplate", pk)))

    @strawberry.mutation(description="Add a DECT base.")
    @returns_user_errors(DectBasePayload)
    async def dect_base_create(self, info: Info, input: DectBaseInput) -> DectBasePayload:
        row = await service.dect_base_create(viewer_of(info), provided(input))
        return DectBasePayload(dect_base=DectBase.from_model(row))

    @strawberry.mutation(description="Change the fields sent; others are left alone.")
    @returns_user_errors(DectBasePayload)
    async def dect_base_update(
        self, info: Info, id: strawberry.ID, input: DectBaseInput
    ) -> DectBasePayload:
        row = await service.dect_base_update(viewer_of(info), id, provided(input))
        return DectBasePayload(dect_base=DectBase.from_model(row))

    @strawberry.mutation(description="Delete a DECT base and its member list.")
    @returns_user_errors(DeletePayload)
    async def dect_base_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        pk = await service.dect_base_delete(viewer_of(info), id)
        return DeletePayload(deleted_id=strawberry.ID(to_global_id("DectBase", pk)))

    @strawberry.mutation(description="Replace the base's member list with this one, at once.")
    @returns_user_errors(DectBasePayload)
    async def dect_base_members_set(
        self, info: Info, id: strawberry.ID, members: list[DectMemberInput]
    ) -> DectBasePayload:
        row = await service.dect_base_members_set(
            viewer_of(info), id, [provided(m) for m in members]
        )
        return DectBasePayload(dect_base=DectBase.from_model(row))
