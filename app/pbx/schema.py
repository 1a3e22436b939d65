"""Hosted PBX: queries and mutations."""

from __future__ import annotations

import strawberry


@strawberry.type
class PbxQuery:
    pass


@strawberry.type
class PbxMutation:
    pass
