"""Webhook fixtures: a real aiohttp receiver on loopback (answering as told), webhooks
made through the API, and the deploy and hot-desk worlds for the events they raise."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web

from app.settings import Settings, get_settings, use_settings
from tests.conftest import GraphQLClient, LiveServer
from tests.deploy.conftest import (  # noqa: F401  (fixtures used by the tests)
    PHONE_TIMEOUT,
    DeployWorld,
    world,
)
from tests.hotdesk.conftest import hd  # noqa: F401
from tests.support.fixtures import (  # noqa: F401
    ftp_server,
    phone_sim_factory,
)
from tests.support.ftp_server import FtpServerHandle

WEBHOOK_FIELDS = "id url events description active createdAt company { id }"
CREATE = f"""
mutation($input: WebhookInput!) {{ webhookCreate(input: $input) {{
  secret webhook {{ {WEBHOOK_FIELDS} }} userErrors {{ field code message }} }} }}
"""
UPDATE = f"""
mutation($id: ID!, $input: WebhookInput!) {{ webhookUpdate(id: $id, input: $input) {{
  webhook {{ {WEBHOOK_FIELDS} }} userErrors {{ field code message }} }} }}
"""
DELETE = """
mutation($id: ID!) { webhookDelete(id: $id) { deletedId userErrors { field code message } } }
"""
ROTATE = f"""
mutation($id: ID!) {{ webhookSecretRotate(id: $id) {{
  secret webhook {{ {WEBHOOK_FIELDS} }} userErrors {{ field code message }} }} }}
"""
LIST = f"""
query {{ webhooks(first: 50) {{ totalCount nodes {{ {WEBHOOK_FIELDS} }} }} }}
"""
DELIVERIES = """
query($id: ID!) { node(id: $id) { ... on Webhook { deliveries(first: 50) { totalCount nodes {
  id event status attempts lastStatusCode lastError payload createdAt deliveredAt } } } } }
"""


@pytest.fixture
async def settings(
    settings: Settings,
    ftp_server: FtpServerHandle,  # noqa: F811
) -> AsyncIterator[Settings]:
    """The deploy test settings (a real aioftp server, short phone timeouts); webhooks
    may post to loopback, and retry quickly."""
    s = dataclasses.replace(
        settings,
        ftp_url=ftp_server.url,
        phone_timeout=PHONE_TIMEOUT,
        restart_grace=1.0,
        options_interval=0.2,
        deploy_heartbeat=0.5,
        deploy_lease=3.0,
        hotdesk_sweep_interval=0.3,
        webhook_allow_private=True,
        webhook_retry_seconds=0.2,
    )
    use_settings(s)
    yield s
    use_settings(settings)


def change_settings(**fields: Any) -> None:
    """Change the settings in force (the server runs in this process)."""
    use_settings(dataclasses.replace(get_settings(), **fields))


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def delivery(self) -> str:
        return self.headers["PhoneGraph-Delivery"]


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_verifier() -> Callable[..., bool]:
    """The README's signature check (its one Python block), exactly as written there."""
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    (block,) = [b for b in blocks if "def phonegraph_signature_valid" in b]
    namespace: dict[str, Any] = {}
    exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    return namespace["phonegraph_signature_valid"]


def signature_valid(secret: str, received: Received) -> bool:
    """How a receiver checks PhoneGraph-Signature: with the README's own function."""
    verify = _readme_verifier()
    return verify(secret, received.headers["PhoneGraph-Signature"], received.body)


@dataclass
class Receiver:
    """An HTTP endpoint on loopback recording every POST; it answers the statuses of
    ``answers`` in turn, then ``200``."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    always: int | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(dict(request.headers), await request.read()))
        self.arrived.set()
        status = self.always or (self.answers.pop(0) if self.answers else 200)
        return web.Response(status=status, text="ok")

    async def until(self, count: int, timeout: float = 20.0) -> list[Received]:
        """The requests once at least ``count`` arrived."""
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received

    async def until_matching(self, check: Any, timeout: float = 20.0) -> Received:
        """The first request ``check(request)`` holds for, once it arrived."""
        async with asyncio.timeout(timeout):
            while True:
                found = [r for r in self.received if check(r)]
                if found:
                    return found[0]
                self.arrived.clear()
                await self.arrived.wait()

    def of(self, event: str) -> list[Received]:
        return [r for r in self.received if r.headers["PhoneGraph-Event"] == event]

    async def until_event(self, event: str, timeout: float = 20.0) -> Received:
        async with asyncio.timeout(timeout):
            while not self.of(event):
                self.arrived.clear()
                await self.arrived.wait()
        return self.of(event)[0]


async def run_receiver(path: str = "/hook") -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post(path, receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}{path}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async for r in run_receiver():
        yield r


@pytest.fixture
async def other_receiver() -> AsyncIterator[Receiver]:
    async for r in run_receiver("/other"):
        yield r


async def create_webhook(
    client: GraphQLClient, company_id: str, url: str, events: list[str], **fields: Any
) -> tuple[dict[str, Any], str]:
    """A webhook and its secret."""
    payload = await client.mutate(
        CREATE, {"input": {"companyId": company_id, "url": url, "events": events, **fields}}
    )
    return payload["webhook"], payload["secret"]


async def deliveries(client: GraphQLClient, webhook_id: str) -> list[dict[str, Any]]:
    data = await client.data(DELIVERIES, {"id": webhook_id})
    return data["node"]["deliveries"]["nodes"]


async def until_deliveries(
    client: GraphQLClient, webhook_id: str, check: Any, timeout: float = 30.0
) -> list[dict[str, Any]]:
    async with asyncio.timeout(timeout):
        while True:
            found = await deliveries(client, webhook_id)
            if check(found):
                return found
            await asyncio.sleep(0.05)


async def provisioning_key(admin: GraphQLClient, company_id: str) -> str:
    data = await admin.data(
        "query($id: ID!) { node(id: $id) { ... on Company { provisioningKey } } }",
        {"id": company_id},
    )
    return data["node"]["provisioningKey"]


async def fetch_config(base_url: str, key: str, mac: str) -> int:
    """A phone with ``mac`` asks for its Cisco config, as an unknown phone does."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.get(f"/provisioning/{key}/SEP{mac}.cnf.xml")
    return response.status_code


async def register_phone(server: LiveServer, admin: GraphQLClient, company_id: str, mac: str) -> None:
    """Raise PHONE_REGISTERED: an unknown MAC fetches a config with the company's key."""
    assert await fetch_config(server.url, await provisioning_key(admin, company_id), mac) == 404
