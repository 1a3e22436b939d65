"""Closed sets of devices, as GraphQL enums (the storage enums, described)."""

from __future__ import annotations

from enum import Enum

import strawberry

from app.devices import models

# The storage enums double as the GraphQL enums, so rows' values are returned as they are.
PhoneStatus = strawberry.enum(
    models.PhoneStatus,
    description="Where a phone stands in auto-provisioning: PENDING phones asked for a "
    "config and wait for approval; only ACTIVE phones are served one; REJECTED phones "
    "are refused.",
)


SoftwareType = strawberry.enum(models.SoftwareType, description="The protocol a phone runs.")


DectLanguage = strawberry.enum(models.DectLanguage, description="Display language of a DECT base.")


ProvisioningInterface = strawberry.enum(
    models.ProvisioningInterface,
    description="The address a DECT base is given (QR code / auto-provisioning) to reach "
    "the server.",
)


Transport = strawberry.enum(models.Transport, description="SIP transport protocol.")


@strawberry.enum(description="What phones are sorted by.")
class PhoneOrderField(Enum):
    MAC = "MAC"
    NAME = "NAME"
    CREATED_AT = "CREATED_AT"
    LAST_PROVISIONED_AT = "LAST_PROVISIONED_AT"
