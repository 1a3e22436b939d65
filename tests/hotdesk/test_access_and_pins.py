"""Who may log whom in and out, the PIN and its lockout, and that every refusal leaves
everything as it was."""

from __future__ import annotations

from typing import Any

from app.deploy.models import DeployJob
from app.hotdesk import pins, service
from app.hotdesk.models import HotdeskSession
from tests.conftest import create_token
from tests.deploy.conftest import pk_of
from tests.hotdesk.conftest import HotdeskWorld, gid, text_of


async def _nothing_changed(hd: HotdeskWorld, mac: str, before: bytes | None) -> None:
    assert not await HotdeskSession.exists()
    assert not await DeployJob.filter(kind__in=["HOTDESK_LOGIN", "HOTDESK_LOGOUT"]).exists()
    assert hd.stored(mac) == before


def _error(payload: dict[str, Any]) -> tuple[list[str] | None, str]:
    assert payload["session"] is None and payload["job"] is None
    (error,) = payload["userErrors"]
    return error["field"], error["code"]


async def test_every_refused_login_changes_nothing(hd: HotdeskWorld) -> None:
    sim = await hd.base.sim()
    phone = await hd.hotdesk_phone(sim)
    await hd.reprovision(sim.mac)
    before = hd.stored(sim.mac)
    allowed = await hd.hotdesk_user(pin="1111")
    not_allowed = await hd.hotdesk_user(pin="2222", hotdesk_allowed=False)
    private = await hd.hotdesk_phone(None, can_hotdesk=False)
    pending = await hd.hotdesk_phone(None, status="PENDING")
    bare = await hd.hotdesk_phone(None, template=False)  # nothing to write for a user
    rival = await hd.base.server.client().data(
        'mutation { companyCreate(input: {name: "Rival"}) { company { id } } }'
    )
    theirs = await hd.hotdesk_phone(None, company_pk=pk_of(rival["companyCreate"]["company"]["id"]))
    user_client = await hd.base.user_client(allowed)
    admin_of_acme = hd.base.tenant.client

    cases = [
        (hd.admin, "00:00:00:00:00:99", allowed.extension_number, None, ["mac"], "NOT_FOUND"),
        (admin_of_acme, theirs.mac, allowed.extension_number, None, ["mac"], "NOT_FOUND"),
        (hd.admin, private.mac, allowed.extension_number, None, ["mac"], "INVALID"),
        (hd.admin, pending.mac, allowed.extension_number, None, ["mac"], "INVALID"),
        (hd.admin, sim.mac, "999", None, ["extensionNumber"], "NOT_FOUND"),
        (hd.admin, sim.mac, not_allowed.extension_number, None, ["extensionNumber"], "INVALID"),
        (hd.admin, bare.mac, allowed.extension_number, None, ["extensionNumber"], "INCOMPATIBLE"),
        (hd.admin, sim.mac, allowed.extension_number, "0000", ["pin"], "INVALID"),
        (user_client, sim.mac, allowed.extension_number, None, ["pin"], "INVALID"),
        (user_client, sim.mac, allowed.extension_number, "0000", ["pin"], "INVALID"),
        (user_client, sim.mac, not_allowed.extension_number, "2222", ["extensionNumber"], "FORBIDDEN"),
        (user_client, theirs.mac, allowed.extension_number, "1111", ["mac"], "NOT_FOUND"),
        (hd.admin, "not-a-mac", allowed.extension_number, None, None, None),
    ]
    for client, mac, ext, pin, field, code in cases:
        body = await client.execute(
            "mutation($mac: MacAddress!, $ext: String!, $pin: String) {"
            " hotdeskLogin(mac: $mac, extensionNumber: $ext, pin: $pin) {"
            " session { id } job { id } userErrors { field code message } } }",
            {"mac": mac, "ext": ext, "pin": pin},
        )
        if code is None:  # a malformed MAC is refused before the mutation runs
            assert body["errors"] and body.get("data") is None, body
            continue
        assert "errors" not in body, body
        assert _error(body["data"]["hotdeskLogin"]) == (field, code), (mac, ext, pin, body)
    assert phone.id
    await _nothing_changed(hd, sim.mac, before)


async def test_an_unknown_extension_and_a_wrong_pin_get_the_same_answer(
    hd: HotdeskWorld,
) -> None:
    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    await hd.reprovision(sim.mac)
    before = hd.stored(sim.mac)
    alice = await hd.hotdesk_user(pin="1234")
    services = await hd.services(sim)

    wrong_pin = await services.login(alice.extension_number, "9999")
    unknown = await services.login("4242", "1234")
    over_api_wrong = await hd.login(sim.mac, alice.extension_number, "9999")
    over_api_unknown = await hd.login(sim.mac, "4242", "1234")

    assert text_of(wrong_pin) == text_of(unknown)
    assert "wrong PIN" in text_of(wrong_pin)
    assert over_api_wrong["userErrors"] == over_api_unknown["userErrors"]
    await _nothing_changed(hd, sim.mac, before)


