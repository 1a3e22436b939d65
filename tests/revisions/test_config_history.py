"""Config history (CONTRACT §7): every upload is a revision with the hash of the exact
bytes on the config target, masked for display; rollback writes a revision's bytes
back; the newest PHONEGRAPH_CONFIG_REVISIONS are kept."""

from __future__ import annotations

import hashlib

from app.core.ids import to_global_id
from app.deploy.models import ConfigRevision
from tests.deploy.conftest import pk_of
from tests.revisions.conftest import (
    LINE_SECRET,
    LOGIN,
    LOGOUT,
    ROLLBACK,
    SIP_PASSWORD,
    WEB_PASSWORD,
    HistoryWorld,
    secrets_in,
)

PROFILE_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<device>\n"
    f"  <!-- registrar login: {SIP_PASSWORD} -->\n"
    "  <sipProfile><phoneLabel>Alice's desk</phoneLabel>\n"
    f"    <sipLines><line><authPassword>{LINE_SECRET}</authPassword></line></sipLines>\n"
    "  </sipProfile>\n"
    "</device>\n"
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_every_upload_is_a_revision_with_the_hash_of_the_bytes_written(
    history: HistoryWorld,
) -> None:
    user = await history.hotdesk_user()
    sim, phone = await history.phone(user=user)
    filename = f"SEP{sim.mac}.cnf.xml"
    secrets = await history.secrets()
    hashes: list[str] = []

    await history.reprovision(sim.mac)
    reprovisioned = history.stored(filename)
    # The phone's real config holds its secrets; the revision's content does not.
    assert WEB_PASSWORD.encode() in reprovisioned and LINE_SECRET.encode() in reprovisioned
    hashes.append(sha(reprovisioned))

    profile_id = await history.base.profile(user, cnf_xml=PROFILE_XML)
    deployed = await history.base.deploy(profile_id, sim.mac, wait=True)
    assert deployed["job"]["status"] == "SUCCEEDED", deployed
    assert history.stored(filename) == PROFILE_XML.encode()
    hashes.append(sha(PROFILE_XML.encode()))

    await history.run(LOGIN, {"mac": sim.mac, "ext": user.extension_number})
    hashes.append(sha(history.stored(filename)))
    await history.run(LOGOUT, {"mac": sim.mac})
    hashes.append(sha(history.stored(filename)))
    assert history.stored(filename) == reprovisioned  # the phone's own config again

    revisions = await history.revisions(sim.mac)
    nodes = revisions["nodes"]
    assert revisions["totalCount"] == 4
    assert [n["reason"] for n in nodes] == [
        "HOTDESK_LOGOUT",
        "HOTDESK_LOGIN",
        "PROFILE_DEPLOY",
        "REPROVISION",
    ]
    assert [n["sha256"] for n in nodes] == hashes[::-1]
    assert [n["job"]["kind"] for n in nodes] == [n["reason"] for n in nodes]
    assert {n["filename"] for n in nodes} == {filename}
    assert nodes[-1]["size"] == len(reprovisioned)
    assert all(n["phone"]["mac"].replace(":", "") == sim.mac for n in nodes)

    # Secrets: masked in every content and diff, absent from the whole response.
    assert secrets_in(revisions, secrets) == []
    first = nodes[-1]
    assert "<phonePassword>********</phonePassword>" in first["content"]
    assert "<authPassword>********</authPassword>" in first["content"]
    assert "/services/********/hotdesk" in first["content"]
    assert first["content"] == reprovisioned.decode().replace(WEB_PASSWORD, "********").replace(
        LINE_SECRET, "********"
    ).replace(secrets[3], "********")
    profile = nodes[-2]
    assert profile["content"] == PROFILE_XML.replace(LINE_SECRET, "********").replace(
        SIP_PASSWORD, "********"
    )
    assert nodes[0]["content"] == first["content"]

    # Diffs: the first revision adds every line, each later one is against the one before.
    assert first["diff"].startswith("--- /dev/null\n+++ ")
    added = [line for line in first["diff"].splitlines() if line.startswith("+")][1:]
    assert added == ["+" + line for line in first["content"].splitlines()]
    assert profile["diff"].startswith(f"--- {filename} (revision ")
    assert "+  <sipProfile><phoneLabel>Alice's desk</phoneLabel>\n" in profile["diff"]
    assert "-<device>" not in profile["diff"]  # unchanged lines are context

    # The exact bytes are kept, encrypted, and never readable through the API.
    row = await ConfigRevision.get(id=pk_of(first["id"]))
    assert LINE_SECRET not in row.data_enc and WEB_PASSWORD not in row.data_enc


