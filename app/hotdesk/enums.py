"""Closed sets of hot desking, as GraphQL enums (the storage enums, described)."""

from __future__ import annotations

import strawberry

from app.hotdesk import models

HotdeskEndReason = strawberry.enum(
    models.HotdeskEndReason,
    description="Why a hot-desk session ended: LOGOUT (asked for, at the phone or through "
    "the API), REPLACED (another login on the phone, or the user logged in at another "
    "phone), EXPIRED (PHONEGRAPH_HOTDESK_TIMEOUT seconds after it started), FAILED (the "
    "login job ended before it wrote the user's config).",
)
