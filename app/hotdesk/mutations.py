"""Hot desking: log users in and out at shared phones (CONTRACT §6)."""

from __future__ import annotations

import strawberry

from app.core.context import Info, viewer_of
from app.core.errors import returns_user_errors
from app.core.scalars import MacAddress
from app.deploy.types import DeployJob
from app.hotdesk import service
from app.hotdesk.types import HotdeskPayload, HotdeskSession


@strawberry.type
class HotdeskMutation:
    @strawberry.mutation(
        description="Log a user in at a shared phone: a HOTDESK_LOGIN job writes the user's "
        "hotdeskProfile (when it fits), else their first fitting profile by name, else the "
        "phone's template rendered with the user alone on line 1, and restarts the phone. "
        "A USER token logs in only as itself and gives its PIN; admins of the phone's "
        "company may leave the PIN out. A session already on the phone, and the user's "
        "session on another phone, end REPLACED (the other phone gets its own config back). "
        "Five wrong PINs within 15 minutes lock the user's hot-desk login for 15 minutes "
        "(LOCKED)."
    )
    @returns_user_errors(HotdeskPayload)
    async def hotdesk_login(
        self,
        info: Info,
        mac: MacAddress,
        extension_number: str,
        pin: str | None = None,
    ) -> HotdeskPayload:
        session, job = await service.login(viewer_of(info), None, mac, extension_number, pin)
        return HotdeskPayload(
            session=HotdeskSession.from_model(session), job=DeployJob.from_model(job)
        )

    @strawberry.mutation(
        description="End the phone's hot-desk session: a HOTDESK_LOGOUT job writes the "
        "phone's own config back (its template rendered, or the exact bytes it had before "
        "the login) and restarts it. Admins of the phone's company, or the session's user."
    )
    @returns_user_errors(HotdeskPayload)
    async def hotdesk_logout(self, info: Info, mac: MacAddress) -> HotdeskPayload:
        session, job = await service.logout(viewer_of(info), mac)
        return HotdeskPayload(
            session=HotdeskSession.from_model(session), job=DeployJob.from_model(job)
        )
