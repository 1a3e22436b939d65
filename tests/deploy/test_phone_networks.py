"""CONTRACT §12: a deploy job sends nothing to a phone outside PHONEGRAPH_PHONE_NETWORKS
(a row stored before the limit, or with the limit changed since), and job errors name
none of the server's own hosts."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
from collections.abc import AsyncIterator

import pytest

from app.settings import Settings, use_settings
from tests.conftest import ADMIN_TOKEN, free_port
from tests.deploy.conftest import DeployWorld, progress, steps


@pytest.fixture
async def settings(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Settings]:
    """Phones only in 10.0.0.0/8 (the simulators on loopback are outside), or the config
    server on a port where nothing listens."""
    changes = request.node.get_closest_marker("with_settings")
    s = dataclasses.replace(settings, **(changes.kwargs if changes else {}))
    use_settings(s)
    yield s
    use_settings(settings)


OFFICE_ONLY = {"phone_networks": (ipaddress.ip_network("10.0.0.0/8"),)}


async def _deploy(world: DeployWorld, mac: str) -> tuple[dict, list[dict]]:
    profile_id = await world.profile(await world.user())
    payload = await world.deploy(profile_id, mac)
    assert payload["userErrors"] == []
    events = await progress(world.server, ADMIN_TOKEN, payload["job"]["id"])
    return await world.job(payload["job"]["id"]), events


@pytest.mark.with_settings(**OFFICE_ONLY)
async def test_a_phone_outside_the_phone_networks_gets_nothing(world: DeployWorld) -> None:
    sim = await world.sim()  # on 127.0.0.1, outside 10.0.0.0/8
    await world.phone(sim)

    job, events = await _deploy(world, sim.mac)

    assert job["status"] == "FAILED"
    assert "PHONEGRAPH_PHONE_NETWORKS" in job["error"] and "nothing was sent" in job["error"]
    assert steps(events) == ["QUEUED", "FAILED"]
    assert sim.log == []  # no CGI request, no NOTIFY, no OPTIONS
    assert world.ftp.files() == []  # not even the config was stored


@pytest.mark.with_settings(**OFFICE_ONLY)
async def test_a_reboot_of_a_phone_outside_the_networks_sends_no_notify(
    world: DeployWorld,
) -> None:
    sim = await world.sim()
    await world.phone(sim)

    data = await world.admin.data(
        "mutation($mac: MacAddress!) { phoneReboot(mac: $mac) { job { id } userErrors { code } } }",
        {"mac": sim.mac},
    )
    job = await world.wait_job(data["phoneReboot"]["job"]["id"])

    assert job["status"] == "FAILED" and "PHONEGRAPH_PHONE_NETWORKS" in job["error"]
    assert sim.log == []


@pytest.mark.with_settings(ftp_url=f"ftp://u:p@127.0.0.1:{free_port()}/")
async def test_a_config_server_failure_names_no_host_in_the_job_error(
    world: DeployWorld, caplog: pytest.LogCaptureFixture
) -> None:
    sim = await world.sim()
    await world.phone(sim)
    address = world.server.settings.ftp_url.split("@")[1].rstrip("/")  # type: ignore[union-attr]

    with caplog.at_level(logging.WARNING, logger="app.deploy.pipeline"):
        job, events = await _deploy(world, sim.mac)

    assert job["status"] == "FAILED"
    assert job["error"] == "FTP upload failed: the config server refused the connection"
    assert all(address not in (e["message"] or "") for e in events)
    assert "127.0.0.1" not in job["error"]
    # The operator still finds the whole story in the server log.
    assert any(address in r.getMessage() for r in caplog.records)
    assert sim.log == []
