"""DataLoaders of devices: one query per level of a nested selection, whatever the page size."""

from __future__ import annotations

from typing import Any, TypeVar

from tortoise.models import Model

from app.core.context import Info, loaders_of, viewer_of
from app.core.scope import visible
from app.devices import models

M = TypeVar("M", bound=Model)


async def phone_lines(info: Info, phone_id: int) -> list[models.PhoneLine]:
    """A phone's lines, by port."""
    return await loaders_of(info).children(models.PhoneLine, "phone_id", ("port",)).load(phone_id)


async def dect_members(info: Info, base_id: int) -> list[models.DectMember]:
    """A DECT base's members, in the order they were set."""
    return await loaders_of(info).children(models.DectMember, "base_id", ("id",)).load(base_id)


async def company_user_by_extension(info: Info, company_id: int | None, extension: str) -> Any:
    """The SIP user of ``company_id`` with ``extension`` in any of its domains (the
    oldest if several domains use the number), if the caller may see it."""
    if company_id is None:
        return None
    from app.pbx.models import SipUser

    viewer = viewer_of(info)

    async def load(keys: list[tuple[int, str]]) -> list[Any]:
        companies = {k[0] for k in keys}
        extensions = {k[1] for k in keys}
        found: dict[tuple[int, str], Any] = {}
        rows = (
            await visible(SipUser, viewer)
            .filter(domain__company_id__in=companies, extension_number__in=extensions)
            .select_related("domain")
            .order_by("id")
        )
        for row in rows:
            found.setdefault((row.domain.company_id, row.extension_number), row)
        return [found.get(k) for k in keys]

    return (
        await loaders_of(info).get("devices.user_by_extension", load).load((company_id, extension))
    )
