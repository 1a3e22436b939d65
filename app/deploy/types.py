"""GraphQL types of deploy jobs (to be completed by the deploy issue)."""

from __future__ import annotations

import strawberry

from app.core.ids import to_global_id
from app.core.node import Node, register_node
from app.deploy import models


@strawberry.type(description="A durable job working on one phone.")
class DeployJob(Node):
    id: strawberry.ID
    row: strawberry.Private[models.DeployJob]

    @classmethod
    def from_model(cls, row: models.DeployJob) -> DeployJob:
        return cls(id=strawberry.ID(to_global_id("DeployJob", row.id)), row=row)


register_node("DeployJob", models.DeployJob, DeployJob.from_model)
