"""Tenant scoping: the one place that decides who may see and touch what.

Every resolver reads through :func:`visible` and checks writes with
:func:`require_write`. An object outside the caller's scope behaves as if it did not
exist for lookups; writes to it are refused the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from app.core.auth import Viewer
from app.core.errors import forbidden
from app.core.models import ApiToken, Company, Role
from app.deploy.models import DeployEvent, DeployJob
from app.devices.models import DectBase, DectMember, Phone, PhoneLine, PhoneModel, PhoneTemplate
from app.pbx.models import (
    SipDomain,
    SipExtension,
    SipGroup,
    SipGroupMember,
    SipQueue,
    SipQueueMember,
    SipUser,
    TrustedNetwork,
)
from app.profiles.models import PhoneProfile

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Rule:
    """How a model hangs off a company, and what a USER token may read of it."""

    company_path: str | None  # None: a global catalogue object (models, templates)
    user_filter: Callable[[Viewer], Q] | None = None  # None: USER tokens see none
    company_admin_writes: bool = True  # False: only system admins change it


def _none(_: Viewer) -> Q:
    return Q(id__in=[])


RULES: dict[type[Model], Rule] = {
    Company: Rule("id", lambda v: Q(id=v.company_id), company_admin_writes=False),
    ApiToken: Rule("company_id", lambda v: Q(id=v.token_id)),
    SipDomain: Rule("company_id", lambda v: Q(id=v.domain_id), company_admin_writes=True),
    SipExtension: Rule("domain__company_id"),
    SipUser: Rule("domain__company_id", lambda v: Q(id=v.sip_user_id)),
    SipGroup: Rule("domain__company_id", lambda v: Q(memberships__user_id=v.sip_user_id)),
    SipGroupMember: Rule("group__domain__company_id", lambda v: Q(user_id=v.sip_user_id)),
    SipQueue: Rule("domain__company_id"),
    SipQueueMember: Rule("queue__domain__company_id"),
    TrustedNetwork: Rule("domain__company_id"),
    PhoneModel: Rule(None, lambda v: Q(), company_admin_writes=False),
    PhoneTemplate: Rule(None, company_admin_writes=False),
    Phone: Rule("company_id", lambda v: Q(lines__sip_user_id=v.sip_user_id)),
    PhoneLine: Rule("phone__company_id", lambda v: Q(sip_user_id=v.sip_user_id)),
    DectBase: Rule("company_id"),
    DectMember: Rule("base__company_id"),
    PhoneProfile: Rule("owner__domain__company_id", lambda v: Q(owner_id=v.sip_user_id)),
    DeployJob: Rule(
        "company_id",
        lambda v: Q(profile__owner_id=v.sip_user_id) | Q(phone__lines__sip_user_id=v.sip_user_id),
    ),
    DeployEvent: Rule(
        "job__company_id",
        lambda v: (
            Q(job__profile__owner_id=v.sip_user_id)
            | Q(job__phone__lines__sip_user_id=v.sip_user_id)
        ),
    ),
}


def scope_filter(model: type[Model], viewer: Viewer) -> Q | None:
    """The filter limiting ``model`` to what ``viewer`` may see (``None``: everything)."""
    rule = RULES[model]
    if viewer.role == Role.SYSTEM_ADMIN:
        return None
    if viewer.role == Role.COMPANY_ADMIN:
        if rule.company_path is None:
            return None
        if viewer.company_id is None:
            return _none(viewer)
        return Q(**{rule.company_path: viewer.company_id})
    # USER
    if rule.user_filter is None or viewer.sip_user_id is None:
        return _none(viewer)
    return rule.user_filter(viewer)


def visible(model: type[M], viewer: Viewer) -> QuerySet[M]:
    """All rows of ``model`` the viewer may see."""
    q = scope_filter(model, viewer)
    qs = model.all()
    if q is None:
        return qs
    qs = qs.filter(q)
    # Filters through to-many relations (a phone's lines) may repeat rows.
    rule = RULES[model]
    if viewer.role == Role.USER and rule.user_filter is not None:
        qs = qs.distinct()
    return qs


async def get_visible(model: type[M], viewer: Viewer, pk: int) -> M | None:
    """The row with ``pk`` if the viewer may see it, else ``None``."""
    return await visible(model, viewer).get_or_none(id=pk)


def can_write(model: type[Model], viewer: Viewer) -> bool:
    """Whether the viewer's role may change rows of ``model`` at all (in its scope)."""
    if viewer.role == Role.SYSTEM_ADMIN:
        return True
    if viewer.role == Role.COMPANY_ADMIN:
        return RULES[model].company_admin_writes and RULES[model].company_path is not None
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


# ---------------------------------------------------------------- deploy rules


async def deploy_targets(viewer: Viewer) -> QuerySet[Phone]:
    """Phones the viewer may switch a profile onto: the phones it sees, and for a USER
    allowed to hot-desk, every ACTIVE hot-desk phone of its company (Extension Mobility)."""
    from app.devices.models import PhoneStatus

    seen = visible(Phone, viewer)
    if viewer.role != Role.USER or viewer.sip_user_id is None or viewer.company_id is None:
        return seen
    user = await SipUser.get_or_none(id=viewer.sip_user_id)
    if user is None or not user.hotdesk_allowed:
        return seen
    hotdesk = Q(company_id=viewer.company_id, can_hotdesk=True, status=PhoneStatus.ACTIVE)
    return Phone.filter(hotdesk | Q(lines__sip_user_id=viewer.sip_user_id)).distinct()


def may_cancel(viewer: Viewer, job: DeployJob) -> bool:
    """Whether the viewer may cancel a job it sees (``job.profile`` fetched): admins any;
    a USER only the deploys of its own profiles, not a reboot an admin asked for."""
    if viewer.role != Role.USER:
        return True
    profile = job.profile  # type: ignore[attr-defined]
    return profile is not None and profile.owner_id == viewer.sip_user_id
