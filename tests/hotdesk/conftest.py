"""Hot-desk fixtures: the deploy world (a company, simulated phones, a real FTP server),
hot-desk users with PINs, and a client that uses the hot-desk service the way a Cisco
phone does."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from lxml import etree

from app.core.crypto import hash_pin
from app.core.ids import to_global_id
from app.devices.models import Phone, PhoneTemplate
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

LOGIN = """
mutation($mac: MacAddress!, $ext: String!, $pin: String) {
  hotdeskLogin(mac: $mac, extensionNumber: $ext, pin: $pin) {
    session { id open configWritten endReason sipUser { id } phone { mac } profile { id } }
    job { id kind status }
    userErrors { field code message }
  }
}
"""
LOGOUT = """
mutation($mac: MacAddress!) { hotdeskLogout(mac: $mac) {
  session { id open endReason logoutJob { id kind } }
  job { id kind status }
  userErrors { field code message } } }
"""
SESSION = """
query($id: ID!) { node(id: $id) { ... on HotdeskSession {
  id open configWritten startedAt expiresAt endedAt endReason
  loginJob { id kind status } logoutJob { id kind status }
} } }
"""
REPROVISION = """
mutation($mac: MacAddress!) { phoneReprovision(mac: $mac) { job { id }
  userErrors { field code message } } }
"""


@pytest.fixture
async def settings(
    settings: Settings,
    ftp_server: FtpServerHandle,  # noqa: F811
) -> AsyncIterator[Settings]:
    """The deploy test settings (a real aioftp server, short phone timeouts), with a quick
    expiry sweep."""
    s = dataclasses.replace(
        settings,
        ftp_url=ftp_server.url,
        phone_timeout=PHONE_TIMEOUT,
        restart_grace=1.0,
        options_interval=0.2,
        deploy_heartbeat=0.5,
        deploy_lease=3.0,
        hotdesk_sweep_interval=0.3,
    )
    use_settings(s)
    yield s
    use_settings(settings)


def set_timeout(seconds: float) -> None:
    """PHONEGRAPH_HOTDESK_TIMEOUT for the logins from now on (the server runs here)."""
    from app.settings import get_settings

    use_settings(dataclasses.replace(get_settings(), hotdesk_timeout=seconds))


class CiscoServices:
    """What a Cisco phone does with its ``<servicesURL>``: GET it (the phone's own name in
    place of ``#DEVICENAME#``), show the XML, and follow the ``<URL>`` it holds."""

    def __init__(self, services_url: str, device: str) -> None:
        self.url = services_url.replace("#DEVICENAME#", device)

    async def get(self, url: str) -> etree._Element:
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.get(url)
        assert response.status_code == 200, (response.status_code, response.text)
        assert response.headers["content-type"].startswith("text/xml")
        return etree.fromstring(response.content)

    async def menu(self) -> etree._Element:
        return await self.get(self.url)

    async def login(self, extension: str, pin: str) -> etree._Element:
        """Fill in the ``CiscoIPPhoneInput`` form and submit it."""
        form = await self.menu()
        assert form.tag == "CiscoIPPhoneInput", etree.tostring(form)
        target = form.findtext("URL")
        params = [item.findtext("QueryStringParam") for item in form.findall("InputItem")]
        assert params == ["extension", "pin"]
        values = dict(zip(params, [extension, pin], strict=True))
        return await self.get(f"{target}&{urlencode(values)}")

    async def logout(self) -> etree._Element:
        """Press the ``Logout`` soft key of the ``CiscoIPPhoneText`` that names the user."""
        shown = await self.menu()
        assert shown.tag == "CiscoIPPhoneText", etree.tostring(shown)
        keys = {key.findtext("Name"): key.findtext("URL") for key in shown.findall("SoftKeyItem")}
        return await self.get(keys["Logout"])


def text_of(answer: etree._Element) -> str:
    assert answer.tag == "CiscoIPPhoneText", etree.tostring(answer)
    return answer.findtext("Text") or ""


@dataclass
class HotdeskWorld:
    """The deploy world with hot-desk phones and users."""

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

    async def hotdesk_user(self, pin: str = "4711", **fields: Any) -> SipUser:
        fields.setdefault("hotdesk_allowed", True)
        return await self.base.user(pin_hash=hash_pin(pin), **fields)

    async def hotdesk_phone(self, sim: Any, *, template: bool = True, **fields: Any) -> Phone:
        fields.setdefault("can_hotdesk", True)
        if template:
            builtin = await PhoneTemplate.get(filename="cisco-sip.cnf.xml")
            fields.setdefault("template_id", builtin.id)
        return await self.base.phone(sim, **fields)

    async def login(self, mac: str, ext: str, pin: str | None = None, client: Any = None) -> Any:
        data = await (client or self.admin).data(LOGIN, {"mac": mac, "ext": ext, "pin": pin})
        return data["hotdeskLogin"]

    async def logout(self, mac: str, client: Any = None) -> Any:
        return (await (client or self.admin).data(LOGOUT, {"mac": mac}))["hotdeskLogout"]

    async def session(self, session_id: str) -> dict[str, Any]:
        return (await self.admin.data(SESSION, {"id": session_id}))["node"]

    async def until_session(
        self, session_id: str, check: Any, timeout: float = 20.0
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                session = await self.session(session_id)
                if check(session):
                    return session
                await asyncio.sleep(0.05)

    async def reprovision(self, mac: str) -> dict[str, Any]:
        payload = (await self.admin.data(REPROVISION, {"mac": mac}))["phoneReprovision"]
        assert payload["userErrors"] == []
        return await self.base.wait_job(payload["job"]["id"])

    def stored(self, mac: str) -> bytes | None:
        path = self.base.ftp.root / f"SEP{mac}.cnf.xml"
        return path.read_bytes() if path.exists() else None

    async def services(self, sim: Any) -> CiscoServices:
        """The phone's services client, from the ``<servicesURL>`` of the config it
        fetched from the FTP root."""
        config = self.stored(sim.mac)
        assert config is not None, "the phone has no config yet"
        url = etree.fromstring(config).findtext("servicesURL")
        assert url, "the phone's config has no servicesURL"
        return CiscoServices(url, f"SEP{sim.mac}")


@pytest.fixture
async def hd(world: DeployWorld) -> HotdeskWorld:  # noqa: F811
    # Phones reach the server where it listens (PHONEGRAPH_PUBLIC_URL).
    from app.settings import get_settings

    use_settings(dataclasses.replace(get_settings(), public_url=world.server.url))
    return HotdeskWorld(world)


def gid(type_name: str, pk: int) -> str:
    return to_global_id(type_name, pk)
