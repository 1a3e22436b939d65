"""GraphQL types of hot desking, and the fields it adds to phones and SIP users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from tortoise.queryset import QuerySet

from app.core.context import Info, loaders_of
from app.core.errors import UserError, forbidden
from app.core.extend import field_of
from app.core.ids import to_global_id
from app.core.node import Node, register_node
from app.deploy.models import DeployJob as DeployJobRow
from app.deploy.types import DeployJob
from app.devices.models import Phone as PhoneRow
from app.devices.types import Phone
from app.hotdesk import models
from app.hotdesk.enums import HotdeskEndReason
from app.pbx.models import SipUser as SipUserRow
from app.pbx.types import SipUser
from app.profiles.models import PhoneProfile as ProfileRow
from app.profiles.types import PhoneProfile


@strawberry.type(
    description="One user logged in at one shared phone, from the login until it ends. "
    "At most one session per phone and one per user has not ended."
)
class HotdeskSession(Node):
    id: strawberry.ID
    started_at: datetime = strawberry.field(
        description="When the login's config was written (until then: when it was asked for)."
    )
    expires_at: datetime = strawberry.field(
        description="When it ends by itself (PHONEGRAPH_HOTDESK_TIMEOUT after it started)."
    )
    ended_at: datetime | None
    end_reason: HotdeskEndReason | None
    open: bool = strawberry.field(description="Whether the session has not ended yet.")
    config_written: bool = strawberry.field(
        description="Whether the login job has written the user's config to the phone."
    )
    row: strawberry.Private[models.HotdeskSession]

    @classmethod
    def from_model(cls, row: models.HotdeskSession) -> HotdeskSession:
        state = models.HotdeskState(row.state)
        return cls(
            id=strawberry.ID(to_global_id("HotdeskSession", row.id)),
            started_at=row.started_at,
            expires_at=row.expires_at,
            ended_at=row.ended_at,
            end_reason=models.HotdeskEndReason(row.end_reason) if row.end_reason else None,
            open=state != models.HotdeskState.ENDED,
            config_written=row.config_written,
            row=row,
        )

    @strawberry.field(description="The phone.")
    async def phone(self, info: Info) -> Phone:
        phone_id = self.row.phone_id  # type: ignore[attr-defined]
        row = await loaders_of(info).one(PhoneRow, phone_id, "hotdesk")
        if row is None:
            # A hot-desking USER has no line on the shared phone, which the Phone scope
            # hides: its own session vouches for the phone while the phone is in the
            # session's company (the phone's type shows such a USER no address).
            row = await loaders_of(info).unscoped_one(
                PhoneRow, phone_id, reason="the caller sees the session, which names its phone"
            )
            assert row is not None  # the foreign key cascades
            if row.company_id != self.row.company_id:  # type: ignore[attr-defined]
                raise forbidden("The session's phone is now another company's")
        return Phone.from_model(row)

    @strawberry.field(description="The user logged in.")
    async def sip_user(self, info: Info) -> SipUser:
        row = await loaders_of(info).unscoped_one(
            SipUserRow,
            self.row.sip_user_id,  # type: ignore[attr-defined]
            reason="the caller sees the session, which names its user",
        )
        assert row is not None
        return SipUser.from_model(row)

    @strawberry.field(
        description="The profile written at login; null when the phone's template was "
        "rendered for the user."
    )
    async def profile(self, info: Info) -> PhoneProfile | None:
        row = await loaders_of(info).one(ProfileRow, self.row.profile_id)  # type: ignore[attr-defined]
        return PhoneProfile.from_model(row) if row else None

    @strawberry.field(description="The job that wrote the user's config (HOTDESK_LOGIN).")
    async def login_job(self, info: Info) -> DeployJob | None:
        row = await loaders_of(info).one(DeployJobRow, self.row.login_job_id, "hotdesk")  # type: ignore[attr-defined]
        return DeployJob.from_model(row) if row else None

    @strawberry.field(
        description="The job that writes the phone's own config back (HOTDESK_LOGOUT); "
        "null while open, and for a session replaced by another login on the same phone."
    )
    async def logout_job(self, info: Info) -> DeployJob | None:
        row = await loaders_of(info).one(DeployJobRow, self.row.logout_job_id, "hotdesk")  # type: ignore[attr-defined]
        return DeployJob.from_model(row) if row else None


register_node("HotdeskSession", models.HotdeskSession, HotdeskSession.from_model)


@strawberry.type(description="The result of a hot-desk login or logout.")
class HotdeskPayload:
    session: HotdeskSession | None = None
    job: DeployJob | None = strawberry.field(
        default=None, description="The HOTDESK_LOGIN or HOTDESK_LOGOUT job queued."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


# ---------------------------------------------------------------- on lower domains' types


async def _open_sessions(info: Info, column: str, key: int) -> models.HotdeskSession | None:
    async def load(rows: QuerySet[Any], keys: list[int]) -> list[Any]:
        found = {
            getattr(r, column): r for r in await rows.filter(**{f"{column}__in": keys})
        }
        return [found.get(k) for k in keys]

    loader = loaders_of(info).batch(("hotdesk_open", column), models.HotdeskSession, load)
    return await loader.load(key)


@field_of(
    Phone, name="hotdesk_session", description="The phone's hot-desk session that has not ended."
)
async def phone_hotdesk_session(self: Phone, info: Info) -> HotdeskSession | None:
    row = await _open_sessions(info, "open_phone_id", self.row.id)
    return HotdeskSession.from_model(row) if row else None


@field_of(
    SipUser, name="hotdesk_session", description="The user's hot-desk session that has not ended."
)
async def user_hotdesk_session(self: SipUser, info: Info) -> HotdeskSession | None:
    row = await _open_sessions(info, "open_user_id", self.row.id)
    return HotdeskSession.from_model(row) if row else None


@field_of(
    SipUser,
    name="hotdesk_profile",
    description="The profile a hot-desk login puts on a phone (when it fits; else the "
    "user's first fitting profile by name, else the phone's template for the user).",
)
async def user_hotdesk_profile(self: SipUser, info: Info) -> PhoneProfile | None:
    async def load(rows: QuerySet[Any], keys: list[int]) -> list[Any]:
        found = {r.sip_user_id: r.profile_id for r in await rows.filter(sip_user_id__in=keys)}
        return [found.get(k) for k in keys]

    loader = loaders_of(info).batch("hotdesk_choice", models.HotdeskUserProfile, load)
    profile_id = await loader.load(self.row.id)
    row = await loaders_of(info).one(ProfileRow, profile_id, "hotdesk_choice")
    return PhoneProfile.from_model(row) if row else None
