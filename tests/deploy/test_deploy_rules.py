"""Who may deploy which profile where, and profiles that do not fit the phone."""

from __future__ import annotations

from tests.deploy.conftest import DeployWorld


async def test_profile_for_other_models_is_incompatible(world: DeployWorld) -> None:
    sim = await world.sim()
    await world.phone(sim)  # a Cisco 8845
    profile_id = await world.profile(await world.user(), compatibleModels=["7941", "7942"])

    payload = await world.deploy(profile_id, sim.mac)

    assert payload["job"] is None
    assert payload["userErrors"][0]["code"] == "INCOMPATIBLE"
    assert payload["userErrors"][0]["field"] == ["profileId"]
    assert "8845" in payload["userErrors"][0]["message"]
    assert sim.log == []


async def test_profile_for_another_software_type_is_incompatible(world: DeployWorld) -> None:
    sim = await world.sim()
    await world.phone(sim)  # runs SIP only
    profile_id = await world.profile(await world.user(), softwareType="SCCP")

    payload = await world.deploy(profile_id, sim.mac)

    assert payload["userErrors"][0]["code"] == "INCOMPATIBLE"
    assert "SCCP" in payload["userErrors"][0]["message"]


async def test_profile_listing_the_phones_model_and_type_deploys(world: DeployWorld) -> None:
    sim = await world.sim()
    await world.phone(sim)
    profile_id = await world.profile(
        await world.user(), compatibleModels=["8845", "8851"], softwareType="SIP"
    )

    payload = await world.deploy(profile_id, sim.mac, wait=True)

    assert payload["userErrors"] == [] and payload["restart"] == "ok"


async def test_unknown_phone_and_profile_are_not_found(world: DeployWorld) -> None:
    profile_id = await world.profile(await world.user())
    payload = await world.deploy(profile_id, "00:00:00:00:00:99")
    assert payload["userErrors"] == [
        {"field": ["mac"], "code": "NOT_FOUND", "message": "Phone not found"}
    ]

    sim = await world.sim()
    await world.phone(sim)
    payload = await world.deploy("not-an-id", sim.mac)
    assert payload["userErrors"][0]["code"] == "NOT_FOUND"
    assert payload["userErrors"][0]["field"] == ["profileId"]


async def test_pending_phone_is_refused(world: DeployWorld) -> None:
    from app.devices.models import PhoneStatus

    sim = await world.sim()
    await world.phone(sim, status=PhoneStatus.PENDING)
    payload = await world.deploy(await world.profile(await world.user()), sim.mac)
    assert payload["userErrors"][0]["code"] == "INVALID"
    assert sim.log == []


async def test_user_deploys_own_profile_to_own_phone(world: DeployWorld) -> None:
    user = await world.user()
    sim = await world.sim()
    await world.phone(sim, user=user)
    profile_id = await world.profile(user)
    client = await world.user_client(user)

    payload = await world.deploy(profile_id, sim.mac, wait=True, client=client)

    assert payload["userErrors"] == [] and payload["restart"] == "ok"
    jobs = await client.data("{ deployJobs { totalCount nodes { status } } }")
    assert jobs["deployJobs"] == {"totalCount": 1, "nodes": [{"status": "SUCCEEDED"}]}


async def test_user_may_not_deploy_someone_elses_profile(world: DeployWorld) -> None:
    user, colleague = await world.user(), await world.user()
    sim = await world.sim()
    await world.phone(sim, user=user)
    theirs = await world.profile(colleague)
    client = await world.user_client(user)

    payload = await world.deploy(theirs, sim.mac, client=client)

    assert payload["job"] is None
    assert payload["userErrors"][0]["code"] == "NOT_FOUND"
    assert payload["userErrors"][0]["field"] == ["profileId"]


async def test_user_hot_desks_on_a_shared_phone_when_allowed(world: DeployWorld) -> None:
    user = await world.user(hotdesk_allowed=True)
    sim = await world.sim()
    await world.phone(sim, can_hotdesk=True)
    client = await world.user_client(user)
    profile_id = await world.profile(user)

    payload = await world.deploy(profile_id, sim.mac, wait=True, client=client)

    assert payload["userErrors"] == [] and payload["restart"] == "ok"
    # The job of their own profile is theirs to see, and to follow live.
    jobs = await client.data("{ deployJobs { totalCount } }")
    assert jobs["deployJobs"]["totalCount"] == 1


async def test_user_without_hotdesk_right_cannot_use_a_shared_phone(world: DeployWorld) -> None:
    user = await world.user(hotdesk_allowed=False)
    sim = await world.sim()
    await world.phone(sim, can_hotdesk=True)
    client = await world.user_client(user)

    payload = await world.deploy(await world.profile(user), sim.mac, client=client)

    assert payload["userErrors"][0]["code"] == "NOT_FOUND"
    assert payload["userErrors"][0]["field"] == ["mac"]


async def test_user_cannot_use_a_phone_that_is_not_shared(world: DeployWorld) -> None:
    user = await world.user(hotdesk_allowed=True)
    sim = await world.sim()
    await world.phone(sim, can_hotdesk=False)
    client = await world.user_client(user)

    payload = await world.deploy(await world.profile(user), sim.mac, client=client)

    assert payload["userErrors"][0]["code"] == "NOT_FOUND"
    assert sim.log == []


async def test_profile_of_another_company_cannot_go_onto_a_phone(
    world: DeployWorld, tenant_factory  # type: ignore[no-untyped-def]
) -> None:
    """Even a system admin cannot put one company's user profile on another's phone."""
    from tests.deploy.conftest import pk_of

    globex = await tenant_factory("Globex")
    sim = await world.sim()
    await world.phone(sim, company_pk=pk_of(globex.company_id))
    profile_id = await world.profile(await world.user())  # a user of Acme

    payload = await world.deploy(profile_id, sim.mac)

    assert payload["job"] is None
    assert payload["userErrors"][0]["code"] == "INCOMPATIBLE"
    assert payload["userErrors"][0]["field"] == ["profileId"]
    assert sim.log == []
