"""Every way a deploy can fail ends the job FAILED with a message saying what went wrong,
and loses nothing: steps already done stay done, rows stay whole."""

from __future__ import annotations

import pytest

from app.core.ids import parse_global_id
from app.devices.models import Phone, PhoneModel
from app.profiles.models import PhoneProfile
from tests.conftest import ADMIN_TOKEN, free_port
from tests.deploy.conftest import CNF_XML, DeployWorld, progress, steps


async def _deploy_and_follow(world: DeployWorld, mac: str) -> tuple[dict, list[dict]]:
    profile_id = await world.profile(await world.user())
    payload = await world.deploy(profile_id, mac)
    assert payload["userErrors"] == []
    events = await progress(world.server, ADMIN_TOKEN, payload["job"]["id"])
    job = await world.job(payload["job"]["id"])
    return job, events


def _assert_failed_with(job: dict, events: list[dict], *words: str) -> str:
    assert job["status"] == "FAILED"
    message = job["error"]
    assert message and all(w in message for w in words), message
    assert job["restart"] == message
    assert events[-1]["step"] == "FAILED" and events[-1]["message"] == message
    assert job["finishedAt"] is not None
    return message


@pytest.mark.ftp_password("wrong-password")
async def test_ftp_refusing_the_upload_fails_the_job_before_the_phone_is_touched(
    world: DeployWorld,
) -> None:
    sim = await world.sim()
    phone = await world.phone(sim)

    job, events = await _deploy_and_follow(world, sim.mac)

    _assert_failed_with(job, events, "FTP", "login refused")
    assert steps(events) == ["QUEUED", "UPLOADING_CONFIG", "FAILED"]
    assert sim.log == []  # no CGI, no NOTIFY
    assert await Phone.get(id=phone.id).values("active_profile_id") == {"active_profile_id": None}
    assert await PhoneProfile.all().count() == 1


async def test_unreachable_phone_fails_but_the_uploaded_config_stays(world: DeployWorld) -> None:
    sim = await world.sim()
    # Nothing listens on the phone's HTTP port.
    await world.phone(sim, http_port=free_port())

    job, events = await _deploy_and_follow(world, sim.mac)

    _assert_failed_with(job, events, "unreachable")
    assert steps(events) == [
        "QUEUED",
        "UPLOADING_CONFIG",
        "CONFIG_UPLOADED",
        "CLEARING_SESSION",
        "FAILED",
    ]
    assert (world.ftp.root / f"SEP{sim.mac}.cnf.xml").read_bytes() == CNF_XML.encode()
    assert sim.requests("NOTIFY") == []


async def test_phone_without_sip_answer_fails_with_no_answer_to_notify(world: DeployWorld) -> None:
    model, _ = await PhoneModel.get_or_create(
        vendor="Snom",
        name="D785",
        defaults={
            "line_count": 12,
            "software_types": ["SIP"],
            "config_filename_pattern": "{mac}.xml",
        },
    )
    phone = await world.phone(None, model=model, ip_address="127.0.0.1", sip_port=free_port())

    job, events = await _deploy_and_follow(world, phone.mac)

    _assert_failed_with(job, events, "unreachable", "NOTIFY")
    assert steps(events)[-3:] == ["CONFIG_UPLOADED", "RESTARTING", "FAILED"]


async def test_refused_credentials_fail_the_job(world: DeployWorld) -> None:
    sim = await world.sim(web_username="admin", web_password="right")
    await world.phone(sim, web_password="wrong")

    job, events = await _deploy_and_follow(world, sim.mac)

    _assert_failed_with(job, events, "credentials")
    assert sim.entries("CGI")[0].detail == "credentials refused"
    assert sim.requests("NOTIFY") == []


async def test_rejected_notify_fails_with_the_phones_answer(world: DeployWorld) -> None:
    sim = await world.sim(sip_behaviour="reject_notify", reject_code=486)
    await world.phone(sim)

    job, events = await _deploy_and_follow(world, sim.mac)

    _assert_failed_with(job, events, "rejected", "486")
    assert steps(events)[-3:] == ["CLEARING_SESSION", "RESTARTING", "FAILED"]
    assert (world.ftp.root / f"SEP{sim.mac}.cnf.xml").exists()


async def test_phone_that_does_not_come_back_fails_after_the_timeout(world: DeployWorld) -> None:
    sim = await world.sim(sip_behaviour="never_back")
    phone = await world.phone(sim)

    job, events = await _deploy_and_follow(world, sim.mac)

    _assert_failed_with(job, events)
    assert steps(events)[-3:] == ["RESTARTING", "WAITING_FOR_PHONE", "FAILED"]
    assert sim.reboots == 1
    # The config stays uploaded; the profile is not claimed active on a phone that is gone.
    assert (world.ftp.root / f"SEP{sim.mac}.cnf.xml").read_bytes() == CNF_XML.encode()
    row = await Phone.get(id=phone.id)
    assert row.active_profile_id is None  # type: ignore[attr-defined]


async def test_phone_that_ignores_the_restart_still_succeeds_with_a_warning(
    world: DeployWorld,
) -> None:
    sim = await world.sim(sip_behaviour="no_restart")
    await world.phone(sim)

    job, events = await _deploy_and_follow(world, sim.mac)

    assert job["status"] == "SUCCEEDED" and job["restart"] == "ok"
    online = next(e for e in events if e["step"] == "PHONE_ONLINE")
    assert "restart" in online["message"]
    assert sim.reboots == 0


async def test_wait_returns_the_error_message_as_restart(world: DeployWorld) -> None:
    sim = await world.sim(sip_behaviour="reject_notify", reject_code=603)
    await world.phone(sim)
    profile_id = await world.profile(await world.user())

    payload = await world.deploy(profile_id, sim.mac, wait=True)

    assert payload["job"]["status"] == "FAILED"
    assert "603" in payload["restart"]
    assert payload["restart"] == payload["job"]["error"]
    parsed = parse_global_id(profile_id)
    assert parsed and await PhoneProfile.exists(id=parsed[1])


async def test_a_stored_web_username_with_a_colon_fails_with_a_message_not_internal_error(
    world: DeployWorld,
) -> None:
    # Stored before logins were checked on input: Basic auth cannot carry it.
    sim = await world.sim()
    await world.phone(sim, web_username="ad:min", web_password="pw")

    job, events = await _deploy_and_follow(world, sim.mac)

    message = _assert_failed_with(job, events, "webUsername", "Basic auth")
    assert "internal error" not in message
    assert sim.entries("CGI") == []
