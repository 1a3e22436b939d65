"""The audit log in the API (CONTRACT §10): ``auditEvents`` and ``AuditEvent``.

Read-only: no mutation writes, edits or deletes audit events; they are written by
:mod:`app.core.audit` and deleted only by the retention task
(:mod:`app.core.audit_retention`).
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from tortoise.expressions import Subquery

from app.core import models
from app.core.audit import MAX_TARGET
from app.core.context import Info, loaders_of, viewer_of
from app.core.errors import ErrorCode, forbidden
from app.core.ids import decode_arg, to_global_id
from app.core.node import Node, register_node
from app.core.pagination import Connection, OrderKey, PageArgs, paginate
from app.core.scalars import normalize_mac
from app.core.scope import visible
from app.core.types import ApiToken, Company, Role

_OPERATION_MAX = 100  # the operation column's length

AuditOutcome = strawberry.enum(
    models.AuditOutcome,
    description="How a recorded call ended: OK; USER_ERROR (its payload carried "
    "userErrors, their codes in errorCodes); FORBIDDEN (refused with a top-level FORBIDDEN).",
)


@strawberry.type(
    description="One mutation called with a token, or one hot-desk login or logout made "
    "at a phone, recorded in the transaction of its change."
)
class AuditEvent(Node):
    id: strawberry.ID
    at: datetime
    operation: str = strawberry.field(
        description="The mutation's name (phoneReboot, hotdeskLogin, …)."
    )
    outcome: AuditOutcome
    actor_role: Role | None = strawberry.field(description="The role of the token that called.")
    target_ids: list[str] = strawberry.field(
        description="The ids the arguments name: id, mac, and every …Id and …Ids argument."
    )
    arguments: str = strawberry.field(
        description='The arguments as JSON, secrets shown as "********".'
    )
    row: strawberry.Private[models.AuditEvent]

    @classmethod
    def from_model(cls, row: models.AuditEvent) -> AuditEvent:
        return cls(
            id=strawberry.ID(to_global_id("AuditEvent", row.id)),
            at=row.at,
            operation=row.operation,
            outcome=AuditOutcome(row.outcome),
            actor_role=Role(row.actor_role) if row.actor_role else None,
            target_ids=list(row.target_ids or []),
            arguments=row.arguments,
            row=row,
        )

    @strawberry.field(description="The codes of the payload's userErrors (USER_ERROR).")
    def error_codes(self) -> list[ErrorCode]:
        known = ErrorCode.__members__
        return [ErrorCode(c) for c in self.row.error_codes or [] if c in known]

    @strawberry.field(description="The token that called (null at a phone, or not visible).")
    async def actor_token(self, info: Info) -> ApiToken | None:
        row = await loaders_of(info).one(models.ApiToken, self.row.actor_token_id, "audit")
        return ApiToken.from_model(row) if row else None

    @strawberry.field(description="The company concerned (null when none is known).")
    async def company(self, info: Info) -> Company | None:
        row = await loaders_of(info).one(models.Company, self.row.company_id, "audit")
        return Company.from_model(row) if row else None


register_node("AuditEvent", models.AuditEvent, AuditEvent.from_model)


@strawberry.input(description="Which audit events to list (all conditions must hold).")
class AuditEventFilter:
    company_id: strawberry.ID | None = None
    operation: str | None = None
    actor_token_id: strawberry.ID | None = None
    target_id: str | None = strawberry.field(
        default=None,
        description="Events whose targetIds hold exactly this id (a MAC in any form a "
        "MacAddress accepts).",
    )
    outcome: AuditOutcome | None = None
    since: datetime | None = strawberry.field(default=None, description="At or after.")
    until: datetime | None = strawberry.field(default=None, description="Before.")


def _target_forms(target: str) -> list[str]:
    """What a ``targetId`` filter matches: the text given and, for a MAC in any form the
    API accepts (AA:BB:CC:DD:EE:01, as phones show it), the bare form a MacAddress
    argument is recorded in."""
    try:
        mac = normalize_mac(target)
    except ValueError:
        return [target]
    return sorted({target, mac})


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="The audit log, newest first: system admins see every event, company "
        "admins their company's; USER tokens are refused (FORBIDDEN). Kept "
        "PHONEGRAPH_AUDIT_DAYS days."
    )
    async def audit_events(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: AuditEventFilter | None = None,
    ) -> Connection[AuditEvent]:
        viewer = viewer_of(info)
        if viewer.role == models.Role.USER:
            raise forbidden("Only admins may read the audit log.")
        qs = visible(models.AuditEvent, viewer)
        if filter is not None:
            if filter.company_id is not None:
                qs = qs.filter(
                    company_id=decode_arg(filter.company_id, "Company", "filter.companyId")
                )
            # Text longer than its column matches nothing (and is no error).
            if filter.operation is not None and len(filter.operation) > _OPERATION_MAX:
                qs = qs.filter(id__in=[])
            elif filter.operation is not None:
                qs = qs.filter(operation=filter.operation)
            if filter.actor_token_id is not None:
                qs = qs.filter(
                    actor_token_id=decode_arg(
                        filter.actor_token_id, "ApiToken", "filter.actorTokenId"
                    )
                )
            if filter.target_id is not None and len(filter.target_id) > MAX_TARGET:
                qs = qs.filter(id__in=[])
            elif filter.target_id is not None:
                qs = qs.filter(
                    id__in=Subquery(
                        models.AuditTarget.filter(
                            target__in=_target_forms(filter.target_id)
                        ).values("event_id")
                    )
                )
            if filter.outcome is not None:
                qs = qs.filter(outcome=models.AuditOutcome(filter.outcome.value))
            if filter.since is not None:
                qs = qs.filter(at__gte=filter.since)
            if filter.until is not None:
                qs = qs.filter(at__lt=filter.until)
        # Ids grow with every insert: newest first without comparing timestamps.
        return await paginate(
            qs,
            PageArgs(first, after, last, before),
            [OrderKey("id", descending=True)],
            AuditEvent.from_model,
        )
