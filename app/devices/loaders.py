"""DataLoaders of devices: one query per level of a nested selection, whatever the page size."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader
from tortoise.models import Model
from tortoise.queryset import QuerySet

from app.core.context import Info, loaders_of
from app.core.inputs import provided
from app.core.loaders import capped_lists
from app.core.pagination import Connection, OrderKey, PageArgs, paginate_nested
from app.devices import models
from app.devices.filters import PhoneFilter, filter_phones
from app.pbx.models import SipUser

M = TypeVar("M", bound=Model)
T = TypeVar("T")


def phone_lines_loader(info: Info) -> DataLoader[int, list[models.PhoneLine]]:
    """Phones' lines, by port."""
    return loaders_of(info).children_loader(models.PhoneLine, "phone_id", ("port",))


async def phone_lines(info: Info, phone_id: int) -> list[models.PhoneLine]:
    """A phone's lines, by port."""
    return await phone_lines_loader(info).load(phone_id)


async def dect_members(info: Info, base_id: int) -> list[models.DectMember]:
    """A DECT base's members, in the order they were set."""
    return await loaders_of(info).children(models.DectMember, "base_id", base_id, ("id",))


async def company_user_by_extension(info: Info, company_id: int | None, extension: str) -> Any:
    """The SIP user of ``company_id`` with ``extension`` in any of its domains (the
    oldest if several domains use the number), if the caller may see it."""
    if company_id is None:
        return None

    async def load(users: QuerySet[SipUser], keys: list[tuple[int, str]]) -> list[Any]:
        companies = {k[0] for k in keys}
        extensions = {k[1] for k in keys}
        found: dict[tuple[int, str], Any] = {}
        rows = (
            await users.filter(domain__company_id__in=companies, extension_number__in=extensions)
            .select_related("domain")
            .order_by("id")
        )
        for row in rows:
            found.setdefault((row.domain.company_id, row.extension_number), row)
        return [found.get(k) for k in keys]

    loader = loaders_of(info).batch("devices.user_by_extension", SipUser, load)
    return await loader.load((company_id, extension))


def user_phones(info: Info) -> DataLoader[int, list[models.Phone]]:
    """Visible phones with a line assigned to each user, by MAC (phones joined to their
    lines, partitioned by the line's user; a phone with two of its lines appears once)."""

    async def load(phones: QuerySet[models.Phone], keys: list[int]) -> list[list[models.Phone]]:
        return await capped_lists(phones.distinct(), "lines__sip_user_id", keys, ("mac",))

    return loaders_of(info).batch("devices.user_phones", models.Phone, load)


def company_phones_loader(
    info: Info,
    args: PageArgs,
    filter: PhoneFilter | None,
    to_node: Callable[[models.Phone], T],
) -> DataLoader[int, Connection[T]]:
    """A company's phones (``Company.phones``), by MAC.

    One query loads the page of every company of the page (per filter and page
    arguments), so a list of companies costs the same number of queries whatever its
    length, and reads only the phones it returns.
    """

    async def load(phones: QuerySet[models.Phone], company_ids: list[int]) -> list[Connection[T]]:
        return await paginate_nested(
            filter_phones(phones, filter),
            "company_id",
            company_ids,
            args,
            [OrderKey("mac")],
            to_node,
        )

    key = (
        "company_phones",
        tuple(sorted((k, str(v)) for k, v in provided(filter).items())),
        args,
    )
    return loaders_of(info).batch(key, models.Phone, load)


async def company_phones(
    info: Info,
    company_id: int,
    args: PageArgs,
    filter: PhoneFilter | None,
    to_node: Callable[[models.Phone], T],
) -> Connection[T]:
    """One company's page of :func:`company_phones_loader`."""
    return await company_phones_loader(info, args, filter, to_node).load(company_id)
