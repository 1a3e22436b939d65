"""GraphQL types of presence: the fields it adds to Phone, and PhoneStatusEvent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from tortoise.queryset import QuerySet

from app.core.context import Info, loaders_of
from app.core.extend import field_of
from app.devices.models import Phone as PhoneRow
from app.devices.models import PhoneStatus
from app.devices.types import Phone
from app.presence.models import PhonePresence
from app.settings import get_settings


def presence_on() -> bool:
    """Whether presence probes phones at all (``PHONEGRAPH_PRESENCE_INTERVAL`` > 0): with
    it off, what an earlier run found is no current state of any phone."""
    return get_settings().presence_interval > 0


def watched(phone: PhoneRow) -> bool:
    """Whether presence probes the phone: ACTIVE, with an ipAddress (and presence on).
    What was found of a phone that is not (any more) is not shown as its state."""
    return presence_on() and phone.status == PhoneStatus.ACTIVE and bool(phone.ip_address)


async def presence_of(info: Info, phone_id: int) -> PhonePresence | None:
    """A phone's presence row (one query for every phone of a selection)."""

    async def load(rows: QuerySet[PhonePresence], keys: list[int]) -> list[PhonePresence | None]:
        found = {row.phone_id: row for row in await rows.filter(phone_id__in=keys)}  # type: ignore[attr-defined]
        return [found.get(key) for key in keys]

    return await loaders_of(info).batch("presence.of_phone", PhonePresence, load).load(phone_id)


@field_of(
    Phone,
    name="online",
    description="Whether the phone answers SIP OPTIONS (presence probes every "
    "PHONEGRAPH_PRESENCE_INTERVAL seconds; two unanswered probes in a row make it "
    "offline). Null until it was first probed, and for phones not probed (not ACTIVE, "
    "no ipAddress).",
)
async def phone_online(self: Phone, info: Info) -> bool | None:
    if not watched(self.row):
        return None
    row = await presence_of(info, self.row.id)
    return None if row is None or row.online is None else bool(row.online)


@field_of(Phone, name="last_seen_at", description="When the phone last answered a probe.")
async def phone_last_seen_at(self: Phone, info: Info) -> datetime | None:
    row = await presence_of(info, self.row.id)
    return row.last_seen_at if row is not None else None


@field_of(
    Phone,
    name="round_trip_ms",
    description="Milliseconds the phone took to answer its last answered probe.",
)
async def phone_round_trip_ms(self: Phone, info: Info) -> int | None:
    row = await presence_of(info, self.row.id)
    return row.round_trip_ms if row is not None else None


@strawberry.type(description="A phone found up or down by the presence probes.")
class PhoneStatusEvent:
    phone: Phone
    online: bool = strawberry.field(description="Whether it is up now.")
    at: datetime = strawberry.field(description="When the change was stored.")
    # The change on the bus, the same for every subscriber (see app.core.execution).
    key: strawberry.Private[tuple[Any, ...] | None] = None

    @property
    def shared_key(self) -> tuple[Any, ...] | None:
        return self.key
