"""Config-history fixtures: the deploy world (a company, simulated phones, a real FTP
server) with phones whose configs hold secrets, and the queries of CONTRACT §7."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from app.core.crypto import encrypt, hash_pin
from app.devices.models import Phone, PhoneLine, PhoneTemplate
from app.pbx.models import SipUser
from app.settings import Settings, use_settings
from tests.deploy.conftest import (  # noqa: F401  (fixtures used by the tests)
    PHONE_TIMEOUT,
    DeployWorld,
    world,
)
from tests.support.fixtures import (  # noqa: F401
    ftp_server,
    phone_sim_factory,
)
from tests.support.ftp_server import FtpServerHandle

# The stored secrets the server puts into a phone's config.
WEB_PASSWORD = "Web-Secret-7319"
LINE_SECRET = "Line-Secret-4862"
# A SIP user's own password (a hand-written profile may hold it).
SIP_PASSWORD = "Sip-Password-5517"

REVISIONS = """
query($mac: MacAddress!, $first: Int) { phone(mac: $mac) {
  configRevisions(first: $first) { totalCount nodes {
    id filename sha256 size content diff reason createdAt
    job { id kind } phone { mac }
  } }
} }
"""

PREVIEW = """
query($mac: MacAddress!) { phone(mac: $mac) {
  configPreview { filename content diff changed }
} }
"""

ROLLBACK = """
mutation($mac: MacAddress!, $revisionId: ID!) {
  phoneConfigRollback(mac: $mac, revisionId: $revisionId) {
    job { id kind status }
    userErrors { field code message }
  }
}
"""

REPROVISION = """
mutation($mac: MacAddress!) { phoneReprovision(mac: $mac) { job { id }
  userErrors { field code message } } }
"""

LOGIN = """
mutation($mac: MacAddress!, $ext: String!) {
  hotdeskLogin(mac: $mac, extensionNumber: $ext) {
    job { id kind } userErrors { field code message } } }
"""

LOGOUT = """
mutation($mac: MacAddress!) { hotdeskLogout(mac: $mac) {
  job { id kind } userErrors { field code message } } }
"""


def secrets_in(value: Any, secrets: list[str]) -> list[str]:
    """Every string anywhere in a response's JSON that holds one of ``secrets``."""
    found: list[str] = []
    if isinstance(value, dict):
        for item in value.values():
            found += secrets_in(item, secrets)
    elif isinstance(value, list):
        for item in value:
            found += secrets_in(item, secrets)
    elif isinstance(value, str):
        found += [value for secret in secrets if secret in value]
    return found


@dataclass
class HistoryWorld:
    """The deploy world with phones whose template puts secrets into their config."""

    base: DeployWorld

    @property
    def admin(self) -> Any:
        return self.base.admin

    async def provisioning_key(self) -> str:
        data = await self.admin.data(
            "query($id: ID!) { node(id: $id) { ... on Company { provisioningKey } } }",
            {"id": self.base.tenant.company_id},
        )
        return data["node"]["provisioningKey"]

    async def secrets(self) -> list[str]:
        return [WEB_PASSWORD, LINE_SECRET, SIP_PASSWORD, await self.provisioning_key()]

    async def phone(
        self,
        *,
        template: bool = True,
        user: SipUser | None = None,
        web_password: str = WEB_PASSWORD,
        **fields: Any,
    ) -> tuple[Any, Phone]:
        """A simulated phone and its row: the built-in Cisco template, a web password,
        line 1 with a SIP secret (for ``user``, or a new one), and hot desking (so its
        config names the provisioning key)."""
        sim = await self.base.sim(
            web_username="admin", web_password=web_password, reboot_seconds=0.2
        )
        if template:
            builtin = await PhoneTemplate.get(filename="cisco-sip.cnf.xml")
            fields.setdefault("template_id", builtin.id)
        fields.setdefault("can_hotdesk", True)
        phone = await self.base.phone(sim, web_password=web_password, **fields)
        owner = user or await self.base.user()
        await PhoneLine.create(
            phone=phone, port=1, sip_user=owner, auth_secret_enc=encrypt(LINE_SECRET)
        )
        return sim, phone

    async def hotdesk_user(self, pin: str = "4711") -> SipUser:
        return await self.base.user(
            pin_hash=hash_pin(pin), hotdesk_allowed=True, password_enc=encrypt(SIP_PASSWORD)
        )

    async def run(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        """Queue a job with a one-field mutation; the job once it has ended."""
        data = await self.admin.data(query, variables)
        payload = next(iter(data.values()))
        assert payload["userErrors"] == [], payload
        job = await self.base.wait_job(payload["job"]["id"])
        assert job["status"] == "SUCCEEDED", job
        return job

    async def reprovision(self, mac: str) -> dict[str, Any]:
        return await self.run(REPROVISION, {"mac": mac})

    async def revisions(self, mac: str, first: int = 50, client: Any = None) -> dict[str, Any]:
        data = await (client or self.admin).data(REVISIONS, {"mac": mac, "first": first})
        return data["phone"]["configRevisions"]

    async def preview(self, mac: str) -> dict[str, Any] | None:
        return (await self.admin.data(PREVIEW, {"mac": mac}))["phone"]["configPreview"]

    def stored(self, filename: str) -> bytes:
        return (self.base.ftp.root / filename).read_bytes()


@pytest.fixture
async def settings(
    settings: Settings,
    ftp_server: FtpServerHandle,  # noqa: F811
) -> AsyncIterator[Settings]:
    """The deploy test settings: a real aioftp server, short phone timeouts."""
    s = dataclasses.replace(
        settings,
        ftp_url=ftp_server.url,
        phone_timeout=PHONE_TIMEOUT,
        restart_grace=1.0,
        options_interval=0.2,
        deploy_heartbeat=0.5,
        deploy_lease=3.0,
    )
    use_settings(s)
    yield s
    use_settings(settings)


@pytest.fixture
async def history(world: DeployWorld) -> HistoryWorld:  # noqa: F811
    from app.settings import get_settings

    use_settings(dataclasses.replace(get_settings(), public_url=world.server.url))
    return HistoryWorld(world)


async def until(check: Any, timeout: float = 15.0) -> Any:
    """Poll ``check()`` until it returns something true (with a deadline)."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)
