"""Closed sets of the hosted PBX, as GraphQL enums."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(description="How a queue member (a group) rings its users.")
class RingStrategy(Enum):
    ALL = strawberry.enum_value("ALL", description="Ring every user of the group at once.")
    HUNT_LONGEST_IDLE = strawberry.enum_value(
        "HUNT_LONGEST_IDLE", description="Ring users one after another, longest idle first."
    )


@strawberry.enum(description="What SIP users can be sorted by.")
class SipUserOrderField(Enum):
    USERNAME = "USERNAME"
    EXTENSION_NUMBER = "EXTENSION_NUMBER"
    DISPLAY_NAME = "DISPLAY_NAME"
    CREATED_AT = "CREATED_AT"