async def test_an_unknown_extension_locks_after_as_many_wrong_pins_as_a_real_one(
    hd: HotdeskWorld,
) -> None:
    """The lockout must not tell which extensions exist either."""
    one, other = await hd.base.sim(), await hd.base.sim()  # apart: each phone has its limit
    await hd.hotdesk_phone(one)
    await hd.hotdesk_phone(other)
    alice = await hd.hotdesk_user(pin="1234")
    real = [await hd.login(one.mac, alice.extension_number, "0000") for _ in range(6)]
    unknown = [await hd.login(other.mac, "4242", "0000") for _ in range(6)]

    def codes(answers: list[dict]) -> list[str]:
        return [a["userErrors"][0]["code"] for a in answers]

    assert codes(real) == ["INVALID"] * 4 + ["LOCKED"] * 2
    assert codes(unknown) == codes(real)
    assert [a["userErrors"][0]["message"] for a in unknown] == [
        a["userErrors"][0]["message"] for a in real
    ]


async def test_five_wrong_pins_from_phones_and_the_api_lock_the_user(hd: HotdeskWorld) -> None:
    first, second = await hd.base.sim(), await hd.base.sim()
    await hd.hotdesk_phone(first)
    await hd.hotdesk_phone(second)
    await hd.reprovision(first.mac)
    await hd.reprovision(second.mac)
    before = hd.stored(first.mac)
    alice = await hd.hotdesk_user(pin="1234")
    alice_client = await hd.base.user_client(alice)
    at_first, at_second = await hd.services(first), await hd.services(second)

    for _ in range(2):
        assert "wrong PIN" in text_of(await at_first.login(alice.extension_number, "0000"))
    assert "wrong PIN" in text_of(await at_second.login(alice.extension_number, "0000"))
    refused = await hd.login(first.mac, alice.extension_number, "0000", client=alice_client)
    assert refused["userErrors"][0]["code"] == "INVALID"
    fifth = await hd.login(second.mac, alice.extension_number, "0000", client=alice_client)
    assert fifth["userErrors"][0]["code"] == "LOCKED"
    assert fifth["userErrors"][0]["field"] == ["pin"]

    # Now even the right PIN is refused, at a phone and through the API.
    assert "locked" in text_of(await at_first.login(alice.extension_number, "1234"))
    locked = await hd.login(first.mac, alice.extension_number, "1234", client=alice_client)
    assert [(e["field"], e["code"]) for e in locked["userErrors"]] == [(["pin"], "LOCKED")]
    await _nothing_changed(hd, first.mac, before)
    # Fifteen minutes later (the lock's time passed, by the database's clock) it works.
    from app.deploy.sql import dialect_sql

    sql = dialect_sql()
    await sql.rows(f"UPDATE hotdesk_lock SET locked_until = {sql.now}", [])
    ok = await hd.login(first.mac, alice.extension_number, "1234", client=alice_client)
    assert ok["userErrors"] == [] and ok["job"]["kind"] == "HOTDESK_LOGIN"


async def test_a_right_pin_clears_the_count(hd: HotdeskWorld) -> None:
    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    alice = await hd.hotdesk_user(pin="1234")
    client = await hd.base.user_client(alice)
    for _ in range(4):
        assert (await hd.login(sim.mac, alice.extension_number, "0", client=client))["userErrors"]
    ok = await hd.login(sim.mac, alice.extension_number, "1234", client=client)
    assert ok["userErrors"] == []
    await hd.base.wait_job(ok["job"]["id"])
    for _ in range(4):
        refused = await hd.login(sim.mac, alice.extension_number, "0", client=client)
        assert refused["userErrors"][0]["code"] == "INVALID"


async def test_too_many_wrong_attempts_at_one_phone_are_refused_there(hd: HotdeskWorld) -> None:
    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    await hd.reprovision(sim.mac)
    services = await hd.services(sim)
    alice = await hd.hotdesk_user(pin="1234")

    # Guessing extensions: no user gets locked, but the phone stops answering guesses.
    for n in range(pins.PHONE_LIMIT):
        assert "wrong PIN" in text_of(await services.login(str(5000 + n), "1111"))
    answer = await services.login(alice.extension_number, "1234")

    assert "Too many wrong attempts" in text_of(answer)
    assert not await HotdeskSession.exists()


