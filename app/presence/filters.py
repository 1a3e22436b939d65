"""``PhoneFilter.online`` (declared by devices), applied in SQL through the phone's
presence row."""

from __future__ import annotations

from tortoise.queryset import QuerySet

from app.devices.filters import extend_phone_filter
from app.devices.models import Phone, PhoneStatus
from app.presence.types import presence_on


def phones_online(qs: QuerySet[Phone], online: bool) -> QuerySet[Phone]:
    """Phones found up (or down); phones never probed, or not probed any more (not
    ACTIVE, no ipAddress, presence turned off), match neither."""
    if not presence_on():
        return qs.filter(id__in=[])
    return qs.filter(
        presence__online=online, status=PhoneStatus.ACTIVE, ip_address__not_isnull=True
    )


extend_phone_filter("online", phones_online)
