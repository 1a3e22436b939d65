"""Hot-desk sessions: one per phone and per user (REPLACED), expiry, and the database's
own refusal of a second unended session."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tortoise.exceptions import IntegrityError

from app.deploy.models import DeployJob
from app.deploy.sql import dialect_sql
from app.hotdesk import sweeper
from app.hotdesk.models import HotdeskSession, HotdeskState
from tests.deploy.conftest import CNF_XML, pk_of
from tests.hotdesk.conftest import HotdeskWorld, set_timeout


async def _logged_in(hd: HotdeskWorld, mac: str, ext: str) -> dict:
    login = await hd.login(mac, ext)
    assert login["userErrors"] == []
    job = await hd.base.wait_job(login["job"]["id"])
    assert job["status"] == "SUCCEEDED", job
    return login


async def test_a_login_on_an_occupied_phone_replaces_the_session_there(hd: HotdeskWorld) -> None:
    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    alice = await hd.hotdesk_user()
    bob = await hd.hotdesk_user()
    bobs = CNF_XML.replace("Reception", "Bob")
    await hd.base.profile(bob, cnf_xml=bobs)
    first = await _logged_in(hd, sim.mac, alice.extension_number)

    second = await _logged_in(hd, sim.mac, bob.extension_number)

    old = await hd.session(first["session"]["id"])
    assert old["open"] is False and old["endReason"] == "REPLACED"
    assert old["logoutJob"] is None  # the phone just gets the new user's config
    new = await hd.session(second["session"]["id"])
    assert new["open"] and new["configWritten"]
    assert hd.stored(sim.mac) == bobs.encode()
    assert await HotdeskSession.filter(open_phone_id__isnull=False).count() == 1


async def test_a_user_logging_in_elsewhere_is_logged_out_of_the_first_phone(
    hd: HotdeskWorld,
) -> None:
    first_sim, second_sim = await hd.base.sim(), await hd.base.sim()
    await hd.hotdesk_phone(first_sim)
    await hd.hotdesk_phone(second_sim)
    await hd.reprovision(first_sim.mac)
    first_own = hd.stored(first_sim.mac)
    alice = await hd.hotdesk_user()
    await hd.base.profile(alice)
    first = await _logged_in(hd, first_sim.mac, alice.extension_number)
    assert hd.stored(first_sim.mac) == CNF_XML.encode()

    await _logged_in(hd, second_sim.mac, alice.extension_number)

    old = await hd.until_session(
        first["session"]["id"],
        lambda s: s["logoutJob"] is not None and s["logoutJob"]["status"] == "SUCCEEDED",
    )
    assert old["endReason"] == "REPLACED"
    assert old["logoutJob"]["kind"] == "HOTDESK_LOGOUT"
    # The first phone has its own config back; the second one has the user's.
    assert hd.stored(first_sim.mac) == first_own
    assert hd.stored(second_sim.mac) == CNF_XML.encode()
    assert await HotdeskSession.filter(open_user_id=alice.id).count() == 1


async def test_a_session_ends_by_itself_after_the_timeout(hd: HotdeskWorld) -> None:
    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    await hd.reprovision(sim.mac)
    own = hd.stored(sim.mac)
    alice = await hd.hotdesk_user()
    await hd.base.profile(alice)
    set_timeout(3)
    login = await _logged_in(hd, sim.mac, alice.extension_number)

    ended = await hd.until_session(
        login["session"]["id"],
        lambda s: s["logoutJob"] is not None and s["logoutJob"]["status"] == "SUCCEEDED",
    )

    assert ended["endReason"] == "EXPIRED" and ended["open"] is False
    assert ended["endedAt"] >= ended["expiresAt"]
    assert hd.stored(sim.mac) == own
    # Ended once: one logout job.
    assert await DeployJob.filter(phone__mac=sim.mac, kind="HOTDESK_LOGOUT").count() == 1


async def test_a_session_that_expired_while_no_server_ran_ends_at_start_up(
    hd: HotdeskWorld,
) -> None:
    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    alice = await hd.hotdesk_user()
    await hd.base.profile(alice)
    login = await _logged_in(hd, sim.mac, alice.extension_number)
    # The server stops looking (as if it were not running) and the session's time passes.
    await sweeper.stop_sweeper()
    sql = dialect_sql()
    await sql.rows(
        f"UPDATE hotdesk_session SET expires_at = {sql.now} WHERE id = $1",
        [pk_of(login["session"]["id"])],
    )

    await sweeper.start_sweeper()  # what a server does as it starts

    ended = await hd.session(login["session"]["id"])  # no waiting: done at start-up
    assert ended["endReason"] == "EXPIRED"
    assert ended["logoutJob"]["kind"] == "HOTDESK_LOGOUT"


async def test_expiry_ends_a_session_once_however_many_sweep(hd: HotdeskWorld) -> None:
    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    alice = await hd.hotdesk_user()
    await hd.base.profile(alice)
    login = await _logged_in(hd, sim.mac, alice.extension_number)
    await sweeper.stop_sweeper()
    sql = dialect_sql()
    await sql.rows(
        f"UPDATE hotdesk_session SET expires_at = {sql.now} WHERE id = $1",
        [pk_of(login["session"]["id"])],
    )

    import asyncio

    counts = await asyncio.gather(*(sweeper.expire_due() for _ in range(5)))

    assert sum(counts) == 1
    assert await DeployJob.filter(kind="HOTDESK_LOGOUT").count() == 1


async def test_the_database_refuses_a_second_unended_session_on_a_phone(
    hd: HotdeskWorld,
) -> None:
    phone = await hd.hotdesk_phone(None)
    alice, bob = await hd.hotdesk_user(), await hd.hotdesk_user()
    common = {
        "phone_id": phone.id,
        "company_id": hd.base.company_pk,
        "state": HotdeskState.OPEN,
        "open_phone_id": phone.id,
    }
    at = phone.created_at
    # Far from expiry: the server's expiry sweep must not end the session meanwhile.
    later = at + timedelta(days=1)
    await HotdeskSession.create(
        sip_user_id=alice.id, open_user_id=alice.id, started_at=at, expires_at=later, **common
    )
    with pytest.raises(IntegrityError):
        await HotdeskSession.create(
            sip_user_id=bob.id, open_user_id=bob.id, started_at=at, expires_at=later, **common
        )
    other = await hd.hotdesk_phone(None)
    with pytest.raises(IntegrityError):
        await HotdeskSession.create(
            phone_id=other.id,
            company_id=hd.base.company_pk,
            open_phone_id=other.id,
            sip_user_id=alice.id,
            open_user_id=alice.id,
            started_at=at,
            expires_at=later,
        )


async def test_a_login_job_that_ends_before_writing_the_config_ends_the_session_failed(
    hd: HotdeskWorld,
) -> None:
    sim = await hd.base.sim(reboot_seconds=2)
    await hd.hotdesk_phone(sim)
    await hd.reprovision(sim.mac)
    own = hd.stored(sim.mac)
    alice = await hd.hotdesk_user()
    await hd.base.profile(alice)
    # A reboot keeps the phone busy, so the login job waits in the queue behind it.
    reboot = await hd.admin.data(
        'mutation($mac: MacAddress!) { phoneReboot(mac: $mac) { job { id } } }', {"mac": sim.mac}
    )
    login = await hd.login(sim.mac, alice.extension_number)
    assert login["job"]["status"] == "QUEUED"

    cancel = await hd.admin.data(
        "mutation($id: ID!) { deployJobCancel(id: $id) { job { status } userErrors { code } } }",
        {"id": login["job"]["id"]},
    )

    assert cancel["deployJobCancel"]["job"]["status"] == "CANCELLED"
    failed = await hd.until_session(login["session"]["id"], lambda s: s["endReason"] is not None)
    assert failed["endReason"] == "FAILED" and failed["open"] is False
    assert failed["configWritten"] is False and failed["logoutJob"] is None
    await hd.base.wait_job(reboot["phoneReboot"]["job"]["id"])
    assert hd.stored(sim.mac) == own
    assert not await HotdeskSession.filter(open_phone_id__isnull=False).exists()


async def test_a_phone_moved_to_another_company_ends_its_session(hd: HotdeskWorld) -> None:
    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    await hd.reprovision(sim.mac)
    alice = await hd.hotdesk_user()
    await hd.base.profile(alice)
    login = await _logged_in(hd, sim.mac, alice.extension_number)
    rival = await hd.admin.data(
        'mutation { companyCreate(input: {name: "Rival"}) { company { id } } }'
    )

    moved = await hd.admin.data(
        "mutation($mac: MacAddress!, $c: ID!) { phoneUpdate(mac: $mac, input: {companyId: $c})"
        " { phone { company { id } } userErrors { code } } }",
        {"mac": sim.mac, "c": rival["companyCreate"]["company"]["id"]},
    )

    assert moved["phoneUpdate"]["userErrors"] == []
    ended = await hd.until_session(
        login["session"]["id"],
        lambda s: s["logoutJob"] is not None and s["logoutJob"]["status"] == "SUCCEEDED",
    )
    assert ended["endReason"] == "LOGOUT"
    # The user's config is gone from the other company's phone.
    assert hd.stored(sim.mac) != CNF_XML.encode()


async def test_a_login_whose_restart_fails_after_writing_the_config_stays_open(
    hd: HotdeskWorld,
) -> None:
    phone = await hd.hotdesk_phone(None)  # no address: the restart cannot be sent
    alice = await hd.hotdesk_user()
    await hd.base.profile(alice)

    login = await hd.login(phone.mac, alice.extension_number)
    job = await hd.base.wait_job(login["job"]["id"])

    assert job["status"] == "FAILED" and "no IP address" in job["error"]
    session = await hd.session(login["session"]["id"])
    assert session["open"] and session["configWritten"] and session["endReason"] is None
    assert hd.stored(phone.mac) == CNF_XML.encode()


async def test_a_login_job_that_fails_before_the_upload_ends_the_session_failed(
    hd: HotdeskWorld,
) -> None:
    from app.devices.models import PhoneLine, PhoneTemplate

    # A template that needs a second line: the phone's own config renders, the hot-desk
    # one (the user alone on line 1) does not.
    template = await PhoneTemplate.create(
        filename="two-lines.cnf.xml",
        content="<device><a>{{ lines[0].port }}</a><b>{{ lines[1].port }}</b></device>",
        company_id=hd.base.company_pk,
    )
    sim = await hd.base.sim()
    phone = await hd.hotdesk_phone(sim, template_id=template.id)
    await PhoneLine.create(phone=phone, port=1)
    await PhoneLine.create(phone=phone, port=2)
    await hd.reprovision(sim.mac)
    own = hd.stored(sim.mac)
    alice = await hd.hotdesk_user()  # no profile: the template is rendered for her

    login = await hd.login(sim.mac, alice.extension_number)
    job = await hd.base.wait_job(login["job"]["id"])

    assert job["status"] == "FAILED" and "cannot render" in job["error"]
    session = await hd.until_session(login["session"]["id"], lambda s: s["endReason"])
    assert session["endReason"] == "FAILED" and session["configWritten"] is False
    assert hd.stored(sim.mac) == own


async def test_a_phone_moved_to_another_company_is_not_seen_through_its_old_sessions(
    hd: HotdeskWorld,
) -> None:
    from tests.conftest import create_token

    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim, name="Rival reception")
    await hd.reprovision(sim.mac)
    alice = await hd.hotdesk_user(pin="1234")
    await hd.base.profile(alice)
    alice_client = await hd.base.user_client(alice)
    login = await hd.login(sim.mac, alice.extension_number, "1234", client=alice_client)
    assert login["userErrors"] == []
    await hd.base.wait_job(login["job"]["id"])
    rival = await hd.admin.data(
        'mutation { companyCreate(input: {name: "Rival"}) { company { id } } }'
    )
    rival_id = rival["companyCreate"]["company"]["id"]
    rival_admin = hd.base.server.client(
        await create_token(hd.admin, "COMPANY_ADMIN", company_id=rival_id)
    )
    sessions = "query { hotdeskSessions { totalCount nodes { id phone { mac name ipAddress } } } }"
    before = await alice_client.data(sessions)
    assert before["hotdeskSessions"]["totalCount"] == 1

    moved = await hd.admin.data(
        "mutation($mac: MacAddress!, $c: ID!) { phoneUpdate(mac: $mac, input: {companyId: $c})"
        " { userErrors { code } } }",
        {"mac": sim.mac, "c": rival_id},
    )
    assert moved["phoneUpdate"]["userErrors"] == []

    for old_company in (hd.base.tenant.client, alice_client):
        seen = await old_company.execute(sessions)
        assert "errors" not in seen, seen
        assert seen["data"]["hotdeskSessions"] == {"totalCount": 0, "nodes": []}
        node = await old_company.execute(
            "query($id: ID!) { node(id: $id) { ... on HotdeskSession { phone { name } } } }",
            {"id": login["session"]["id"]},
        )
        assert "Rival reception" not in str(node)
        assert node.get("data", {}).get("node") is None, node
    theirs = await rival_admin.data(sessions)
    assert [n["phone"]["name"] for n in theirs["hotdeskSessions"]["nodes"]] == ["Rival reception"]


async def _login_queued_behind_a_reboot(hd: HotdeskWorld) -> tuple[object, dict, dict]:
    sim = await hd.base.sim(reboot_seconds=2)
    await hd.hotdesk_phone(sim)
    await hd.reprovision(sim.mac)
    alice = await hd.hotdesk_user()
    await hd.base.profile(alice)
    # A reboot keeps the phone busy, so the login job waits in the queue behind it.
    reboot = await hd.admin.data(
        'mutation($mac: MacAddress!) { phoneReboot(mac: $mac) { job { id } } }', {"mac": sim.mac}
    )
    login = await hd.login(sim.mac, alice.extension_number)
    assert login["userErrors"] == [] and login["job"]["status"] == "QUEUED"
    return sim, login, reboot["phoneReboot"]["job"]


async def test_a_logout_before_the_login_job_ran_cancels_it_and_nothing_of_the_user_is_written(
    hd: HotdeskWorld,
) -> None:
    sim, login, reboot = await _login_queued_behind_a_reboot(hd)

    out = await hd.logout(sim.mac)

    assert out["userErrors"] == [] and out["session"]["endReason"] == "LOGOUT"
    assert (await hd.base.wait_job(reboot["id"]))["status"] == "SUCCEEDED"
    logout = await hd.base.wait_job(out["job"]["id"])
    assert logout["status"] == "SUCCEEDED", logout
    stale = await hd.base.wait_job(login["job"]["id"])
    assert stale["status"] == "CANCELLED"
    assert CNF_XML.encode() not in sim.fetched_configs  # type: ignore[attr-defined]
    assert hd.stored(sim.mac) != CNF_XML.encode()
    session = await hd.session(login["session"]["id"])
    assert session["endReason"] == "LOGOUT" and session["configWritten"] is False


async def test_a_login_job_whose_session_ended_while_it_was_claimed_writes_nothing(
    hd: HotdeskWorld,
) -> None:
    sim, login, reboot = await _login_queued_behind_a_reboot(hd)
    own = hd.stored(sim.mac)
    # Another server process ended the session just after this one's runner had taken
    # the login job: the job itself finds the session ended before it sends anything.
    sql = dialect_sql()
    await sql.rows(
        "UPDATE hotdesk_session SET state = 'ENDED', end_reason = 'LOGOUT', "
        f"ended_at = {sql.now}, open_phone_id = NULL, open_user_id = NULL WHERE id = $1",
        [pk_of(login["session"]["id"])],
    )

    stale = await hd.base.wait_job(login["job"]["id"])

    assert stale["status"] == "FAILED" and "session ended" in stale["error"], stale
    assert (await hd.base.wait_job(reboot["id"]))["status"] == "SUCCEEDED"
    assert CNF_XML.encode() not in sim.fetched_configs  # type: ignore[attr-defined]
    assert hd.stored(sim.mac) == own


async def test_a_login_queued_on_a_phone_moved_to_another_company_writes_nothing(
    hd: HotdeskWorld,
) -> None:
    sim, login, reboot = await _login_queued_behind_a_reboot(hd)
    rival = await hd.admin.data(
        'mutation { companyCreate(input: {name: "Rival"}) { company { id } } }'
    )

    moved = await hd.admin.data(
        "mutation($mac: MacAddress!, $c: ID!) { phoneUpdate(mac: $mac, input: {companyId: $c})"
        " { userErrors { code } } }",
        {"mac": sim.mac, "c": rival["companyCreate"]["company"]["id"]},
    )

    assert moved["phoneUpdate"]["userErrors"] == []
    assert (await hd.base.wait_job(login["job"]["id"]))["status"] == "CANCELLED"
    assert (await hd.base.wait_job(reboot["id"]))["status"] == "SUCCEEDED"
    session = await hd.until_session(
        login["session"]["id"],
        lambda s: s["logoutJob"] is not None and s["logoutJob"]["status"] in ("SUCCEEDED", "FAILED"),
    )
    assert session["endReason"] == "LOGOUT"
    assert CNF_XML.encode() not in sim.fetched_configs  # type: ignore[attr-defined]
    assert hd.stored(sim.mac) != CNF_XML.encode()
