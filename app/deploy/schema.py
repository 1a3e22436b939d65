"""Deploy: queries and mutations."""

from __future__ import annotations

import strawberry


@strawberry.type
class DeployQuery:
    pass


@strawberry.type
class DeployMutation:
    pass


# Subscription root fields of the deploy pipeline; None until they exist.
DeploySubscription = None
