"""The profile switch end to end: FTP upload, Cisco CGI, SIP NOTIFY and OPTIONS against a
simulated phone, followed live over a WebSocket subscription."""

from __future__ import annotations

from app.devices.models import Phone
from tests.conftest import ADMIN_TOKEN
from tests.deploy.conftest import CNF_XML, DeployWorld, pk_of, progress, steps

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


async def test_deploy_runs_every_step_in_order_and_the_phone_boots_the_profile(
    world: DeployWorld,
) -> None:
    sim = await world.sim(web_username="admin", web_password="pw", reboot_seconds=0.5)
    phone = await world.phone(sim, web_password="pw")
    owner = await world.user()
    profile_id = await world.profile(owner)

    payload = await world.deploy(profile_id, sim.mac)
    assert payload["userErrors"] == []
    assert payload["job"]["status"] in ("QUEUED", "RUNNING")
    assert payload["restart"] is None  # not waited for
    events = await progress(world.server, ADMIN_TOKEN, payload["job"]["id"])

    assert steps(events) == CISCO_STEPS
    assert events[-1]["job"] == {
        "id": payload["job"]["id"],
        "status": "SUCCEEDED",
        "restart": "ok",
    }
    # The file on the config target is the profile, byte for byte, and the phone
    # fetched exactly that while it rebooted.
    stored = (world.ftp.root / f"SEP{sim.mac}.cnf.xml").read_bytes()
    assert stored == CNF_XML.encode("utf-8")
    assert sim.fetched_configs == [CNF_XML.encode("utf-8")]
    # Init:Services came before the NOTIFY, with the phone's credentials.
    kinds = sim.kinds()
    assert kinds.index("CGI") < kinds.index("NOTIFY")
    assert sim.cgi_requests[0].username == "admin"
    assert sim.entries("CGI")[0].detail == "Init:Services"
    refreshed = await Phone.get(id=phone.id)
    assert refreshed.active_profile_id == pk_of(profile_id)  # type: ignore[attr-defined]


async def test_deploy_with_wait_returns_ok_when_the_phone_is_back(world: DeployWorld) -> None:
    sim = await world.sim()
    await world.phone(sim)
    owner = await world.user()
    profile_id = await world.profile(owner)

    payload = await world.deploy(profile_id, sim.mac, wait=True)

    assert payload["userErrors"] == []
    assert payload["restart"] == "ok"
    assert payload["job"]["status"] == "SUCCEEDED"
    assert payload["phoneProfile"]["id"] == profile_id
    assert payload["phone"]["mac"] == ":".join(sim.mac[i : i + 2] for i in range(0, 12, 2))
    active = await world.admin.data(
        "query($mac: MacAddress!) { phone(mac: $mac) { activeProfile { id } } }",
        {"mac": sim.mac},
    )
    assert active["phone"]["activeProfile"] == {"id": profile_id}
    assert sim.reboots == 1


async def test_non_cisco_phone_is_not_sent_init_services(world: DeployWorld) -> None:
    from app.devices.models import PhoneModel

    sim = await world.sim(cisco=False)
    model, _ = await PhoneModel.get_or_create(
        vendor="Yealink",
        name="T46U",
        defaults={
            "line_count": 16,
            "software_types": ["SIP"],
            "config_filename_pattern": "{mac}.cfg",
        },
    )
    await world.phone(sim, model=model)
    profile_id = await world.profile(await world.user())

    payload = await world.deploy(profile_id, sim.mac)
    events = await progress(world.server, ADMIN_TOKEN, payload["job"]["id"])

    assert "CLEARING_SESSION" not in steps(events)
    assert steps(events)[-1] == "SUCCEEDED"
    assert "CGI" not in sim.kinds()


async def test_replayed_events_match_the_stored_ones(world: DeployWorld) -> None:
    sim = await world.sim()
    await world.phone(sim)
    profile_id = await world.profile(await world.user())
    payload = await world.deploy(profile_id, sim.mac, wait=True)

    # Subscribing after the end replays the whole job, then completes.
    events = await progress(world.server, ADMIN_TOKEN, payload["job"]["id"])
    stored = (await world.job(payload["job"]["id"]))["events"]

    assert steps(events) == CISCO_STEPS
    assert [(e["step"], e["message"], e["at"]) for e in events] == [
        (e["step"], e["message"], e["at"]) for e in stored
    ]
