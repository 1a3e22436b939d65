"""Profiles: queries and mutations."""

from __future__ import annotations

import strawberry


@strawberry.type
class ProfilesQuery:
    pass


@strawberry.type
class ProfilesMutation:
    pass
