"""Secrets written inside a recorded text (a profile's hand-written cnfXml holds its
SIP line's authPassword) are masked as in the config history, cut texts included."""

from __future__ import annotations

import json

from app.core.audit import MASK, MAX_STRING
from tests.audit.conftest import nodes
from tests.conftest import GraphQLClient
from tests.deploy.conftest import DeployWorld

UPDATE_PROFILE = """
mutation($id: ID!, $input: PhoneProfileInput!) { phoneProfileUpdate(id: $id, input: $input) {
  phoneProfile { id } userErrors { field code message } } }
"""


def _cnf(password: str, padding: int = 0) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<device>\n'
        f"  <!-- {'x' * padding} -->\n"
        "  <sipProfile><sipLines><line button=\"1\">\n"
        f"    <authName>201</authName><authPassword>{password}</authPassword>\n"
        '    <phonePassword type="text">Phone-Pw-77</phonePassword>\n'
        "  </line></sipLines></sipProfile>\n</device>\n"
    )


async def test_password_elements_of_a_cnf_xml_are_masked(
    world: DeployWorld, admin: GraphQLClient
) -> None:
    owner = await world.user("alice")
    profile_id = await world.profile(owner, _cnf("Line-Secret-1"))
    # Long enough to be cut, the cut falling inside the password.
    cut = MAX_STRING - len(_cnf("", 0).split("<authPassword>")[0]) - len("<authPassword>") - 4
    await world.admin.mutate(
        UPDATE_PROFILE,
        {"id": profile_id, "input": {"cnfXml": _cnf("Line-Secret-2", cut)}},
    )

    [update] = await nodes(admin, operation="phoneProfileUpdate")
    [create] = await nodes(admin, operation="phoneProfileCreate")
    shown = json.loads(create["arguments"])["input"]["cnfXml"]
    assert f"<authPassword>{MASK}</authPassword>" in shown
    assert f'<phonePassword type="text">{MASK}</phonePassword>' in shown
    assert "<authName>201</authName>" in shown
    for event in (create, update):
        for secret in ("Line-Secret", "Phone-Pw-77", "<authPassword>Line"):
            assert secret not in event["arguments"], (event["operation"], secret)
