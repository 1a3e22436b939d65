"""Filters of hot-desk session lists."""

from __future__ import annotations

import strawberry

from app.core.scalars import MacAddress


@strawberry.input(description="Which hot-desk sessions to list (all conditions must hold).")
class HotdeskSessionFilter:
    company_id: strawberry.ID | None = None
    mac: MacAddress | None = None
    sip_user_id: strawberry.ID | None = None
    open: bool | None = strawberry.field(
        default=None, description="true: sessions that have not ended; false: ended ones."
    )
