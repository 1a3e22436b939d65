"""Jobs: one at a time per phone, cancelling, reboot and reprovision, bulk reprovision,
listing, and who may ask for what."""

from __future__ import annotations

import asyncio

from app.devices.models import PhoneStatus, PhoneTemplate
from app.devices.rendering import render_phone_config
from tests.conftest import ADMIN_TOKEN, create_company
from tests.deploy.conftest import (
    DeployWorld,
    Subscription,
    bus_listeners,
    pk_of,
    progress,
    steps,
)

CANCEL = """
mutation($id: ID!) { deployJobCancel(id: $id) {
  job { id status cancelRequested } userErrors { field code message } } }
"""
REBOOT = """
mutation($mac: MacAddress!) { phoneReboot(mac: $mac) {
  job { id kind status } userErrors { field code message } } }
"""
REPROVISION = """
mutation($mac: MacAddress!) { phoneReprovision(mac: $mac) {
  job { id kind status } userErrors { field code message } } }
"""
BULK = """
mutation($filter: PhoneFilter) { phonesReprovision(filter: $filter) {
  jobCount jobs(first: 10) { totalCount nodes { id kind phone { mac } } }
  userErrors { field code message } } }
"""
JOBS = """
query($filter: DeployJobFilter, $first: Int, $after: String) {
  deployJobs(filter: $filter, first: $first, after: $after) {
    totalCount nodes { id kind status phone { mac } profile { id } }
    pageInfo { hasNextPage endCursor } } }
"""


async def _wait_for_step(world: DeployWorld, job_id: str, step: str) -> None:
    async with asyncio.timeout(15):
        while step not in steps((await world.job(job_id))["events"]):
            await asyncio.sleep(0.02)


async def test_second_deploy_to_a_phone_waits_for_the_first(world: DeployWorld) -> None:
    sim = await world.sim(reboot_seconds=0.8)
    await world.phone(sim)
    owner = await world.user()
    first_profile = await world.profile(owner, name="First")
    second_profile = await world.profile(owner, name="Second", cnf_xml="<device><b/></device>")

    first = await world.deploy(first_profile, sim.mac)
    second = await world.deploy(second_profile, sim.mac)
    assert second["userErrors"] == []
    assert second["job"]["status"] == "QUEUED"

    first_job = await world.wait_job(first["job"]["id"])
    second_job = await world.wait_job(second["job"]["id"])
    assert first_job["status"] == second_job["status"] == "SUCCEEDED"
    # Never interleaved: the second job started after the first had ended.
    assert second_job["startedAt"] >= first_job["finishedAt"]
    assert second_job["events"][1]["at"] >= first_job["events"][-1]["at"]
    assert sim.kinds().count("NOTIFY") == 2 and sim.reboots == 2
    # The phone ends with the second profile, as asked last.
    assert sim.fetched_configs[-1] == b"<device><b/></device>"


async def test_queued_job_is_cancelled_at_once(world: DeployWorld) -> None:
    sim = await world.sim(reboot_seconds=0.8)
    await world.phone(sim)
    profile_id = await world.profile(await world.user())
    first = await world.deploy(profile_id, sim.mac)
    second = await world.deploy(profile_id, sim.mac)

    cancelled = await world.admin.data(CANCEL, {"id": second["job"]["id"]})

    assert cancelled["deployJobCancel"]["userErrors"] == []
    assert cancelled["deployJobCancel"]["job"]["status"] == "CANCELLED"
    events = await progress(world.server, ADMIN_TOKEN, second["job"]["id"])
    assert steps(events) == ["QUEUED", "CANCELLED"]
    assert (await world.wait_job(first["job"]["id"]))["status"] == "SUCCEEDED"
    assert sim.reboots == 1


async def test_running_job_is_cancelled_before_its_next_step(world: DeployWorld) -> None:
    # The phone takes a while to accept the NOTIFY, so the job is caught mid-restart.
    sim = await world.sim(notify_delay=1.0)
    await world.phone(sim)
    profile_id = await world.profile(await world.user())
    job_id = (await world.deploy(profile_id, sim.mac))["job"]["id"]
    await _wait_for_step(world, job_id, "RESTARTING")

    payload = (await world.admin.data(CANCEL, {"id": job_id}))["deployJobCancel"]

    assert payload["userErrors"] == []
    assert payload["job"] == {"id": job_id, "status": "RUNNING", "cancelRequested": True}
    job = await world.wait_job(job_id)
    assert job["status"] == "CANCELLED"
    assert steps(job["events"])[-2:] == ["RESTARTING", "CANCELLED"]
    assert (world.ftp.root / f"SEP{sim.mac}.cnf.xml").exists()  # done steps stay done


