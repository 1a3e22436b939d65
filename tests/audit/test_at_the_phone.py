"""Hot-desk logins and logouts made at the phone are recorded with the phone as actor."""

from __future__ import annotations

import json

from app.core.audit import MASK
from app.core.scalars import format_mac
from tests.audit.conftest import nodes
from tests.deploy.conftest import CNF_XML, pk_of
from tests.hotdesk.conftest import HotdeskWorld, text_of


async def test_logins_and_logouts_at_the_phone_are_recorded(hd: HotdeskWorld) -> None:
    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    await hd.reprovision(sim.mac)
    alice = await hd.hotdesk_user(pin="4711")
    await hd.base.profile(alice, cnf_xml=CNF_XML, name="Alice at a desk")
    services = await hd.services(sim)

    wrong = await services.login(alice.extension_number, "9999")
    assert "restarts" not in text_of(wrong)
    right = await services.login(alice.extension_number, "4711")
    assert "restarts" in text_of(right)
    out = await services.logout()
    assert "restarts" in text_of(out)

    logins = await nodes(hd.base.tenant.client, operation="hotdeskLogin")
    assert [e["outcome"] for e in logins] == ["OK", "USER_ERROR"]
    assert logins[1]["errorCodes"] == ["INVALID"]
    for event in logins:
        assert event["actorPhone"] == {"mac": format_mac(sim.mac)}
        assert event["actorToken"] is None and event["actorRole"] is None
        assert pk_of(event["company"]["id"]) == hd.base.company_pk
        arguments = json.loads(event["arguments"])
        assert arguments == {
            "mac": sim.mac,
            "extensionNumber": alice.extension_number,
            "pin": MASK,
        }
        assert event["targetIds"] == [sim.mac]
    [logout] = await nodes(hd.admin, operation="hotdeskLogout")
    assert logout["outcome"] == "OK" and logout["actorPhone"] == {"mac": format_mac(sim.mac)}


async def test_a_waiting_deploy_is_recorded_before_it_waits(hd: HotdeskWorld) -> None:
    sim = await hd.base.sim()
    await hd.base.phone(sim)
    owner = await hd.base.user()
    profile = await hd.base.profile(owner)

    payload = await hd.base.deploy(profile, sim.mac, wait=True)

    assert payload["userErrors"] == [] and payload["restart"] == "ok"
    [event] = await nodes(hd.admin, operation="phoneProfileDeploy")
    assert event["outcome"] == "OK"
    assert pk_of(event["company"]["id"]) == hd.base.company_pk
    assert event["targetIds"] == [sim.mac, profile]
