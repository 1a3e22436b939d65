"""Config history edge cases: a short web password, a hot-desk user's own profile, and
files that are not plain text."""

from __future__ import annotations

import hashlib

from app.devices.models import PhoneTemplate
from tests.revisions.conftest import (
    LOGIN,
    LOGOUT,
    PREVIEW,
    ROLLBACK,
    SIP_PASSWORD,
    HistoryWorld,
    secrets_in,
)

PROFILE_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<device>\n"
    f"  <!-- registrar login: {SIP_PASSWORD} -->\n"
    "  <sipProfile><phoneLabel>Hot desk</phoneLabel></sipProfile>\n"
    "</device>\n"
)


async def test_a_web_password_found_elsewhere_in_the_file_is_masked_only_where_it_is_put(
    history: HistoryWorld,
) -> None:
    """A common web password ("cisco") is also part of the built-in template's text:
    only the value the template puts in is masked, and the preview of an unchanged
    phone equals its newest revision."""
    sim, _ = await history.phone(web_password="cisco")
    filename = f"SEP{sim.mac}.cnf.xml"

    await history.reprovision(sim.mac)

    assert b"<phonePassword>cisco</phonePassword>" in history.stored(filename)
    (revision,) = (await history.revisions(sim.mac))["nodes"]
    assert "<phonePassword>********</phonePassword>" in revision["content"]
    assert "x-cisco-serviceuri-cfwdall" in revision["content"]
    preview = await history.preview(sim.mac)
    assert preview == {
        "filename": filename,
        "content": revision["content"],
        "diff": "",
        "changed": False,
    }


async def test_a_hotdesk_login_masks_the_sip_password_of_the_user_logging_in(
    history: HistoryWorld,
) -> None:
    """The user logging in is on none of the phone's lines; its own profile (written by
    the login byte for byte) may hold its SIP password."""
    user = await history.hotdesk_user()
    sim, _ = await history.phone()  # line 1 is another user's
    await history.base.profile(user, cnf_xml=PROFILE_XML)

    await history.run(LOGIN, {"mac": sim.mac, "ext": user.extension_number})

    assert history.stored(f"SEP{sim.mac}.cnf.xml") == PROFILE_XML.encode()
    revisions = await history.revisions(sim.mac)
    (login,) = revisions["nodes"]
    assert login["reason"] == "HOTDESK_LOGIN"
    assert login["content"] == PROFILE_XML.replace(SIP_PASSWORD, "********")
    assert secrets_in(revisions, await history.secrets()) == []


async def test_a_config_with_a_nul_character_is_kept(history: HistoryWorld) -> None:
    """A template may write any character; a NUL in the file does not fail the job
    (PostgreSQL text cannot hold one) and the bytes are kept exactly."""
    template = await PhoneTemplate.create(
        filename="nul.cnf.xml",
        content='<device>\n<name>{{ phone.mac }}</name>\n<blob>a{{ "\\x00" }}b</blob>\n</device>\n',
    )
    sim, _ = await history.phone(template_id=template.id)
    filename = f"SEP{sim.mac}.cnf.xml"

    await history.reprovision(sim.mac)

    written = history.stored(filename)
    assert b"a\x00b" in written
    (revision,) = (await history.revisions(sim.mac))["nodes"]
    assert revision["sha256"] == hashlib.sha256(written).hexdigest()
    assert revision["size"] == len(written)
    assert "\x00" not in revision["content"] and "<blob>a" in revision["content"]
    preview = await history.preview(sim.mac)
    assert preview is not None and preview["changed"] is False, preview


async def test_a_revision_under_a_name_the_phone_no_longer_reads_is_not_rolled_back_to(
    history: HistoryWorld,
) -> None:
    """A phone whose model changed fetches another file name: writing the old revision
    under its old name would change nothing on the phone while the job succeeded."""
    from app.devices.models import Phone, PhoneModel

    yealink = await PhoneModel.filter(config_filename_pattern="{mac}.cfg").first()
    assert yealink is not None
    template = await PhoneTemplate.get(filename="yealink.cfg")
    sim, phone = await history.phone(model=yealink, template_id=template.id)
    await history.reprovision(sim.mac)
    (old,) = (await history.revisions(sim.mac))["nodes"]
    assert old["filename"] == f"{sim.mac.lower()}.cfg"

    cisco = await history.base.cisco_model()
    await Phone.filter(id=phone.id).update(model_id=cisco.id)
    refused = await history.admin.data(ROLLBACK, {"mac": sim.mac, "revisionId": old["id"]})

    payload = refused["phoneConfigRollback"]
    assert payload["job"] is None
    ((error),) = payload["userErrors"]
    assert (error["field"], error["code"]) == (["revisionId"], "INVALID")
    assert f"SEP{sim.mac}.cnf.xml" in error["message"]
    assert (await history.revisions(sim.mac))["totalCount"] == 1


