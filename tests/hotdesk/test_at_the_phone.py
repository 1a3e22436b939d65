"""Hot desking driven the way a Cisco phone does it: the phone's config points its
Services button at the server, the user types extension and PIN, the phone restarts as
theirs; logging out (or the end of the day) gives the phone its own config back."""

from __future__ import annotations

import httpx

from app.devices.models import PhoneLine
from app.devices.rendering import render_phone_config
from app.hotdesk.models import HotdeskSession
from tests.conftest import ADMIN_TOKEN
from tests.deploy.conftest import CNF_XML, pk_of, progress, steps
from tests.hotdesk.conftest import HotdeskWorld, gid, text_of

CISCO_STEPS = [
    "QUEUED",
    "UPLOADING_CONFIG",
    "CONFIG_UPLOADED",
    "CLEARING_SESSION",
    "RESTARTING",
    "WAITING_FOR_PHONE",
    "PHONE_ONLINE",
    "SUCCEEDED",
]


async def _open(hd: HotdeskWorld, phone_id: int) -> HotdeskSession:
    session = await HotdeskSession.get_or_none(open_phone_id=phone_id)
    assert session is not None
    return session


async def test_login_at_the_phone_writes_the_users_profile_and_logout_restores_the_phone(
    hd: HotdeskWorld,
) -> None:
    sim = await hd.base.sim()
    phone = await hd.hotdesk_phone(sim)
    await hd.reprovision(sim.mac)
    own_config = hd.stored(sim.mac)
    assert own_config == (await render_phone_config(phone.id))[1]
    alice = await hd.hotdesk_user(pin="4711")
    await hd.base.profile(alice, cnf_xml=CNF_XML, name="Alice at a desk")
    services = await hd.services(sim)
    key = await hd.provisioning_key()
    assert services.url == f"{hd.base.server.url}/services/{key}/hotdesk?device=SEP{sim.mac}"
    reboots = sim.reboots

    answer = await services.login(alice.extension_number, "4711")

    assert "restarts" in text_of(answer)
    session = await _open(hd, phone.id)
    events = await progress(hd.base.server, ADMIN_TOKEN, gid("DeployJob", session.login_job_id))
    assert steps(events) == CISCO_STEPS
    assert events[-1]["job"]["status"] == "SUCCEEDED"
    # The user's profile, byte for byte, and the phone restarted with it.
    assert hd.stored(sim.mac) == CNF_XML.encode("utf-8")
    assert sim.reboots == reboots + 1
    assert sim.fetched_configs[-1] == CNF_XML.encode("utf-8")
    shown = await hd.session(gid("HotdeskSession", session.id))
    assert shown["open"] and shown["configWritten"] and shown["endReason"] is None
    assert shown["loginJob"]["kind"] == "HOTDESK_LOGIN"
    menu = await services.menu()
    assert menu.tag == "CiscoIPPhoneText"
    assert alice.display_name in text_of(menu)

    answer = await services.logout()

    assert "restarts" in text_of(answer)
    ended = await hd.until_session(
        gid("HotdeskSession", session.id), lambda s: s["logoutJob"]["status"] == "SUCCEEDED"
    )
    assert ended["open"] is False and ended["endReason"] == "LOGOUT"
    assert ended["logoutJob"]["kind"] == "HOTDESK_LOGOUT"
    assert hd.stored(sim.mac) == own_config
    assert sim.fetched_configs[-1] == own_config
    assert sim.reboots == reboots + 2
    assert (await services.menu()).tag == "CiscoIPPhoneInput"


async def test_a_user_without_a_profile_gets_the_template_with_only_their_line(
    hd: HotdeskWorld,
) -> None:
    sim = await hd.base.sim()
    owner = await hd.base.user("deskowner")
    phone = await hd.hotdesk_phone(sim, user=owner)
    other = await hd.base.user("reception")
    await PhoneLine.create(phone=phone, port=2, sip_user=other)
    await hd.reprovision(sim.mac)
    own_config = hd.stored(sim.mac)
    bob = await hd.hotdesk_user(pin="2468")
    services = await hd.services(sim)

    await services.login(bob.extension_number, "2468")
    session = await _open(hd, phone.id)
    await hd.base.wait_job(gid("DeployJob", session.login_job_id))

    written = hd.stored(sim.mac)
    assert written == (await render_phone_config(phone.id, bob.id))[1]
    assert f"<name>{bob.extension_number}</name>" in written.decode()
    assert f"<name>{owner.extension_number}</name>" not in written.decode()
    assert f"<name>{other.extension_number}</name>" not in written.decode()
    assert (await hd.session(gid("HotdeskSession", session.id)))["configWritten"]
    await services.logout()
    ended = await hd.until_session(
        gid("HotdeskSession", session.id), lambda s: s["logoutJob"]["status"] == "SUCCEEDED"
    )
    assert ended["endReason"] == "LOGOUT"
    assert hd.stored(sim.mac) == own_config


async def test_a_phone_without_a_template_gets_back_the_exact_bytes_it_had(
    hd: HotdeskWorld,
) -> None:
    sim = await hd.base.sim()
    phone = await hd.hotdesk_phone(sim, template=False)
    before = b"<device><!-- written by hand, \xc3\xbc --></device>\r\n"
    (hd.base.ftp.root / f"SEP{sim.mac}.cnf.xml").write_bytes(before)
    carol = await hd.hotdesk_user()
    await hd.base.profile(carol)

    login = await hd.login(sim.mac, carol.extension_number)  # an admin: no PIN
    assert login["userErrors"] == []
    await hd.base.wait_job(login["job"]["id"])
    assert hd.stored(sim.mac) == CNF_XML.encode()
    logout = await hd.logout(sim.mac)
    assert logout["userErrors"] == []
    job = await hd.base.wait_job(logout["job"]["id"])

    assert job["status"] == "SUCCEEDED"
    assert hd.stored(sim.mac) == before
    assert sim.fetched_configs[-1] == before
    assert phone.template_id is None  # type: ignore[attr-defined]