async def test_a_user_logs_in_only_as_itself_and_out_only_of_its_own_session(
    hd: HotdeskWorld,
) -> None:
    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    alice = await hd.hotdesk_user(pin="1234")
    bob = await hd.hotdesk_user(pin="5678")
    alice_client = await hd.base.user_client(alice)
    bob_client = await hd.base.user_client(bob)

    login = await hd.login(sim.mac, alice.extension_number, "1234", client=alice_client)
    assert login["userErrors"] == []
    assert login["session"]["sipUser"]["id"] == gid("SipUser", alice.id)
    await hd.base.wait_job(login["job"]["id"])
    # Alice sees her session and its job; Bob sees neither, and may not log her out.
    mine = await alice_client.data("query { hotdeskSessions { nodes { id loginJob { id } } } }")
    assert mine["hotdeskSessions"]["nodes"] == [
        {"id": login["session"]["id"], "loginJob": {"id": login["job"]["id"]}}
    ]
    theirs = await bob_client.data("query { hotdeskSessions { totalCount } }")
    assert theirs["hotdeskSessions"]["totalCount"] == 0
    refused = await hd.logout(sim.mac, client=bob_client)
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["mac"], "FORBIDDEN")]
    assert await HotdeskSession.filter(open_user_id=alice.id).exists()

    out = await hd.logout(sim.mac, client=alice_client)

    assert out["userErrors"] == [] and out["session"]["endReason"] == "LOGOUT"
    assert out["job"]["kind"] == "HOTDESK_LOGOUT"


async def test_company_admins_log_users_in_without_pin_and_anyone_out_in_their_company_only(
    hd: HotdeskWorld,
) -> None:
    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    alice = await hd.hotdesk_user(pin="1234")
    acme_admin = hd.base.tenant.client
    rival = await hd.base.server.client().data(
        'mutation { companyCreate(input: {name: "Rival"}) { company { id } } }'
    )
    rival_admin = hd.base.server.client(
        await create_token(
            hd.admin, "COMPANY_ADMIN", company_id=rival["companyCreate"]["company"]["id"]
        )
    )

    refused = await hd.login(sim.mac, alice.extension_number, client=rival_admin)
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["mac"], "NOT_FOUND")]
    login = await hd.login(sim.mac, alice.extension_number, client=acme_admin)
    assert login["userErrors"] == []
    await hd.base.wait_job(login["job"]["id"])
    refused = await hd.logout(sim.mac, client=rival_admin)
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["mac"], "NOT_FOUND")]
    assert await HotdeskSession.filter(open_user_id=alice.id).exists()

    out = await hd.logout(sim.mac, client=acme_admin)

    assert out["userErrors"] == [] and out["session"]["endReason"] == "LOGOUT"
    again = await hd.logout(sim.mac, client=acme_admin)
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [(["mac"], "NOT_FOUND")]


async def test_the_hotdesk_profile_is_chosen_when_it_fits(hd: HotdeskWorld) -> None:
    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    alice = await hd.hotdesk_user()
    await hd.base.profile(alice, name="A first by name")
    chosen = await hd.base.profile(alice, name="B chosen", cnf_xml="<device><x/></device>")
    unfit = await hd.base.profile(alice, name="C unfit", compatibleModels=["7960"])
    update = (
        "mutation($id: ID!, $p: ID) { sipUserUpdate(id: $id, input: {hotdeskProfileId: $p}) {"
        " sipUser { hotdeskProfile { id } } userErrors { field code } } }"
    )
    user_id = gid("SipUser", alice.id)

    payload = (await hd.admin.data(update, {"id": user_id, "p": chosen}))["sipUserUpdate"]
    assert payload["sipUser"]["hotdeskProfile"] == {"id": chosen}
    login = await hd.login(sim.mac, alice.extension_number)
    assert login["session"]["profile"] == {"id": chosen}
    await hd.base.wait_job(login["job"]["id"])
    assert hd.stored(sim.mac) == b"<device><x/></device>"

    # A chosen profile that does not fit the phone: the first fitting one by name.
    await hd.admin.data(update, {"id": user_id, "p": unfit})
    login = await hd.login(sim.mac, alice.extension_number)
    assert login["session"]["profile"]["id"] not in (chosen, unfit)

    bob = await hd.hotdesk_user()
    bobs = await hd.base.profile(bob, name="Bob's")
    refused = (await hd.admin.data(update, {"id": user_id, "p": bobs}))["sipUserUpdate"]
    assert refused["userErrors"] == [{"field": ["input", "hotdeskProfileId"], "code": "INVALID"}]
    cleared = (await hd.admin.data(update, {"id": user_id, "p": None}))["sipUserUpdate"]
    assert cleared["sipUser"]["hotdeskProfile"] is None


