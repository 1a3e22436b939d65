"""Presence: phones going up and down, streamed from the event bus."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from graphql import GraphQLError

from app.core.context import Info, viewer_of
from app.core.events import get_bus
from app.core.execution import scope_key, shared
from app.core.metrics import SUBSCRIPTIONS
from app.core.scalars import MacAddress
from app.core.scope import visible
from app.deploy.sql import as_datetime
from app.devices.models import Phone as PhoneRow
from app.devices.types import Phone
from app.presence.service import STATUS_EVENT
from app.presence.types import PhoneStatusEvent


def _is_status(message: dict[str, Any]) -> bool:
    return message.get("kind") == STATUS_EVENT and isinstance(message.get("phone_id"), int)


@strawberry.type(name="Subscription", description="Phones going up and down.")
class PresenceSubscription:
    @strawberry.subscription(
        description="A phone going online or offline, or found for the first time: one "
        "phone, or every phone the caller may see when mac is omitted (in every server "
        "process). Never completes by itself."
    )
    async def phone_status_changed(
        self, info: Info, mac: MacAddress | None = None
    ) -> AsyncGenerator[PhoneStatusEvent, None]:
        viewer = viewer_of(info)
        phone_id = None
        if mac is not None:
            phone = await visible(PhoneRow, viewer).get_or_none(mac=str(mac))
            if phone is None:
                raise GraphQLError("Phone not found", extensions={"code": "NOT_FOUND"})
            phone_id = phone.id
        SUBSCRIPTIONS.inc()
        try:
            async with get_bus().subscribe() as queue:
                while True:
                    message = await queue.get()
                    if not _is_status(message):
                        continue  # deploy events, RESYNC: nothing to re-read here
                    if phone_id is not None and message["phone_id"] != phone_id:
                        continue
                    # The scope, asked for each event (the phone may have moved company),
                    # once for all subscribers alike in scope.
                    change = ("PhoneStatus", message["phone_id"], message["at"], message["online"])
                    pid = message["phone_id"]
                    row = await shared(
                        (change, scope_key(viewer)),
                        lambda pid=pid: visible(PhoneRow, viewer).get_or_none(id=pid),
                    )
                    if row is None:
                        continue
                    info.context.fresh_loaders()
                    yield PhoneStatusEvent(
                        phone=Phone.from_model(row),
                        online=bool(message["online"]),
                        at=as_datetime(message["at"]),
                        key=change,
                    )
        finally:
            SUBSCRIPTIONS.dec()
