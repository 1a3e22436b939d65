"""Phones: create, read, update, delete, list; their lines follow their model."""

from __future__ import annotations

from app.devices.models import PhoneLine
from tests.conftest import GraphQLClient, Tenant
from tests.devices.conftest import (
    CREATE_PHONE,
    GET_PHONE,
    UPDATE_PHONE,
    add_sip_user,
    create_phone,
    create_template,
    model_id,
    phone_errors,
    pk_of,
)


async def test_created_phone_is_active_with_one_line_per_model_line(
    admin: GraphQLClient, acme: Tenant
) -> None:
    cisco = await model_id(admin, "Cisco", "8845")
    phone = await create_phone(
        admin, mac="aa-bb-cc-dd-ee-01", companyId=acme.company_id, modelId=cisco, name="Desk 1"
    )
    assert phone["mac"] == "AA:BB:CC:DD:EE:01"
    assert phone["status"] == "ACTIVE"
    assert phone["company"]["name"] == "Acme"
    assert phone["model"]["name"] == "8845"
    assert [line["port"] for line in phone["lines"]] == list(range(1, phone["model"]["lineCount"] + 1))
    assert all(line["hasAuthSecret"] and line["sipUser"] is None for line in phone["lines"])
    assert phone["httpPort"] == 80 and phone["sipPort"] == 5060
    assert phone["configFilename"] == "SEPAABBCCDDEE01.cnf.xml"
    assert phone["assignee"] is None


async def test_phone_without_model_has_one_line(admin: GraphQLClient, acme: Tenant) -> None:
    phone = await create_phone(admin, mac="AABB.CCDD.EE02", companyId=acme.company_id)
    assert phone["mac"] == "AA:BB:CC:DD:EE:02"
    assert [line["port"] for line in phone["lines"]] == [1]
    assert phone["configFilename"] is None


async def test_every_mac_form_finds_the_same_phone(admin: GraphQLClient, acme: Tenant) -> None:
    await create_phone(admin, mac="aabbccddee03", companyId=acme.company_id, name="x")
    for form in ("AABBCCDDEE03", "aa:bb:cc:dd:ee:03", "AA-BB-CC-DD-EE-03", "aabb.ccdd.ee03"):
        data = await admin.data(GET_PHONE, {"mac": form})
        assert data["phone"]["name"] == "x"


async def test_malformed_mac_is_a_validation_error(admin: GraphQLClient) -> None:
    body = await admin.execute(GET_PHONE, {"mac": "not-a-mac"})
    assert body["errors"] and "not a MAC address" in body["errors"][0]["message"]


async def test_duplicate_mac_is_refused(admin: GraphQLClient, acme: Tenant) -> None:
    await create_phone(admin, mac="AABBCCDDEE04", companyId=acme.company_id)
    errors = await phone_errors(
        admin, CREATE_PHONE, {"input": {"mac": "aa:bb:cc:dd:ee:04", "companyId": acme.company_id}}
    )
    assert errors == [{"field": ["input", "mac"], "code": "DUPLICATE"}]


async def test_mac_is_required(admin: GraphQLClient, acme: Tenant) -> None:
    errors = await phone_errors(admin, CREATE_PHONE, {"input": {"companyId": acme.company_id}})
    assert errors == [{"field": ["input", "mac"], "code": "REQUIRED"}]


async def test_system_admin_must_name_the_company(admin: GraphQLClient) -> None:
    errors = await phone_errors(admin, CREATE_PHONE, {"input": {"mac": "AABBCCDDEE05"}})
    assert errors == [{"field": ["input", "companyId"], "code": "REQUIRED"}]


async def test_company_admin_phones_belong_to_their_company(acme: Tenant) -> None:
    phone = await create_phone(acme.client, mac="AABBCCDDEE06")
    assert phone["company"]["id"] == acme.company_id


async def test_company_admin_cannot_put_a_phone_in_another_company(
    acme: Tenant, globex: Tenant
) -> None:
    errors = await phone_errors(
        acme.client, CREATE_PHONE, {"input": {"mac": "AABBCCDDEE07", "companyId": globex.company_id}}
    )
    assert errors == [{"field": ["input", "companyId"], "code": "NOT_FOUND"}]


async def test_unknown_model_and_template_are_not_found(admin: GraphQLClient, acme: Tenant) -> None:
    base = {"mac": "AABBCCDDEE08", "companyId": acme.company_id}
    errors = await phone_errors(
        admin, CREATE_PHONE, {"input": {**base, "modelId": "UGhvbmVNb2RlbDo5OTk5OTk"}}
    )
    assert errors == [{"field": ["input", "modelId"], "code": "NOT_FOUND"}]
    errors = await phone_errors(
        admin, CREATE_PHONE, {"input": {**base, "templateFilename": "nope.xml"}}
    )
    assert errors == [{"field": ["input", "templateFilename"], "code": "NOT_FOUND"}]


