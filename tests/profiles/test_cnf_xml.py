"""A profile's cnfXml is checked before it is stored: well-formed, rooted at <device>, at
most 256 KiB, and never with a DOCTYPE (no XXE, no entity expansion)."""

from __future__ import annotations

import pytest

from app.profiles.models import PhoneProfile
from tests.profiles.conftest import CREATE, UPDATE, Company, create_profile, gid

XXE = """<?xml version="1.0"?>
<!DOCTYPE device [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<device>&secret;</device>"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
]>
<device>&lol2;</device>"""


async def _errors(acme: Company, xml: str) -> list[dict]:
    owner = await acme.user()
    data = await acme.tenant.client.data(
        CREATE, {"input": {"ownerId": gid(owner), "name": "x", "cnfXml": xml}}
    )
    assert data["phoneProfileCreate"]["phoneProfile"] is None
    return data["phoneProfileCreate"]["userErrors"]


@pytest.mark.parametrize("xml", [XXE, BILLION_LAUGHS], ids=["xxe", "entity-expansion"])
async def test_doctype_is_refused_and_nothing_is_stored(acme: Company, xml: str) -> None:
    errors = await _errors(acme, xml)

    assert errors[0]["code"] == "INVALID"
    assert errors[0]["field"] == ["input", "cnfXml"]
    assert "DOCTYPE" in errors[0]["message"] and "line 2" in errors[0]["message"]
    assert "root:" not in errors[0]["message"]  # nothing of /etc/passwd leaks
    assert await PhoneProfile.all().count() == 0


async def test_malformed_xml_is_refused_with_the_parsers_line(acme: Company) -> None:
    errors = await _errors(acme, "<device>\n  <line>\n    <name>x</nam>\n  </line>\n</device>")

    assert errors[0]["code"] == "INVALID"
    assert "line 3" in errors[0]["message"]


async def test_undefined_entity_is_refused(acme: Company) -> None:
    errors = await _errors(acme, "<device>&nope;</device>")
    assert errors[0]["code"] == "INVALID" and "line 1" in errors[0]["message"]


async def test_root_must_be_device(acme: Company) -> None:
    errors = await _errors(acme, "<?xml version='1.0'?>\n<phone/>")
    assert errors[0]["code"] == "INVALID"
    assert "<device>" in errors[0]["message"]


async def test_more_than_256_kib_is_refused(acme: Company) -> None:
    body = "<device>" + "<x/>" * (256 * 1024 // 4) + "</device>"
    errors = await _errors(acme, body)
    assert errors[0]["code"] == "INVALID" and "256 KiB" in errors[0]["message"]


async def test_just_under_the_limit_is_accepted(acme: Company) -> None:
    filler = "<x/>" * ((256 * 1024 - 20) // 4)
    profile = await create_profile(
        acme.tenant.client, await acme.user(), cnfXml=f"<device>{filler}</device>"
    )
    assert profile["cnfXml"].startswith("<device><x/>")


async def test_update_checks_the_xml_too(acme: Company) -> None:
    profile = await create_profile(acme.tenant.client, await acme.user())
    data = await acme.tenant.client.data(UPDATE, {"id": profile["id"], "input": {"cnfXml": XXE}})
    assert data["phoneProfileUpdate"]["userErrors"][0]["code"] == "INVALID"
    stored = await PhoneProfile.get()
    assert "DOCTYPE" not in stored.cnf_xml