WRONG = service.WRONG_CREDENTIALS + "."
LOCKED = service.LOCKED_MESSAGE + "."
BLOCKED = service.PHONE_BLOCKED + "."


class _CountedChecks:
    """Counts the PIN hashes the server checks (in its worker threads), and can hold
    the check of one PIN until the test lets it go."""

    def __init__(self, monkeypatch: Any, hold_pin: str | None = None) -> None:
        import threading

        self.checked: list[str] = []
        self._lock = threading.Lock()
        self.held = threading.Event()
        self.release = threading.Event()
        real = pins.verify_pin

        def counted(pin: str, stored: str) -> bool:
            with self._lock:
                self.checked.append(pin)
            if pin == hold_pin:
                self.held.set()
                self.release.wait(timeout=20)
            return real(pin, stored)

        monkeypatch.setattr(pins, "verify_pin", counted)

    def wrong(self, right: str) -> int:
        return sum(1 for pin in self.checked if pin != right)


async def test_parallel_wrong_pins_get_no_more_checks_than_the_lockout_allows(
    hd: HotdeskWorld, monkeypatch: Any
) -> None:
    import asyncio

    first, second = await hd.base.sim(), await hd.base.sim()
    await hd.hotdesk_phone(first)
    await hd.hotdesk_phone(second)
    await hd.reprovision(first.mac)
    await hd.reprovision(second.mac)
    alice = await hd.hotdesk_user(pin="1234")
    alice_client = await hd.base.user_client(alice)
    at_first = await hd.services(first)
    checks = _CountedChecks(monkeypatch)

    # A burst of guesses at the phone and through the API at once.
    answers = await asyncio.gather(
        *[at_first.login(alice.extension_number, f"{n:04d}") for n in range(20)],
        *[
            hd.login(second.mac, alice.extension_number, f"{n:04d}", client=alice_client)
            for n in range(20, 40)
        ],
    )

    assert checks.wrong("1234") <= pins.MAX_WRONG
    said_wrong = [a for a in answers[:20] if text_of(a) == WRONG] + [
        a for a in answers[20:] if a["userErrors"][0]["code"] == "INVALID"
    ]
    # The fifth wrong PIN already answers LOCKED.
    assert len(said_wrong) <= pins.MAX_WRONG - 1
    for answer in answers[:20]:
        assert text_of(answer) in (WRONG, LOCKED, BLOCKED), answer
    for answer in answers[20:]:
        assert [(e["field"], e["code"]) for e in answer["userErrors"]] in (
            [(["pin"], "INVALID")],
            [(["pin"], "LOCKED")],
        )
    assert not await HotdeskSession.exists()


async def test_parallel_guesses_at_one_phone_get_no_more_checks_than_its_limit(
    hd: HotdeskWorld, monkeypatch: Any
) -> None:
    import asyncio

    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    await hd.reprovision(sim.mac)
    services = await hd.services(sim)
    checks = _CountedChecks(monkeypatch)

    answers = await asyncio.gather(
        *[services.login(str(5000 + n), "1111") for n in range(40)]
    )

    assert len(checks.checked) <= pins.PHONE_LIMIT
    said_wrong = [a for a in answers if text_of(a) == WRONG]
    assert len(said_wrong) <= pins.PHONE_LIMIT
    assert all(text_of(a) in (WRONG, BLOCKED) for a in answers)


async def test_a_right_pin_checked_while_the_user_gets_locked_opens_no_session(
    hd: HotdeskWorld, monkeypatch: Any
) -> None:
    import asyncio

    sim = await hd.base.sim()
    await hd.hotdesk_phone(sim)
    await hd.reprovision(sim.mac)
    alice = await hd.hotdesk_user(pin="1234")
    await hd.base.profile(alice)
    client = await hd.base.user_client(alice)
    checks = _CountedChecks(monkeypatch, hold_pin="1234")

    # The right PIN is being checked (slowly) while wrong ones come in at the phone.
    right = asyncio.ensure_future(hd.login(sim.mac, alice.extension_number, "1234", client=client))
    assert await asyncio.to_thread(checks.held.wait, 20)
    services = await hd.services(sim)
    answers = [
        text_of(await services.login(alice.extension_number, "0000"))
        for _ in range(pins.MAX_WRONG - 1)
    ]
    # The attempt being checked counts as wrong until it is proven right: the lock is on.
    assert answers[:-1] == [WRONG] * (pins.MAX_WRONG - 2)
    assert answers[-1] == LOCKED
    checks.release.set()
    accepted = await right

    assert [(e["field"], e["code"]) for e in accepted["userErrors"]] == [(["pin"], "LOCKED")]
    assert not await HotdeskSession.exists()
    assert checks.wrong("1234") <= pins.MAX_WRONG
