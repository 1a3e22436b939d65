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

from app.core.context import Info, loaders_of
from app.core.pagination import Connection, OrderKey, PageArgs, paginate_nested
from app.core.scope import visible
from app.pbx import models
from app.pbx.filters import UserQuery

M = TypeVar("M", bound=Model)
T = TypeVar("T")


def _grouped(keys: list[int], rows: Iterable[M], parent: Callable[[M], int]) -> list[list[M]]:
    groups: dict[int, list[M]] = defaultdict(list)
    for row in rows:
        groups[parent(row)].append(row)
    return [groups.get(k, []) for k in keys]


def _loader(
    info: Info,
    key: Hashable,
    model: type[Model],
    load: Callable[[QuerySet[Any], list[int]], Awaitable[list[Any]]],
) -> DataLoader[int, Any]:
    """A loader whose ``load(rows, keys)`` reads ``model`` rows the caller may see."""
    return loaders_of(info).batch(("pbx", key), model, load)


def _pages(
    info: Info,
    key: Hashable,
    model: type[M],
    parent: str,
    args: PageArgs,
    order: list[OrderKey],
    to_node: Callable[[M], T],
    refine: Callable[[QuerySet[M]], QuerySet[M]] = lambda rows: rows,
) -> DataLoader[int, Connection[T]]:
    """A page of the visible ``model`` rows (``refine``d) of each parent: one statement
    for all parents."""

    async def load(visible_rows: QuerySet[M], keys: list[int]) -> list[Connection[T]]:
        return await paginate_nested(refine(visible_rows), parent, keys, args, order, to_node)

    return _loader(info, (key, args), model, load)


def company_domains(
    info: Info, args: PageArgs, to_node: Callable[[models.SipDomain], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each company's visible domains, by name."""
    return _pages(
        info, "company_domains", models.SipDomain, "company_id", args, [OrderKey("name")], to_node
    )


def domain_users(
    info: Info, query: UserQuery, args: PageArgs, to_node: Callable[[models.SipUser], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each domain's visible users matching ``query``, in its order."""
    return _pages(
        info,
        ("domain_users", query),
        models.SipUser,
        "domain_id",
        args,
        query.order_keys(),
        to_node,
        refine=query.apply,
    )


def domain_groups(
    info: Info, args: PageArgs, to_node: Callable[[models.SipGroup], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each domain's visible groups, by group name."""
    return _pages(
        info, "domain_groups", models.SipGroup, "domain_id", args, [OrderKey("group_name")], to_node
    )


def domain_queues(
    info: Info, args: PageArgs, to_node: Callable[[models.SipQueue], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each domain's visible queues, by queue name."""
    return _pages(
        info, "domain_queues", models.SipQueue, "domain_id", args, [OrderKey("queue_name")], to_node
    )


def domain_trusted_networks(info: Info) -> DataLoader[int, list[models.TrustedNetwork]]:
    """Visible trusted networks of each domain, oldest first."""

    async def load(
        visible_rows: QuerySet[Any], keys: list[int]
    ) -> list[list[models.TrustedNetwork]]:
        qs = visible_rows.filter(domain_id__in=keys)
        rows = await qs.order_by("id")
        return _grouped(keys, rows, lambda r: r.domain_id)  # type: ignore[attr-defined]

    return _loader(info, "domain_trusted_networks", models.TrustedNetwork, load)


def _memberships(
    info: Info, name: str, key_field: str, other_field: str, other: type[Any], sort_by: str
) -> DataLoader[int, list[Any]]:
    """Rows of ``other`` linked to each key through group memberships, visible ones only,
    sorted by ``sort_by`` then id: two queries, however many keys."""
    viewer = loaders_of(info).viewer

    async def load(visible_rows: QuerySet[Any], keys: list[int]) -> list[list[Any]]:
        pairs = await (
            visible(models.SipGroupMember, viewer)
            .filter(**{f"{key_field}__in": keys})
            .order_by(key_field, other_field)  # DISTINCT (USER scope) orders by selected columns
            .values_list(key_field, other_field)
        )
        found = {
            row.id: row for row in await visible_rows.filter(id__in=list({o for _, o in pairs}))
        }
        out: dict[int, list[Any]] = defaultdict(list)
        for key, other_id in pairs:
            if other_id in found:
                out[key].append(found[other_id])
        for rows in out.values():
            rows.sort(key=lambda r: (getattr(r, sort_by), r.id))
        return [out.get(k, []) for k in keys]

    return _loader(info, name, other, load)


def group_members(
    info: Info, args: PageArgs, to_node: Callable[[models.SipUser], T]
) -> DataLoader[int, Connection[T]]:
    """A page of each group's visible member users, by username: users joined to their
    memberships, partitioned by the membership's group."""
    return _pages(
        info,
        "group_members",
        models.SipUser,
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

    async def load(
        visible_rows: QuerySet[Any], keys: list[int]
    ) -> list[list[models.SipQueueMember]]:
        rows = await visible_rows.filter(queue_id__in=keys).order_by("ring_order", "id")
        return _grouped(keys, rows, lambda r: r.queue_id)  # type: ignore[attr-defined]

    return _loader(info, "queue_members", models.SipQueueMember, load)
