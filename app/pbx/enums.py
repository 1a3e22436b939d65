"""Closed sets of the hosted PBX, as GraphQL enums (the storage enums, described)."""

from __future__ import annotations

from enum import Enum

import strawberry

from app.core.enums import graphql_enum
from app.pbx import models

RingStrategy = graphql_enum(
    models.RingStrategy,
    "How a queue member (a group) rings its users.",
    ALL="Ring every user of the group at once.",
    HUNT_LONGEST_IDLE="Ring users one after another, longest idle first.",
)


@strawberry.enum(description="What SIP users can be sorted by.")
class SipUserOrderField(Enum):
    USERNAME = "USERNAME"
    EXTENSION_NUMBER = "EXTENSION_NUMBER"
    DISPLAY_NAME = "DISPLAY_NAME"
    CREATED_AT = "CREATED_AT"