async def test_unknown_key_or_device_is_not_found(hd: HotdeskWorld) -> None:
    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    key = await hd.provisioning_key()
    other = await hd.base.tenant.client.data("query { viewer { role } }")
    assert other["viewer"]["role"] == "COMPANY_ADMIN"
    base = hd.base.server.url
    async with httpx.AsyncClient() as http:
        for path in (
            f"/services/wrong-key/hotdesk?device=SEP{sim.mac}",
            f"/services/{key}/hotdesk?device=SEP00000000FFFF",
            f"/services/{key}/hotdesk?device=nonsense",
            f"/services/{key}/hotdesk",
            f"/services/{key}/hotdesk/login?device=SEP00000000FFFF&extension=201&pin=1",
            f"/services/{key}/hotdesk/logout?device=SEP00000000FFFF",
        ):
            response = await http.get(base + path)
            assert response.status_code == 404, path


async def test_another_companys_phone_is_not_found_with_this_key(hd: HotdeskWorld) -> None:
    other = await hd.base.tenant.client.data("query { viewer { company { id } } }")
    assert other["viewer"]["company"]["id"] == hd.base.tenant.company_id
    rival = await hd.base.server.client().data(
        'mutation { companyCreate(input: {name: "Rival"}) { company { id } } }'
    )
    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim, company_pk=pk_of(rival["companyCreate"]["company"]["id"]))
    key = await hd.provisioning_key()
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{hd.base.server.url}/services/{key}/hotdesk?device=SEP{sim.mac}")
    assert response.status_code == 404


async def test_the_services_url_is_only_in_hot_desk_phones_configs(hd: HotdeskWorld) -> None:
    shared = await hd.hotdesk_phone(None)
    private = await hd.hotdesk_phone(None, can_hotdesk=False)
    key = await hd.provisioning_key()

    shared_config = (await render_phone_config(shared.id))[1].decode()
    private_config = (await render_phone_config(private.id))[1].decode()

    expected = f"{hd.base.server.url}/services/{key}/hotdesk?device=#DEVICENAME#"
    assert f"<servicesURL>{expected}</servicesURL>" in shared_config
    assert "servicesURL" not in private_config


async def test_a_phone_that_is_not_for_hot_desking_says_so_and_changes_nothing(
    hd: HotdeskWorld,
) -> None:
    sim = await hd.base.sim()
    phone = await hd.hotdesk_phone(sim)
    await hd.reprovision(sim.mac)
    services = await hd.services(sim)
    await type(phone).filter(id=phone.id).update(can_hotdesk=False)
    dave = await hd.hotdesk_user(pin="1357")
    before = hd.stored(sim.mac)

    shown = await services.menu()
    assert "not a hot-desk phone" in text_of(shown)
    async with httpx.AsyncClient() as http:
        login = services.url.replace("/hotdesk?", "/hotdesk/login?")
        response = await http.get(f"{login}&extension={dave.extension_number}&pin=1357")
    assert response.status_code == 200
    assert "not a hot-desk phone" in response.text
    assert not await HotdeskSession.exists()
    assert hd.stored(sim.mac) == before


async def test_the_answers_are_xml_that_user_data_cannot_break(hd: HotdeskWorld) -> None:
    sim = await hd.base.sim()
    phone = await hd.hotdesk_phone(sim)
    await hd.reprovision(sim.mac)
    mallory = await hd.hotdesk_user(pin="9999")
    mallory.display_name = "<b>M & M</b>]]>"
    await mallory.save()
    login = await hd.login(sim.mac, mallory.extension_number)
    await hd.base.wait_job(login["job"]["id"])
    services = await hd.services(sim)

    shown = await services.menu()  # parsed by lxml: well-formed

    assert "<b>M & M</b>]]>" in text_of(shown)
    assert (await _open(hd, phone.id)).sip_user_id == mallory.id  # type: ignore[attr-defined]


async def test_the_login_and_logout_addresses_are_the_public_url_whatever_the_host_header(
    hd: HotdeskWorld,
) -> None:
    import dataclasses

    from lxml import etree

    from app.settings import get_settings, use_settings

    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    alice = await hd.hotdesk_user(pin="1234")
    await hd.base.profile(alice)
    key = await hd.provisioning_key()
    menu = f"{hd.base.server.url}/services/{key}/hotdesk?device=SEP{sim.mac}"
    forged = {"Host": "attacker.example:8080"}
    public = "https://phones.example.net:8443"
    settings = get_settings()

    async def login_url() -> str:
        async with httpx.AsyncClient() as http:
            response = await http.get(menu, headers=forged)
        return etree.fromstring(response.content).findtext("URL") or ""

    use_settings(dataclasses.replace(settings, public_url=public + "/"))
    assert (await login_url()).startswith(f"{public}/services/")
    use_settings(dataclasses.replace(settings, public_url=None))
    default = f"http://{settings.host}:{settings.port}/services/"
    assert (await login_url()).startswith(default)
    # The logout soft key too.
    await hd.base.wait_job((await hd.login(sim.mac, alice.extension_number))["job"]["id"])
    async with httpx.AsyncClient() as http:
        shown = etree.fromstring((await http.get(menu, headers=forged)).content)
    (logout,) = [k.findtext("URL") for k in shown.findall("SoftKeyItem")]
    assert logout and logout.startswith(default) and "attacker" not in logout
    use_settings(settings)