async def test_dect_model_is_incompatible_with_a_desk_phone(
    admin: GraphQLClient, acme: Tenant
) -> None:
    n870 = await model_id(admin, "Gigaset", "N870")
    errors = await phone_errors(
        admin,
        CREATE_PHONE,
        {"input": {"mac": "AABBCCDDEE09", "companyId": acme.company_id, "modelId": n870}},
    )
    assert errors == [{"field": ["input", "modelId"], "code": "INCOMPATIBLE"}]


async def test_template_for_another_model_is_incompatible(
    admin: GraphQLClient, acme: Tenant
) -> None:
    t46 = await model_id(admin, "Yealink", "T46U")
    cisco = await model_id(admin, "Cisco", "7821")
    await create_template(admin, "t46u.cfg", modelId=t46)
    errors = await phone_errors(
        admin,
        CREATE_PHONE,
        {
            "input": {
                "mac": "AABBCCDDEE0A",
                "companyId": acme.company_id,
                "modelId": cisco,
                "templateFilename": "t46u.cfg",
            }
        },
    )
    assert errors == [{"field": ["input", "templateFilename"], "code": "INCOMPATIBLE"}]


async def test_bad_address_ports_and_timezone_are_invalid(
    admin: GraphQLClient, acme: Tenant
) -> None:
    base = {"mac": "AABBCCDDEE0B", "companyId": acme.company_id}
    cases = [
        ({"ipAddress": "10.0.0.300"}, ["input", "ipAddress"]),
        ({"httpPort": 0}, ["input", "httpPort"]),
        ({"sipPort": 65536}, ["input", "sipPort"]),
        ({"timezone": "Mars/Olympus"}, ["input", "timezone"]),
        ({"codecs": ["G722", "bad codec"]}, ["input", "codecs", "1"]),
    ]
    for extra, field in cases:
        errors = await phone_errors(admin, CREATE_PHONE, {"input": {**base, **extra}})
        assert errors == [{"field": field, "code": "INVALID"}], extra
    data = await admin.data(GET_PHONE, {"mac": base["mac"]})
    assert data["phone"] is None


async def test_all_fields_are_stored(admin: GraphQLClient, acme: Tenant) -> None:
    phone = await create_phone(
        admin,
        mac="AABBCCDDEE0C",
        companyId=acme.company_id,
        name="Reception",
        ipAddress="2001:db8::10",
        httpPort=8080,
        sipPort=5062,
        webUsername="admin",
        webPassword="w3b-Secret!",
        timezone="Europe/London",
        language="English",
        codecs=["G722", "PCMA"],
        canHotdesk=True,
        canForward=True,
    )
    assert {k: phone[k] for k in ("name", "ipAddress", "httpPort", "sipPort", "webUsername")} == {
        "name": "Reception",
        "ipAddress": "2001:db8::10",
        "httpPort": 8080,
        "sipPort": 5062,
        "webUsername": "admin",
    }
    assert phone["hasWebPassword"] is True
    assert phone["timezone"] == "Europe/London" and phone["language"] == "English"
    assert phone["codecs"] == ["G722", "PCMA"]
    assert phone["canHotdesk"] is True and phone["canForward"] is True


async def test_update_changes_only_the_fields_sent(admin: GraphQLClient, acme: Tenant) -> None:
    await create_phone(
        admin, mac="AABBCCDDEE0D", companyId=acme.company_id, name="Old", timezone="Europe/Paris",
        webPassword="pw", ipAddress="10.0.0.5",
    )
    payload = await admin.mutate(UPDATE_PHONE, {"mac": "AABBCCDDEE0D", "input": {"name": "New"}})
    phone = payload["phone"]
    assert phone["name"] == "New"
    assert phone["timezone"] == "Europe/Paris"
    assert phone["hasWebPassword"] is True
    assert phone["ipAddress"] == "10.0.0.5"


async def test_update_with_null_clears(admin: GraphQLClient, acme: Tenant) -> None:
    await create_phone(
        admin, mac="AABBCCDDEE0E", companyId=acme.company_id, name="Old", webPassword="pw",
        ipAddress="10.0.0.5",
    )
    payload = await admin.mutate(
        UPDATE_PHONE,
        {"mac": "AABBCCDDEE0E", "input": {"name": None, "webPassword": None, "ipAddress": None}},
    )
    phone = payload["phone"]
    assert phone["name"] is None and phone["hasWebPassword"] is False and phone["ipAddress"] is None


async def test_ports_cannot_be_cleared(admin: GraphQLClient, acme: Tenant) -> None:
    await create_phone(admin, mac="AABBCCDDEE0F", companyId=acme.company_id)
    errors = await phone_errors(
        admin, UPDATE_PHONE, {"mac": "AABBCCDDEE0F", "input": {"sipPort": None}}
    )
    assert errors == [{"field": ["input", "sipPort"], "code": "REQUIRED"}]


async def test_mac_cannot_be_changed(admin: GraphQLClient, acme: Tenant) -> None:
    await create_phone(admin, mac="AABBCCDDEE10", companyId=acme.company_id)
    errors = await phone_errors(
        admin, UPDATE_PHONE, {"mac": "AABBCCDDEE10", "input": {"mac": "AABBCCDDEE11"}}
    )
    assert errors == [{"field": ["input", "mac"], "code": "INVALID"}]


