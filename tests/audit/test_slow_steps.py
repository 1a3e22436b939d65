"""Nothing slow runs inside a mutation's transaction (which, on SQLite, every other
statement of the server process waits for): a webhook URL's host is resolved outside it."""

from __future__ import annotations

import asyncio

import pytest

from app.webhooks import targets
from tests.audit.conftest import nodes
from tests.conftest import GraphQLClient
from tests.pbx.conftest import Pbx

CREATE = """
mutation($input: WebhookInput!) { webhookCreate(input: $input) {
  secret webhook { id url } userErrors { field code message } } }
"""
UPDATE = """
mutation($id: ID!, $input: WebhookInput!) { webhookUpdate(id: $id, input: $input) {
  webhook { id url } userErrors { field code message } } }
"""
COMPANY = "query($id: ID!) { node(id: $id) { ... on Company { name } } }"


async def test_other_requests_are_answered_while_a_webhook_host_is_resolved(
    acme: Pbx, admin: GraphQLClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name lookup may take seconds: meanwhile other requests (here another admin's)
    are answered, and what they write is not held up."""
    answered: list[str] = []

    async def slow_resolve(host: str, port: int) -> list[str]:
        # The lookup takes until another request has been answered (bounded).
        async with asyncio.timeout(10):
            data = await admin.data(COMPANY, {"id": acme.company_id})
        answered.append(data["node"]["name"])
        return ["93.184.216.34"]

    monkeypatch.setattr(targets, "resolve", slow_resolve)
    created = (
        await acme.client.data(
            CREATE,
            {
                "input": {
                    "companyId": acme.company_id,
                    "url": "https://hooks.example.com/a",
                    "events": ["ROLLOUT_ENDED"],
                }
            },
        )
    )["webhookCreate"]
    assert created["userErrors"] == [] and created["webhook"]["url"].endswith("/a")
    updated = (
        await acme.client.data(
            UPDATE,
            {"id": created["webhook"]["id"], "input": {"url": "https://hooks.example.com/b"}},
        )
    )["webhookUpdate"]
    assert updated["userErrors"] == [] and updated["webhook"]["url"].endswith("/b")
    assert answered == ["Acme", "Acme"]
    # Both recorded, OK, with nothing of the secret the payload returned.
    [update] = await nodes(admin, operation="webhookUpdate")
    [create] = await nodes(admin, operation="webhookCreate")
    assert (create["outcome"], update["outcome"]) == ("OK", "OK")
    assert created["secret"] not in create["arguments"]
