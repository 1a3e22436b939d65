"""DataLoaders of the hosted PBX: each nested list is loaded for all parents of a level
in one or two queries, always through the caller's scope. Nested connections load one
page per parent (a loader per page arguments and filter), paged in the database."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model
from tortoise.queryset import QuerySet

from app.core.context import Info, loaders_of, viewer_of
from app.core.pagination import Connection, OrderKey, PageArgs, paginate_nested
from app.core.scope import visible
from app.devices.models import Phone, PhoneLine
from app.pbx import models
from app.pbx.filters import UserQuery
from app.profiles.models import PhoneProfile

M = TypeVar("M", bound=Model)
T = TypeVar("T")


def _grouped(keys: list[int], rows: Iterable[M], parent: Callable[[M], int]) -> list[list[M]]:
    groups: dict[int, list[M]] = defaultdict(list)
    for row in rows:
        groups[parent(row)].append(row)
    return [groups.get(k, []) for k in keys]


def _loader(
    info: Info, key: Hashable, load: Callable[[list[int]], Awaitable[list[Any]]]
) -> DataLoader[int, Any]:
    return loaders_of(info).get(("pbx", key), load)


def _pages(
    info: Info,
    key: Hashable,
    children: QuerySet[M],
    parent: str,
    args: PageArgs,
    order: list[OrderKey],
    to_node: Callable[[M], T],
) -> DataLoader[int, Connection[T]]:
    """A page of ``children`` for each parent: one statement for all parents."""

    async def load(keys: list[int]) -> list[Connection[T]]:
        return await paginate_nested(children, parent, keys, args, order, to_node)

    return _loader(info, (key, args), load)


def company_domains(
    info: Info, args: PageArgs, to_node: Callable[[models.SipDomain], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each company's visible domains, by name."""
    viewer = viewer_of(info)
    return _pages(
        info,
        "company_domains",
        visible(models.SipDomain, viewer),
        "company_id",
        args,
        [OrderKey("name")],
        to_node,
    )


def domain_users(
    info: Info, query: UserQuery, args: PageArgs, to_node: Callable[[models.SipUser], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each domain's visible users matching ``query``, in its order."""
    viewer = viewer_of(info)
    return _pages(
        info,
        ("domain_users", query),
        query.apply(visible(models.SipUser, viewer)),
        "domain_id",
        args,
        query.order_keys(),
        to_node,
    )


def domain_groups(
    info: Info, args: PageArgs, to_node: Callable[[models.SipGroup], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each domain's visible groups, by group name."""
    viewer = viewer_of(info)
    return _pages(
        info,
        "domain_groups",
        visible(models.SipGroup, viewer),
        "domain_id",
        args,
        [OrderKey("group_name")],
        to_node,
    )


def domain_queues(
    info: Info, args: PageArgs, to_node: Callable[[models.SipQueue], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each domain's visible queues, by queue name."""
    viewer = viewer_of(info)
    return _pages(
        info,
        "domain_queues",
        visible(models.SipQueue, viewer),
        "domain_id",
        args,
        [OrderKey("queue_name")],
        to_node,
    )


def domain_trusted_networks(info: Info) -> DataLoader[int, list[models.TrustedNetwork]]:
    """Visible trusted networks of each domain, oldest first."""
    viewer = viewer_of(info)

    async def load(keys: list[int]) -> list[list[models.TrustedNetwork]]:
        qs = visible(models.TrustedNetwork, viewer).filter(domain_id__in=keys)
        rows = await qs.order_by("id")
        return _grouped(keys, rows, lambda r: r.domain_id)  # type: ignore[attr-defined]

    return _loader(info, "domain_trusted_networks", load)


def _memberships(
    info: Info, name: str, key_field: str, other_field: str, other: type[Any], sort_by: str
) -> DataLoader[int, list[Any]]:
    """Rows of ``other`` linked to each key through group memberships, visible ones only,
    sorted by ``sort_by`` then id: two queries, however many keys."""
    viewer = viewer_of(info)

    async def load(keys: list[int]) -> list[list[Any]]:
        pairs = await models.SipGroupMember.filter(**{f"{key_field}__in": keys}).values_list(
            key_field, other_field
        )
        found = {
            row.id: row
            for row in await visible(other, viewer).filter(id__in=list({o for _, o in pairs}))
        }
        out: dict[int, list[Any]] = defaultdict(list)
        for key, other_id in pairs:
            if other_id in found:
                out[key].append(found[other_id])
        for rows in out.values():
            rows.sort(key=lambda r: (getattr(r, sort_by), r.id))
        return [out.get(k, []) for k in keys]

    return _loader(info, name, load)


def group_members(
    info: Info, args: PageArgs, to_node: Callable[[models.SipUser], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each group's visible member users, by username: users joined to their
    memberships, partitioned by the membership's group."""
    viewer = viewer_of(info)
    return _pages(
        info,
        "group_members",
        visible(models.SipUser, viewer),
        "group_memberships__group_id",
        args,
        [OrderKey("username")],
        to_node,
    )


def user_groups(info: Info) -> DataLoader[int, list[models.SipGroup]]:
    """Visible groups each user belongs to, by group name."""
    return _memberships(info, "user_groups", "user_id", "group_id", models.SipGroup, "group_name")


def queue_members(info: Info) -> DataLoader[int, list[models.SipQueueMember]]:
    """Members of each queue in ring order (lowest ringOrder first)."""
    viewer = viewer_of(info)

    async def load(keys: list[int]) -> list[list[models.SipQueueMember]]:
        rows = (
            await visible(models.SipQueueMember, viewer)
            .filter(queue_id__in=keys)
            .order_by("ring_order", "id")
        )
        return _grouped(keys, rows, lambda r: r.queue_id)  # type: ignore[attr-defined]

    return _loader(info, "queue_members", load)


def user_phones(info: Info) -> DataLoader[int, list[Phone]]:
    """Visible phones with a line assigned to each user, by MAC."""
    viewer = viewer_of(info)

    async def load(keys: list[int]) -> list[list[Phone]]:
        pairs = await PhoneLine.filter(sip_user_id__in=keys).values_list("sip_user_id", "phone_id")
        phone_ids = list({phone_id for _, phone_id in pairs})
        phones = {p.id: p for p in await visible(Phone, viewer).filter(id__in=phone_ids)}
        out: dict[int, dict[int, Phone]] = defaultdict(dict)
        for user_id, phone_id in pairs:
            if phone_id in phones:
                out[user_id][phone_id] = phones[phone_id]
        return [sorted(out[k].values(), key=lambda p: p.mac) if k in out else [] for k in keys]

    return _loader(info, "user_phones", load)


def user_profiles(info: Info) -> DataLoader[int, list[PhoneProfile]]:
    """Visible phone profiles each user owns, by name."""
    viewer = viewer_of(info)

    async def load(keys: list[int]) -> list[list[PhoneProfile]]:
        rows = await visible(PhoneProfile, viewer).filter(owner_id__in=keys).order_by("name", "id")
        return _grouped(keys, rows, lambda r: r.owner_id)  # type: ignore[attr-defined]

    return _loader(info, "user_profiles", load)
