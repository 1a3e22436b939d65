"""Webhook lists: paged, and a webhook's deliveries loaded per level, not per webhook."""

from __future__ import annotations

from typing import Any

from tortoise.transactions import in_transaction

from app.webhooks.delivery import stop_deliverer
from app.webhooks.models import WebhookEvent
from app.webhooks.outbox import enqueue
from tests.conftest import GraphQLClient, QueryCounter
from tests.deploy.conftest import pk_of
from tests.webhooks.conftest import create_webhook

NESTED = """query($first: Int) { webhooks(first: $first) { totalCount nodes { id company { id }
  deliveries(first: 2) { totalCount nodes { id event status payload } } } } }"""


async def test_deliveries_of_a_page_of_webhooks_cost_the_same_at_any_page_size(
    admin: GraphQLClient, tenant_factory: Any, count_queries: QueryCounter
) -> None:
    await stop_deliverer()  # nothing is posted: the deliveries stay as written
    acme = await tenant_factory("Acme")
    for i in range(6):
        await create_webhook(
            acme.client, acme.company_id, f"https://93.184.215.{i + 1}/hook", ["PHONE_REGISTERED"]
        )
    for n in range(3):
        async with in_transaction():
            await enqueue(pk_of(acme.company_id), WebhookEvent.PHONE_REGISTERED, {"n": n})

    counts = []
    for size in (2, 6):
        count_queries.statements.clear()
        data = await acme.client.data(NESTED, {"first": size})
        nodes = data["webhooks"]["nodes"]
        assert len(nodes) == size and data["webhooks"]["totalCount"] == 6
        for node in nodes:
            page = node["deliveries"]
            assert page["totalCount"] == 3
            assert [d["status"] for d in page["nodes"]] == ["PENDING", "PENDING"]
            assert all(d["event"] == "PHONE_REGISTERED" for d in page["nodes"])
            assert node["company"]["id"] == acme.company_id
        counts.append(sum('"deploy_job"' not in s for s in count_queries.statements))
    assert 0 < counts[0] == counts[1], counts

    # Pages go on from their cursor, newest first.
    first = await acme.client.data(
        "query { webhooks(first: 1) { nodes { deliveries(first: 2) { "
        "pageInfo { endCursor hasNextPage } nodes { payload } } } } }"
    )
    page = first["webhooks"]["nodes"][0]["deliveries"]
    assert page["pageInfo"]["hasNextPage"]
    assert ['"n":2' in d["payload"] for d in page["nodes"]] == [True, False]
