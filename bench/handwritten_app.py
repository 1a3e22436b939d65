"""The yardstick: the JSON of the benchmark's GraphQL queries, served by a small
hand-written Starlette + Tortoise endpoint over the same database.

It does what a careful developer writes by hand for one page: one query per level,
``.values()`` of the columns the page shows, lookups by id, a dict built per row. It
knows nothing of scoping (the benchmark's token is a system admin's, who sees every
row) and checks no input beyond the page size.

Served by ``uvicorn bench.handwritten_app:app`` with ``PHONEGRAPH_DATABASE_URL`` set;
``POST /`` takes ``{"query": "<name>", "first": n}`` for the names in ``QUERIES``.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from tortoise.contrib.starlette import RegisterTortoise

from app.core.models import Company
from app.core.scalars import format_mac
from app.db import tortoise_config
from app.devices.models import Phone, PhoneLine, PhoneModel
from app.pbx.models import SipGroupMember, SipUser


async def phones_flat(first: int) -> dict[str, Any]:
    rows = await Phone.all().order_by("mac").limit(first).values("mac", "name")
    return {"phones": {"nodes": [{"mac": format_mac(r["mac"]), "name": r["name"]} for r in rows]}}


async def phones_nested(first: int) -> dict[str, Any]:
    phones = await Phone.all().order_by("mac").limit(first).values("id", "mac", "name", "model_id")
    model_ids = {p["model_id"] for p in phones if p["model_id"] is not None}
    models = dict(await PhoneModel.filter(id__in=model_ids).values_list("id", "name"))
    lines = await (
        PhoneLine.filter(phone_id__in=[p["id"] for p in phones])
        .order_by("phone_id", "port")
        .values("phone_id", "sip_user_id")
    )
    user_ids = {line["sip_user_id"] for line in lines if line["sip_user_id"] is not None}
    users = dict(await SipUser.filter(id__in=user_ids).values_list("id", "username"))
    groups: dict[int, list[str]] = defaultdict(list)
    for m in await (
        SipGroupMember.filter(user_id__in=user_ids)
        .order_by("user_id", "group__group_name")
        .values("user_id", "group__group_name")
    ):
        groups[m["user_id"]].append(m["group__group_name"])
    lines_of: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        uid = line["sip_user_id"]
        user = (
            None
            if uid is None
            else {"username": users[uid], "groups": [{"groupName": g} for g in groups[uid]]}
        )
        lines_of[line["phone_id"]].append({"sipUser": user})
    nodes = [
        {
            "mac": format_mac(p["mac"]),
            "name": p["name"],
            "model": None if p["model_id"] is None else {"name": models[p["model_id"]]},
            "lines": lines_of[p["id"]],
        }
        for p in phones
    ]
    return {"phones": {"nodes": nodes}}


async def companies_phones(first: int) -> dict[str, Any]:
    companies = await Company.all().order_by("name", "id").limit(20).values("id", "name")
    nodes = []
    for c in companies:
        phones = await (
            Phone.filter(company_id=c["id"]).order_by("mac").limit(first).values("mac", "name")
        )
        nodes.append(
            {
                "name": c["name"],
                "phones": {
                    "nodes": [{"mac": format_mac(p["mac"]), "name": p["name"]} for p in phones]
                },
            }
        )
    return {"companies": {"nodes": nodes}}


QUERIES: dict[str, Callable[[int], Awaitable[dict[str, Any]]]] = {
    "nested": phones_nested,
    "flat": phones_flat,
    "companies": companies_phones,
}


async def serve(request: Request) -> JSONResponse:
    body = await request.json()
    first = int(body.get("first", 100))
    if not 0 < first <= 500:
        return JSONResponse({"errors": [{"message": "first: 1 to 500"}]}, status_code=400)
    return JSONResponse({"data": await QUERIES[body["query"]](first)})


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


@asynccontextmanager
async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
    async with RegisterTortoise(
        app, config=tortoise_config(os.environ["PHONEGRAPH_DATABASE_URL"])
    ):
        yield


app = Starlette(
    routes=[Route("/", serve, methods=["POST"]), Route("/healthz", healthz)], lifespan=lifespan
)
