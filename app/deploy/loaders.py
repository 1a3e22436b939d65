"""DataLoaders of deploy jobs: one statement per level, through the caller's scope."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tortoise.queryset import QuerySet

from app.core.context import Info, loaders_of
from app.core.pagination import Connection, OrderKey, PageArgs, paginate_nested
from app.core.scope import visible
from app.deploy import models
from app.deploy.revisions import revision_label, unified_diff
from app.devices.models import Phone as PhoneRow
from app.devices.rendering import PhoneFacts, phone_facts, render_facts

T = TypeVar("T")

NEWEST_FIRST = [OrderKey("id", descending=True)]


async def phone_deploy_jobs(
    info: Info, phone_id: int, args: PageArgs, to_node: Callable[[models.DeployJob], T]
) -> Connection[T]:
    """A phone's jobs, newest first (``Phone.deployJobs``).

    One query loads the page of every phone of the page (per page arguments), so a list
    of phones costs the same number of queries whatever its length, and reads only the
    jobs it returns.
    """
    async def load(
        jobs: QuerySet[models.DeployJob], phone_ids: list[int]
    ) -> list[Connection[T]]:
        return await paginate_nested(
            jobs, "phone_id", phone_ids, args, NEWEST_FIRST, to_node
        )

    loader = loaders_of(info).batch(("phone_deploy_jobs", args), models.DeployJob, load)
    return await loader.load(phone_id)


async def phone_config_revisions(
    info: Info, phone_id: int, args: PageArgs, to_node: Callable[[models.ConfigRevision], T]
) -> Connection[T]:
    """A phone's config revisions, newest first (``Phone.configRevisions``): one query
    for every phone of the page, as :func:`phone_deploy_jobs`."""

    async def load(
        revisions: QuerySet[models.ConfigRevision], phone_ids: list[int]
    ) -> list[Connection[T]]:
        return await paginate_nested(
            revisions, "phone_id", phone_ids, args, NEWEST_FIRST, to_node
        )

    loader = loaders_of(info).batch(
        ("phone_config_revisions", args), models.ConfigRevision, load
    )
    return await loader.load(phone_id)


@dataclass
class Preview:
    """``Phone.configPreview``, computed."""

    filename: str
    content: str
    diff: str
    changed: bool


async def phone_config_preview(info: Info, phone_id: int) -> Preview | None:
    """The phone's template rendered now, masked, against its newest revision.

    For a page of phones: one statement for the phones, one each for what their
    templates see (``app.devices.rendering.phone_facts``), one for their newest
    revisions; the renders run off the event loop, each within the template limits.
    A phone without a model or a template has none (``None``); a template that fails
    is an error of that phone's field alone.
    """

    async def load(phones: QuerySet[PhoneRow], phone_ids: list[int]) -> list[Any]:
        rows = {p.id: p for p in await phones.filter(id__in=phone_ids)}
        facts = await phone_facts([rows[i] for i in phone_ids if i in rows])
        newest_pages = await paginate_nested(
            visible(models.ConfigRevision, loaders_of(info).viewer),
            "phone_id",
            [f.phone.id for f in facts],
            PageArgs(first=1),
            NEWEST_FIRST,
            lambda row: row,
        )
        newest = {
            f.phone.id: page.nodes[0] if page.nodes else None
            for f, page in zip(facts, newest_pages, strict=True)
        }
        results = await asyncio.gather(
            *(_preview(f, newest[f.phone.id]) for f in facts), return_exceptions=True
        )
        by_phone = {f.phone.id: r for f, r in zip(facts, results, strict=True)}
        return [by_phone.get(i) for i in phone_ids]

    loader = loaders_of(info).batch(("phone_config_preview",), PhoneRow, load)
    return await loader.load(phone_id)


async def _preview(facts: PhoneFacts, newest: models.ConfigRevision | None) -> Preview | None:
    if facts.model is None or facts.template is None:
        return None
    rendered = await render_facts(facts, exact=False)
    if newest is not None and newest.content == rendered.masked:
        return Preview(rendered.filename, rendered.masked, "", False)
    diff = await asyncio.to_thread(
        unified_diff,
        newest.content if newest else None,
        rendered.masked,
        revision_label(newest),
        f"{rendered.filename} (preview)",
    )
    return Preview(rendered.filename, rendered.masked, diff, True)