async def test_cancelling_an_ended_job_is_a_conflict(world: DeployWorld) -> None:
    sim = await world.sim()
    await world.phone(sim)
    profile_id = await world.profile(await world.user())
    job_id = (await world.deploy(profile_id, sim.mac, wait=True))["job"]["id"]

    payload = (await world.admin.data(CANCEL, {"id": job_id}))["deployJobCancel"]

    assert payload["job"] is None
    assert payload["userErrors"][0]["code"] == "CONFLICT"


async def test_reboot_only_restarts_the_phone(world: DeployWorld) -> None:
    sim = await world.sim()
    await world.phone(sim)

    payload = (await world.admin.data(REBOOT, {"mac": sim.mac}))["phoneReboot"]

    assert payload["userErrors"] == [] and payload["job"]["kind"] == "REBOOT"
    events = await progress(world.server, ADMIN_TOKEN, payload["job"]["id"])
    assert steps(events) == [
        "QUEUED",
        "RESTARTING",
        "WAITING_FOR_PHONE",
        "PHONE_ONLINE",
        "SUCCEEDED",
    ]
    assert "CGI" not in sim.kinds() and sim.reboots == 1
    assert world.ftp.files() == []


async def test_reprovision_uploads_the_rendered_template(world: DeployWorld) -> None:
    sim = await world.sim()
    model = await world.cisco_model()
    template = await PhoneTemplate.create(
        filename="deploy-test-8845.xml",
        content="<device><mac>{{ 1 + 1 }}</mac></device>\n",
        model=model,
    )
    phone = await world.phone(sim, model=model, template_id=template.id)
    expected_name, expected = await render_phone_config(phone.id)

    payload = (await world.admin.data(REPROVISION, {"mac": sim.mac}))["phoneReprovision"]
    events = await progress(world.server, ADMIN_TOKEN, payload["job"]["id"])

    assert steps(events)[-1] == "SUCCEEDED", events
    assert "CLEARING_SESSION" in steps(events)
    assert expected_name == f"SEP{sim.mac}.cnf.xml"
    assert (world.ftp.root / expected_name).read_bytes() == expected
    assert sim.fetched_configs == [expected]


async def test_bulk_reprovision_queues_one_job_per_active_phone_in_scope(
    world: DeployWorld,
) -> None:
    model = await world.cisco_model()
    template = await PhoneTemplate.create(
        filename="bulk-8845.xml", content="<device/>\n", model=model
    )
    sims = [await world.sim() for _ in range(3)]
    for sim in sims:
        await world.phone(sim, template_id=template.id)
    await world.phone(None, status=PhoneStatus.PENDING, template_id=template.id)
    other = pk_of(await create_company(world.admin, "Globex"))
    await world.phone(None, company_pk=other, template_id=template.id)

    payload = (await world.tenant.client.data(BULK, {"filter": {"vendor": "cisco"}}))[
        "phonesReprovision"
    ]

    assert payload["userErrors"] == []
    assert payload["jobCount"] == 3
    assert payload["jobs"]["totalCount"] == 3
    assert sorted(n["phone"]["mac"].replace(":", "") for n in payload["jobs"]["nodes"]) == sorted(
        s.mac for s in sims
    )
    for node in payload["jobs"]["nodes"]:
        assert (await world.wait_job(node["id"]))["status"] == "SUCCEEDED"
    assert all(s.reboots == 1 for s in sims)


async def test_deploy_jobs_lists_newest_first_with_filters(world: DeployWorld) -> None:
    sims = [await world.sim(), await world.sim()]
    for sim in sims:
        await world.phone(sim)
    profile_id = await world.profile(await world.user())
    first = (await world.deploy(profile_id, sims[0].mac, wait=True))["job"]["id"]
    second = (await world.admin.data(REBOOT, {"mac": sims[1].mac}))["phoneReboot"]["job"]["id"]
    await world.wait_job(second)

    everything = (await world.admin.data(JOBS, {}))["deployJobs"]
    assert [n["id"] for n in everything["nodes"]] == [second, first]
    by_mac = (await world.admin.data(JOBS, {"filter": {"mac": sims[0].mac}}))["deployJobs"]
    assert [n["id"] for n in by_mac["nodes"]] == [first]
    assert by_mac["nodes"][0]["profile"] == {"id": profile_id}
    reboots = (await world.admin.data(JOBS, {"filter": {"kind": "REBOOT"}}))["deployJobs"]
    assert [n["id"] for n in reboots["nodes"]] == [second]
    page = (await world.admin.data(JOBS, {"first": 1}))["deployJobs"]
    assert page["pageInfo"]["hasNextPage"] and page["totalCount"] == 2
    rest = await world.admin.data(JOBS, {"first": 1, "after": page["pageInfo"]["endCursor"]})
    assert [n["id"] for n in rest["deployJobs"]["nodes"]] == [first]


