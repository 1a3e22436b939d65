"""Filters of deploy job lists."""

from __future__ import annotations

import strawberry

from app.core.scalars import MacAddress
from app.deploy.enums import DeployJobKind, DeployJobStatus


@strawberry.input(description="Which deploy jobs to list (all conditions must hold).")
class DeployJobFilter:
    mac: MacAddress | None = None
    status: DeployJobStatus | None = None
    kind: DeployJobKind | None = None