async def test_a_phone_moved_to_another_company_takes_no_config_history_along(
    history: HistoryWorld, tenant_factory  # type: ignore[no-untyped-def]
) -> None:
    """Its revisions show the old company's users, domain and phone labels (and a
    rollback would write the old company's config): the new company sees none."""
    sim, _ = await history.phone(name="Acme reception")
    await history.reprovision(sim.mac)
    (old,) = (await history.revisions(sim.mac))["nodes"]
    assert "Acme reception" in old["content"]

    rival = await tenant_factory("Rival")
    moved = await history.admin.data(
        "mutation($mac: MacAddress!, $c: ID!) { phoneUpdate(mac: $mac, input: {companyId: $c})"
        " { userErrors { code } } }",
        {"mac": sim.mac, "c": rival.company_id},
    )
    assert moved["phoneUpdate"]["userErrors"] == []

    theirs = await history.revisions(sim.mac, client=rival.client)
    assert theirs == {"totalCount": 0, "nodes": []}
    node = await rival.client.data("query($id: ID!) { node(id: $id) { id } }", {"id": old["id"]})
    assert node["node"] is None
    refused = await rival.client.data(ROLLBACK, {"mac": sim.mac, "revisionId": old["id"]})
    errors = refused["phoneConfigRollback"]["userErrors"]
    assert [(e["field"], e["code"]) for e in errors] == [(["revisionId"], "NOT_FOUND")]
    preview = (await rival.client.data(PREVIEW, {"mac": sim.mac}))["phone"]["configPreview"]
    assert preview["diff"].startswith("--- /dev/null\n")


async def test_a_logout_that_puts_a_profile_back_keeps_it_masked(history: HistoryWorld) -> None:
    """A phone without a template had a user's profile deployed; a hot-desk login of
    another user keeps those bytes and its logout writes them back: the revision of the
    logout hides the profile owner's SIP password as the deploy's revision did."""
    alice = await history.hotdesk_user()
    bob = await history.hotdesk_user()
    sim, _ = await history.phone(template=False)  # line 1 is a third user's
    filename = f"SEP{sim.mac}.cnf.xml"
    deployed = await history.base.deploy(
        await history.base.profile(alice, cnf_xml=PROFILE_XML), sim.mac, wait=True
    )
    assert deployed["job"]["status"] == "SUCCEEDED", deployed
    await history.base.profile(bob, cnf_xml="<device><x/></device>\n")

    await history.run(LOGIN, {"mac": sim.mac, "ext": bob.extension_number})
    await history.run(LOGOUT, {"mac": sim.mac})

    assert history.stored(filename) == PROFILE_XML.encode()
    revisions = await history.revisions(sim.mac)
    logout, _, deploy = revisions["nodes"]
    assert (logout["reason"], deploy["reason"]) == ("HOTDESK_LOGOUT", "PROFILE_DEPLOY")
    assert logout["sha256"] == deploy["sha256"]
    assert logout["content"] == deploy["content"]
    assert secrets_in(revisions, await history.secrets()) == []


async def test_a_diff_splits_lines_at_newlines_only(history: HistoryWorld) -> None:
    """A name holding a Unicode line separator stays one line of the file's diff."""
    sim, _ = await history.phone(name="Desk\u2028East")
    await history.reprovision(sim.mac)

    (revision,) = (await history.revisions(sim.mac))["nodes"]
    lines = revision["diff"].split("\n")
    assert lines[-1] == "" and "\\ No newline at end of file" not in lines
    assert all(line.startswith(("---", "+++", "@@", "+")) for line in lines[:-1]), lines
    assert "+    <phoneLabel>Desk\u2028East</phoneLabel>" in lines


async def test_a_secret_written_as_xml_or_url_escapes_is_masked_in_a_profile(
    history: HistoryWorld,
) -> None:
    """A web password with markup characters appears escaped in an XML file (and
    percent-encoded in a URL); those forms are masked too."""
    from urllib.parse import quote

    password = 'p&ss<"wd>'
    user = await history.base.user()
    sim, _ = await history.phone(web_password=password, user=user)
    escaped = "p&amp;ss&lt;&quot;wd&gt;"
    cnf = (
        "<device>\n"
        f"  <!-- admin login: {escaped} -->\n"
        f"  <url>http://admin:{quote(password, safe='')}@10.0.0.1/</url>\n"
        "</device>\n"
    )
    deployed = await history.base.deploy(
        await history.base.profile(user, cnf_xml=cnf), sim.mac, wait=True
    )
    assert deployed["job"]["status"] == "SUCCEEDED", deployed

    (revision,) = (await history.revisions(sim.mac))["nodes"]
    assert revision["content"] == (
        "<device>\n  <!-- admin login: ******** -->\n"
        "  <url>http://admin:********@10.0.0.1/</url>\n</device>\n"
    )


async def test_a_render_error_of_the_exact_config_names_no_secret(history: HistoryWorld) -> None:
    """A template that fails only with the real values (a lookup by the password)
    fails the job with a message that shows the password masked."""
    from tests.revisions.conftest import WEB_PASSWORD

    template = await PhoneTemplate.create(
        filename="lookup.cnf.xml",
        content='<device>{% if phone.web_password != "********" %}'
        "{{ {}[phone.web_password] }}{% endif %}</device>\n",
    )
    sim, _ = await history.phone(template_id=template.id)
    data = await history.admin.data(
        "mutation($mac: MacAddress!) { phoneReprovision(mac: $mac) { job { id } } }",
        {"mac": sim.mac},
    )
    job = await history.base.wait_job(data["phoneReprovision"]["job"]["id"])

    assert job["status"] == "FAILED"
    assert "could not be rendered" in job["error"], job
    assert secrets_in(job, [WEB_PASSWORD]) == []
    assert "********" in job["error"]