async def test_phone_events_streams_only_that_phones_jobs(world: DeployWorld) -> None:
    watched, other = await world.sim(), await world.sim()
    await world.phone(watched)
    await world.phone(other)
    query = "subscription($mac: MacAddress) { phoneEvents(mac: $mac) { step job { kind phone { mac } } } }"
    async with Subscription(world.server.ws_url, ADMIN_TOKEN, query, {"mac": watched.mac}) as sub:
        await bus_listeners(1)  # the subscription is listening
        other_job = (await world.admin.data(REBOOT, {"mac": other.mac}))["phoneReboot"]["job"]
        await world.wait_job(other_job["id"])
        await world.admin.data(REBOOT, {"mac": watched.mac})
        seen = []
        while not seen or seen[-1] != "SUCCEEDED":
            data = await sub.next()
            assert data is not None
            event = data["phoneEvents"]
            assert event["job"]["phone"]["mac"].replace(":", "") == watched.mac
            seen.append(event["step"])
    assert seen == ["QUEUED", "RESTARTING", "WAITING_FOR_PHONE", "PHONE_ONLINE", "SUCCEEDED"]


async def test_phone_events_without_mac_shows_only_the_callers_company(
    world: DeployWorld, tenant_factory
) -> None:  # type: ignore[no-untyped-def]
    globex = await tenant_factory("Globex")
    theirs, ours = await world.sim(), await world.sim()
    await world.phone(theirs, company_pk=pk_of(globex.company_id))
    await world.phone(ours)
    query = "subscription { phoneEvents { step job { phone { mac } } } }"
    async with Subscription(world.server.ws_url, globex.client.token or "", query, {}) as sub:
        await bus_listeners(1)
        acme_job = (await world.admin.data(REBOOT, {"mac": ours.mac}))["phoneReboot"]["job"]
        await world.wait_job(acme_job["id"])
        await world.admin.data(REBOOT, {"mac": theirs.mac})
        data = await sub.next()
    assert data is not None
    assert data["phoneEvents"]["job"]["phone"]["mac"].replace(":", "") == theirs.mac


async def test_subscription_to_a_job_out_of_scope_is_refused(
    world: DeployWorld, tenant_factory
) -> None:  # type: ignore[no-untyped-def]
    sim = await world.sim()
    await world.phone(sim)
    job_id = (await world.admin.data(REBOOT, {"mac": sim.mac}))["phoneReboot"]["job"]["id"]
    globex = await tenant_factory("Globex")
    query = "subscription($id: ID!) { deployJobProgress(jobId: $id) { step } }"
    async with Subscription(
        world.server.ws_url, globex.client.token or "", query, {"id": job_id}
    ) as sub:
        errors = await sub.error()
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_user_token_may_not_reboot_or_reprovision(world: DeployWorld) -> None:
    sim = await world.sim()
    user = await world.user()
    await world.phone(sim, user=user)
    client = await world.user_client(user)

    body = await client.execute(REBOOT, {"mac": sim.mac})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    body = await client.execute(BULK, {})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_company_admin_cannot_touch_another_companys_phone(
    world: DeployWorld, tenant_factory
) -> None:  # type: ignore[no-untyped-def]
    sim = await world.sim()
    await world.phone(sim)
    globex = await tenant_factory("Globex")

    payload = (await globex.client.data(REBOOT, {"mac": sim.mac}))["phoneReboot"]

    assert payload["job"] is None
    assert payload["userErrors"] == [
        {"field": ["mac"], "code": "NOT_FOUND", "message": "Phone not found"}
    ]
    assert sim.log == []


async def test_other_companys_jobs_are_invisible(world: DeployWorld, tenant_factory) -> None:  # type: ignore[no-untyped-def]
    sim = await world.sim()
    await world.phone(sim)
    job_id = (await world.admin.data(REBOOT, {"mac": sim.mac}))["phoneReboot"]["job"]["id"]
    globex = await tenant_factory("Globex")
    assert (await globex.client.data(JOBS, {}))["deployJobs"]["totalCount"] == 0
    assert (await globex.client.data("query($id: ID!) { node(id: $id) { id } }", {"id": job_id}))[
        "node"
    ] is None
    payload = (await globex.client.data(CANCEL, {"id": job_id}))["deployJobCancel"]
    assert payload["userErrors"][0]["code"] == "NOT_FOUND"
    await world.wait_job(job_id)


async def test_open_subscriptions_are_counted_in_metrics(world: DeployWorld) -> None:
    import httpx

    query = "subscription { phoneEvents { step } }"
    async with Subscription(world.server.ws_url, ADMIN_TOKEN, query, {}):
        async with httpx.AsyncClient(base_url=world.server.url) as http:
            async with asyncio.timeout(5):
                while True:
                    text = (
                        await http.get(
                            "/metrics", headers={"authorization": f"Bearer {ADMIN_TOKEN}"}
                        )
                    ).text
                    line = next(
                        x
                        for x in text.splitlines()
                        if x.startswith("phonegraph_open_subscriptions ")
                    )
                    if float(line.split()[1]) >= 1:
                        break
                    await asyncio.sleep(0.05)
