"""Phone.configPreview (CONTRACT §7): the template rendered now, masked, nothing written,
diffed against the phone's newest revision — and cheap on a page of phones."""

from __future__ import annotations

from app.deploy.models import ConfigRevision
from app.devices.models import PhoneTemplate
from tests.conftest import QueryCounter
from tests.deploy.conftest import pk_of
from tests.revisions.conftest import HistoryWorld, secrets_in

PAGE = """
query($first: Int) { phones(first: $first) { nodes {
  mac
  configPreview { filename diff changed content }
  configRevisions(first: 5) { totalCount nodes { id diff reason job { id } phone { mac } } }
} } }
"""


async def test_preview_is_masked_writes_nothing_and_diffs_against_the_newest_revision(
    history: HistoryWorld,
) -> None:
    sim, _ = await history.phone()
    filename = f"SEP{sim.mac}.cnf.xml"

    first = await history.preview(sim.mac)
    assert first is not None
    assert first["filename"] == filename
    assert first["changed"] is True  # nothing written yet: every line is new
    assert first["diff"].startswith("--- /dev/null\n+++ ")
    assert "<phonePassword>********</phonePassword>" in first["content"]
    assert secrets_in(first, await history.secrets()) == []
    assert not (history.base.ftp.root / filename).exists()  # the preview wrote nothing

    await history.reprovision(sim.mac)
    same = await history.preview(sim.mac)
    assert same == {**first, "diff": "", "changed": False}
    newest = (await history.revisions(sim.mac))["nodes"][0]
    assert newest["content"] == same["content"]

    await history.admin.mutate(
        'mutation($mac: MacAddress!) { phoneUpdate(mac: $mac, input: {name: "Lobby"}) '
        "{ phone { name } userErrors { field code message } } }",
        {"mac": sim.mac},
    )
    changed = await history.preview(sim.mac)
    assert changed is not None and changed["changed"] is True
    lines = changed["diff"].splitlines()
    assert lines[0] == f"--- {filename} (revision {pk_of(newest['id'])})"
    assert lines[1] == f"+++ {filename} (preview)"
    assert any(line.startswith("+") and "Lobby" in line for line in lines[2:])
    assert secrets_in(changed, await history.secrets()) == []


async def test_a_phone_without_a_template_has_no_preview(history: HistoryWorld) -> None:
    sim, _ = await history.phone(template=False)
    assert await history.preview(sim.mac) is None


async def _phones_with_history(history: HistoryWorld, count: int) -> None:
    builtin = await PhoneTemplate.get(filename="cisco-sip.cnf.xml")
    for n in range(count):
        _, phone = await history.phone(template_id=builtin.id, name=f"Desk {n}")
        for k in range(2):
            await ConfigRevision.create(
                phone=phone,
                reason="REPROVISION",
                filename=f"SEP{phone.mac}.cnf.xml",
                sha256="0" * 64,
                size=1,
                content=f"revision {k}\n",
                diff="",
                data_enc="",
            )


async def test_previews_and_revisions_of_a_page_of_phones_cost_the_same_statements(
    history: HistoryWorld, count_queries: QueryCounter
) -> None:
    await _phones_with_history(history, 3)
    count_queries.statements.clear()
    small = await history.admin.data(PAGE, {"first": 3})
    few = count_queries.count

    await _phones_with_history(history, 9)
    count_queries.statements.clear()
    large = await history.admin.data(PAGE, {"first": 12})
    many = count_queries.count

    assert len(small["phones"]["nodes"]) == 3 and len(large["phones"]["nodes"]) == 12
    for phone in large["phones"]["nodes"]:
        assert phone["configPreview"]["changed"] is True
        assert phone["configRevisions"]["totalCount"] == 2
        assert [n["diff"] for n in phone["configRevisions"]["nodes"]] == ["", ""]
    assert secrets_in(large, await history.secrets()) == []
    assert 0 < many == few, count_queries.statements


async def test_a_template_that_fails_is_an_error_of_that_phone_s_preview_alone(
    history: HistoryWorld,
) -> None:
    broken = await PhoneTemplate.create(
        filename="broken.cnf.xml", content="<device>{{ phone.nothing.here }}</device>\n"
    )
    sim_ok, _ = await history.phone(name="Fine")
    sim_bad, _ = await history.phone(template_id=broken.id, name="Broken")

    body = await history.admin.execute(
        "{ phones(first: 10) { nodes { mac configPreview { changed } } } }"
    )

    by_mac = {p["mac"].replace(":", ""): p for p in body["data"]["phones"]["nodes"]}
    assert by_mac[sim_ok.mac]["configPreview"] == {"changed": True}
    assert by_mac[sim_bad.mac]["configPreview"] is None
    (error,) = body["errors"]
    assert error["path"][-1] == "configPreview"
    assert "could not be rendered" in error["message"]
    assert error["extensions"]["code"] == "INVALID"


async def test_a_template_that_recurses_without_end_is_an_error_of_its_preview(
    history: HistoryWorld,
) -> None:
    looping = await PhoneTemplate.create(
        filename="looping.cnf.xml",
        content="{% macro again() %}{{ again() }}{% endmacro %}<device>{{ again() }}</device>\n",
    )
    sim, _ = await history.phone(template_id=looping.id)

    body = await history.admin.execute(
        "query($mac: MacAddress!) { phone(mac: $mac) { configPreview { changed } } }",
        {"mac": sim.mac},
    )

    assert body["data"]["phone"]["configPreview"] is None
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "INVALID", error
    assert "could not be rendered" in error["message"]
    job = await history.admin.data(
        "mutation($mac: MacAddress!) { phoneReprovision(mac: $mac) { job { id } } }",
        {"mac": sim.mac},
    )
    ended = await history.base.wait_job(job["phoneReprovision"]["job"]["id"])
    assert ended["status"] == "FAILED"
    assert "could not be rendered" in ended["error"], ended
