"""Tenant scoping: the one place that decides who may see and touch what.

Each domain registers, next to its models, how each model hangs off a company
(:func:`register_rule`); every read goes through :func:`visible` (directly, or through
the request's loaders, ``node``/``nodes`` and the subscriptions), and writes are checked
with :func:`require_write`. A model without a rule cannot be read at all: forgetting to
scope a new model fails loudly instead of leaking. An object outside the caller's scope
behaves as if it did not exist for lookups; writes to it are refused the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from app.core.auth import Viewer
from app.core.errors import forbidden
from app.core.models import ApiToken, AuditEvent, Company, Role

M = TypeVar("M", bound=Model)

UserFilter = Callable[[Viewer], Q]


@dataclass(frozen=True)
class Rule:
    """How a model hangs off a company, and what a USER token may read of it."""

    # The lookup path from the model to its company's id; None: a global catalogue
    # object (phone models) every admin reads.
    company_path: str | None
    # What a USER token reads; None: nothing.
    user_filter: UserFilter | None = None
    # False: only system admins change rows of the model.
    company_admin_writes: bool = True
    # Rows with no company (company_path IS NULL) are shared by every company: their
    # admins read them (templates a system admin made for everyone).
    shared_when_null: bool = False
    # Extra reach of a USER for one purpose (e.g. "deploy": the hot-desk phones a user
    # may switch a profile onto), on top of what it reads.
    user_actions: Mapping[str, UserFilter] = field(default_factory=dict)


_RULES: dict[type[Model], Rule] = {}


def register_rule(model: type[Model], rule: Rule) -> None:
    """Declare how ``model`` is scoped (each domain, next to its models)."""
    _RULES[model] = rule


def rule_of(model: type[Model]) -> Rule:
    try:
        return _RULES[model]
    except KeyError:
        raise RuntimeError(
            f"{model.__name__} has no scope rule: register one with app.core.scope.register_rule"
        ) from None


def registered_models() -> list[type[Model]]:
    return list(_RULES)


def _none() -> Q:
    return Q(id__in=[])


def scope_filter(model: type[Model], viewer: Viewer, action: str | None = None) -> Q | None:
    """The filter limiting ``model`` to what ``viewer`` may see (``None``: everything)."""
    rule = rule_of(model)
    if viewer.role == Role.SYSTEM_ADMIN:
        return None
    if viewer.role == Role.COMPANY_ADMIN:
        if rule.company_path is None:
            return None
        if viewer.company_id is None:
            return _none()
        own = Q(**{rule.company_path: viewer.company_id})
        if rule.shared_when_null:
            return own | Q(**{f"{rule.company_path}__isnull": True})
        return own
    # USER
    if rule.user_filter is None or viewer.sip_user_id is None:
        return _none()
    q = rule.user_filter(viewer)
    extra = rule.user_actions.get(action) if action else None
    if extra is not None:
        q = q | extra(viewer)
    return q


def visible(model: type[M], viewer: Viewer, action: str | None = None) -> QuerySet[M]:
    """All rows of ``model`` the viewer may see (or, with ``action``, may act on)."""
    q = scope_filter(model, viewer, action)
    qs = model.all()
    if q is None:
        return qs
    qs = qs.filter(q)
    # Filters through to-many relations (a phone's lines) may repeat rows.
    if viewer.role == Role.USER:
        qs = qs.distinct()
    return qs


async def get_visible(model: type[M], viewer: Viewer, pk: int) -> M | None:
    """The row with ``pk`` if the viewer may see it, else ``None``."""
    return await visible(model, viewer).get_or_none(id=pk)


def sees_everything(model: type[Model], viewer: Viewer) -> bool:
    """Whether no row of ``model`` is hidden from the viewer (no filter needed)."""
    return scope_filter(model, viewer) is None


def can_write(model: type[Model], viewer: Viewer) -> bool:
    """Whether the viewer's role may change rows of ``model`` at all (in its scope)."""
    if viewer.role == Role.SYSTEM_ADMIN:
        return True
    if viewer.role == Role.COMPANY_ADMIN:
        rule = rule_of(model)
        return rule.company_admin_writes and rule.company_path is not None
    return False


def require_write(model: type[Model], viewer: Viewer) -> None:
    """Refuse (top-level FORBIDDEN) a caller whose role may not change ``model``."""
    if not can_write(model, viewer):
        raise forbidden(f"Your role may not change {model.__name__} objects.")


def require_system_admin(viewer: Viewer) -> None:
    if viewer.role != Role.SYSTEM_ADMIN:
        raise forbidden("Only system administrators may do this.")


def company_in_scope(viewer: Viewer, company_id: int | None) -> bool:
    """Whether objects of ``company_id`` are inside the viewer's scope."""
    if viewer.role == Role.SYSTEM_ADMIN:
        return True
    return company_id is not None and company_id == viewer.company_id


def administers(viewer: Viewer, company_id: int | None) -> bool:
    """Whether the viewer is an admin of ``company_id`` (system admins of every company)."""
    return viewer.role != Role.USER and company_in_scope(viewer, company_id)


# ---------------------------------------------------------------- tenancy's own models

register_rule(Company, Rule("id", lambda v: Q(id=v.company_id), company_admin_writes=False))
register_rule(ApiToken, Rule("company_id", lambda v: Q(id=v.token_id)))
# The audit log: a company admin reads its company's events, a USER none; nobody writes
# them through the API.
register_rule(AuditEvent, Rule("company_id", None, company_admin_writes=False))