async def test_update_of_unknown_phone_is_not_found(admin: GraphQLClient) -> None:
    errors = await phone_errors(admin, UPDATE_PHONE, {"mac": "0000000000FF", "input": {"name": "x"}})
    assert errors == [{"field": ["mac"], "code": "NOT_FOUND"}]


async def test_changing_the_model_adds_and_removes_lines(
    admin: GraphQLClient, acme: Tenant
) -> None:
    m7841 = await model_id(admin, "Cisco", "7841")  # 4 lines
    m7821 = await model_id(admin, "Cisco", "7821")  # 2 lines
    phone = await create_phone(admin, mac="AABBCCDDEE12", companyId=acme.company_id, modelId=m7821)
    assert len(phone["lines"]) == 2
    user = await add_sip_user(acme.company_id, "alice", "201")
    line1_secret = await PhoneLine.get(phone_id=pk_of(phone["id"]), port=1).values_list(
        "auth_secret_enc", flat=True
    )

    grown = (await admin.mutate(UPDATE_PHONE, {"mac": phone["mac"], "input": {"modelId": m7841}}))
    assert [line["port"] for line in grown["phone"]["lines"]] == [1, 2, 3, 4]
    await admin.mutate(
        "mutation($mac: MacAddress!, $u: ID) { phoneLineAssign(mac: $mac, port: 4, sipUserId: $u) "
        "{ userErrors { code } } }",
        {"mac": phone["mac"], "u": user.id},
    )
    shrunk = await admin.mutate(UPDATE_PHONE, {"mac": phone["mac"], "input": {"modelId": m7821}})
    assert [line["port"] for line in shrunk["phone"]["lines"]] == [1, 2]
    assert await PhoneLine.filter(sip_user_id=user.pk).count() == 0
    # Lines that stay keep their secret.
    assert (
        await PhoneLine.get(phone_id=pk_of(phone["id"]), port=1).values_list(
            "auth_secret_enc", flat=True
        )
        == line1_secret
    )

    cleared = await admin.mutate(UPDATE_PHONE, {"mac": phone["mac"], "input": {"modelId": None}})
    assert cleared["phone"]["model"] is None
    assert [line["port"] for line in cleared["phone"]["lines"]] == [1]


async def test_delete_removes_the_phone(admin: GraphQLClient, acme: Tenant) -> None:
    phone = await create_phone(admin, mac="AABBCCDDEE13", companyId=acme.company_id)
    data = await admin.mutate(
        "mutation { phoneDelete(mac: \"aa:bb:cc:dd:ee:13\") { deletedId userErrors { code } } }"
    )
    assert data["deletedId"] == phone["id"]
    assert (await admin.data(GET_PHONE, {"mac": phone["mac"]}))["phone"] is None
    assert await PhoneLine.filter(phone_id=pk_of(phone["id"])).count() == 0
    again = await admin.data(
        "mutation { phoneDelete(mac: \"AABBCCDDEE13\") { deletedId userErrors { field code } } }"
    )
    assert again["phoneDelete"] == {
        "deletedId": None,
        "userErrors": [{"field": ["mac"], "code": "NOT_FOUND"}],
    }


async def test_node_resolves_a_phone(admin: GraphQLClient, acme: Tenant) -> None:
    phone = await create_phone(admin, mac="AABBCCDDEE14", companyId=acme.company_id, name="n")
    data = await admin.data(
        "query($id: ID!) { node(id: $id) { id ... on Phone { mac name } } }", {"id": phone["id"]}
    )
    assert data["node"] == {"id": phone["id"], "mac": "AA:BB:CC:DD:EE:14", "name": "n"}


async def test_a_web_username_basic_auth_cannot_carry_is_invalid(
    admin: GraphQLClient, acme: Tenant
) -> None:
    # HTTP Basic auth separates user and password with ':'; such a login would fail every
    # deploy job with an internal error instead of being refused here.
    for n, name in enumerate(["ad:min", "ad\nmin", "a\x00b"]):
        errors = await phone_errors(
            admin,
            CREATE_PHONE,
            {
                "input": {
                    "mac": f"AABBCCDDEF{n:02X}",
                    "companyId": acme.company_id,
                    "webUsername": name,
                }
            },
        )
        assert errors == [{"field": ["input", "webUsername"], "code": "INVALID"}], name
    phone = await create_phone(
        admin, mac="AABBCCDDEF10", companyId=acme.company_id, webUsername="admin@site"
    )
    errors = await phone_errors(
        admin, UPDATE_PHONE, {"mac": phone["mac"], "input": {"webUsername": "x:y"}}
    )
    assert errors == [{"field": ["input", "webUsername"], "code": "INVALID"}]
    after = (await admin.data(GET_PHONE, {"mac": phone["mac"]}))["phone"]
    assert after["webUsername"] == "admin@site"
