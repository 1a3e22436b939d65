"""Devices: queries and mutations."""

from __future__ import annotations

import strawberry


@strawberry.type
class DevicesQuery:
    pass


@strawberry.type
class DevicesMutation:
    pass