async def test_rollback_writes_the_revision_s_exact_bytes_and_is_a_revision(
    history: HistoryWorld,
) -> None:
    sim, phone = await history.phone()
    filename = f"SEP{sim.mac}.cnf.xml"
    await history.reprovision(sim.mac)
    original = history.stored(filename)
    await history.admin.mutate(
        'mutation($mac: MacAddress!) { phoneUpdate(mac: $mac, input: {name: "Lobby"}) '
        "{ phone { name } userErrors { field code message } } }",
        {"mac": sim.mac},
    )
    await history.reprovision(sim.mac)
    assert history.stored(filename) != original
    old = (await history.revisions(sim.mac))["nodes"][1]
    assert old["sha256"] == sha(original)

    job = await history.run(ROLLBACK, {"mac": sim.mac, "revisionId": old["id"]})

    assert job["kind"] == "ROLLBACK"
    steps = [e["step"] for e in job["events"]]
    assert steps == [
        "QUEUED",
        "UPLOADING_CONFIG",
        "CONFIG_UPLOADED",
        "CLEARING_SESSION",
        "RESTARTING",
        "WAITING_FOR_PHONE",
        "PHONE_ONLINE",
        "SUCCEEDED",
    ]
    assert history.stored(filename) == original  # byte for byte
    assert sim.fetched_configs[-1] == original
    newest = (await history.revisions(sim.mac))["nodes"][0]
    assert newest["reason"] == "ROLLBACK"
    assert newest["sha256"] == old["sha256"]
    assert newest["content"] == old["content"]
    assert newest["job"]["id"] == job["id"]
    removed = [line for line in newest["diff"].splitlines() if line.startswith("-")]
    assert any("Lobby" in line for line in removed[1:]), newest["diff"]


async def test_a_revision_of_another_phone_or_company_is_refused(
    history: HistoryWorld, tenant_factory  # type: ignore[no-untyped-def]
) -> None:
    sim_a, _ = await history.phone()
    sim_b, _ = await history.phone()
    await history.reprovision(sim_a.mac)
    revision_a = (await history.revisions(sim_a.mac))["nodes"][0]["id"]

    other_phone = await history.admin.data(ROLLBACK, {"mac": sim_b.mac, "revisionId": revision_a})
    errors = other_phone["phoneConfigRollback"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["revisionId"], "INVALID")]
    assert other_phone["phoneConfigRollback"]["job"] is None

    garbage = await history.admin.data(ROLLBACK, {"mac": sim_a.mac, "revisionId": "nope"})
    errors = garbage["phoneConfigRollback"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["revisionId"], "NOT_FOUND")]

    # Another company's admin: neither the phone nor the revision exist for it.
    rival = await tenant_factory("Rival")
    refused = await rival.client.data(ROLLBACK, {"mac": sim_a.mac, "revisionId": revision_a})
    errors = refused["phoneConfigRollback"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["mac"], "NOT_FOUND")]
    node = await rival.client.data(
        "query($id: ID!) { node(id: $id) { id } }", {"id": revision_a}
    )
    assert node["node"] is None
    # Its own phone, rolled back to the first company's revision: NOT_FOUND.
    rival_sim = await history.base.sim()
    await history.base.phone(rival_sim, company_pk=pk_of(rival.company_id))
    refused = await rival.client.data(
        ROLLBACK, {"mac": rival_sim.mac, "revisionId": revision_a}
    )
    errors = refused["phoneConfigRollback"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["revisionId"], "NOT_FOUND")]

    # The company's own admin reads it as a node, its phone's too.
    own = await history.base.tenant.client.data(
        "query($id: ID!) { node(id: $id) { ... on ConfigRevision { id reason } } }",
        {"id": revision_a},
    )
    assert own["node"] == {"id": revision_a, "reason": "REPROVISION"}


