"""Filters of deploy job lists."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.core.scalars import MacAddress
from app.deploy.enums import DeployJobKind, DeployJobStatus, RolloutStatus


@strawberry.input(description="Which deploy jobs to list (all conditions must hold).")
class DeployJobFilter:
    mac: MacAddress | None = None
    status: DeployJobStatus | None = None
    kind: DeployJobKind | None = None


@strawberry.input(description="Which rollouts to list.")
class RolloutFilter:
    status: RolloutStatus | None = None


@strawberry.input(
    description="How a bulk request works through its phones (CONTRACT §8): batchSize "
    "phones at a time, in MAC order; the next batch starts batchPauseSeconds after every "
    "job of the last one ended."
)
class RolloutInput:
    batch_size: int | None = strawberry.field(
        default=None,
        description="Phones per batch (1 to 10000); default: every phone in one batch.",
    )
    batch_pause_seconds: int | None = strawberry.field(
        default=0, description="Seconds between the end of a batch and the next (0 to 604800)."
    )
    max_failures: int | None = strawberry.field(
        default=None,
        description="Once more jobs than this ended FAILED or INTERRUPTED, no further batch "
        "starts and the rollout ends FAILED; null: no limit.",
    )
    start_at: datetime | None = strawberry.field(
        default=None,
        description="When the first batch starts (within a year); default: now. Until "
        "then the rollout is SCHEDULED.",
    )