async def test_a_user_reads_the_revisions_of_its_own_phones_only(history: HistoryWorld) -> None:
    alice = await history.base.user()
    bob = await history.base.user()
    sim, _ = await history.phone(user=alice)
    await history.reprovision(sim.mac)
    revision = (await history.revisions(sim.mac))["nodes"][0]

    mine = await history.revisions(sim.mac, client=await history.base.user_client(alice))
    assert [n["id"] for n in mine["nodes"]] == [revision["id"]]
    assert secrets_in(mine, await history.secrets()) == []
    bobs = await (await history.base.user_client(bob)).data(
        "query($id: ID!) { node(id: $id) { id } }", {"id": revision["id"]}
    )
    assert bobs["node"] is None


async def test_the_newest_revisions_are_kept(history: HistoryWorld) -> None:
    import dataclasses

    from app.settings import get_settings, use_settings

    use_settings(dataclasses.replace(get_settings(), config_revisions=3))
    sim, phone = await history.phone()
    for n in range(5):
        await history.admin.mutate(
            "mutation($mac: MacAddress!, $name: String) { phoneUpdate(mac: $mac, "
            "input: {name: $name}) { phone { name } userErrors { field code message } } }",
            {"mac": sim.mac, "name": f"Desk {n}"},
        )
        await history.reprovision(sim.mac)
        if n == 0:
            oldest = (await history.revisions(sim.mac))["nodes"][0]["id"]

    revisions = await history.revisions(sim.mac)
    assert revisions["totalCount"] == 3
    names = [n["content"] for n in revisions["nodes"]]
    assert ["Desk 4" in names[0], "Desk 3" in names[1], "Desk 2" in names[2]] == [True] * 3
    assert await ConfigRevision.filter(phone_id=phone.id).count() == 3
    # The oldest kept still diffs against what it replaced (made when it was written).
    assert "Desk 1" in revisions["nodes"][2]["diff"]
    # A revision that went cannot be rolled back to.
    gone = await history.admin.data(ROLLBACK, {"mac": sim.mac, "revisionId": oldest})
    errors = gone["phoneConfigRollback"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["revisionId"], "NOT_FOUND")]


async def test_a_revision_is_stored_only_under_the_job_s_lease(history: HistoryWorld) -> None:
    """A process that lost its job's lease stores no revision of the upload it made."""
    import dataclasses

    from app.deploy import leases, revisions
    from app.deploy.kinds import ConfigFile
    from app.deploy.models import DeployJob, DeployJobKind, DeployStep
    from tests.deploy.conftest import foreign_running_job

    _, phone = await history.phone()
    job = await foreign_running_job(phone, slot=1, lease_epoch=2)
    await DeployJob.filter(id=job.id).update(kind=DeployJobKind.REPROVISION)
    stale = leases.Lease(
        job_id=job.id,
        phone_id=phone.id,
        company_id=phone.company_id,  # type: ignore[attr-defined]
        profile_id=None,
        epoch=1,  # the job was claimed again since
        slot=1,
        seconds=3.0,
        valid_until=leases.lease_clock() + 60,
    )
    prepared = await revisions.prepare(
        await DeployJob.get(id=job.id), phone, ConfigFile("SEPX.cnf.xml", b"<device/>\n", "x")
    )
    try:
        await leases.record(stale, DeployStep.CONFIG_UPLOADED, "Stored", also=prepared.store)
    except leases.LeaseLost:
        pass
    else:
        raise AssertionError("a stale lease wrote")
    assert await ConfigRevision.filter(phone_id=phone.id).count() == 0
    # The process holding the lease stores it.
    current = dataclasses.replace(stale, epoch=2)
    await leases.record(current, DeployStep.CONFIG_UPLOADED, "Stored", also=prepared.store)
    revision = await ConfigRevision.get(phone_id=phone.id)
    node = await history.admin.data(
        "query($id: ID!) { node(id: $id) { ... on ConfigRevision { content size } } }",
        {"id": to_global_id("ConfigRevision", revision.id)},
    )
    assert node["node"] == {"content": "x", "size": len(b"<device/>\n")}
