"""SIP users: every field of the seed API, uniqueness, secrets, partial updates."""

from __future__ import annotations

import json

from app.core.crypto import decrypt, verify_pin
from app.pbx.models import SipUser
from tests.conftest import GraphQLClient
from tests.pbx.conftest import (
    CREATE_USER,
    DELETE_USER,
    UPDATE_USER,
    USER_FIELDS,
    Pbx,
    errors_of,
    payload_of,
    user_input,
)

EVERY_FIELD = {
    "username": "joe.blogs",
    "password": "s3cret-Passw0rd",
    "displayName": "Joe Blogs",
    "extensionNumber": "201",
    "pin": "4321",
    "email": "joe.blogs@acme.example",
    "firstName": "Joe",
    "lastName": "Blogs",
    "jobName": "Engineer",
    "departmentName": "R&D",
    "companyName": "Acme",
    "officeName": "London",
    "ukCallerId": "+44 20 7946 0000",
    "usCallerId": "+1 (212) 555-0100",
    "mobileNumber": "07700 900123",
    "mobileFollow": True,
    "hotdeskAllowed": True,
    "dashboard": True,
}


async def test_user_is_created_with_every_field(acme: Pbx) -> None:
    payload = await acme.client.mutate(
        CREATE_USER, {"domainId": acme.domain_id, "input": EVERY_FIELD}
    )
    user = payload["sipUser"]
    assert user["username"] == "joe.blogs"
    assert user["displayName"] == "Joe Blogs"
    assert user["extensionNumber"] == "201"
    assert user["email"] == "joe.blogs@acme.example"
    assert (user["firstName"], user["lastName"]) == ("Joe", "Blogs")
    assert (user["jobName"], user["departmentName"]) == ("Engineer", "R&D")
    assert (user["companyName"], user["officeName"]) == ("Acme", "London")
    assert user["ukCallerId"] == "+442079460000"
    assert user["usCallerId"] == "+12125550100"
    assert user["mobileNumber"] == "07700900123"
    assert user["mobileFollow"] is user["hotdeskAllowed"] is user["dashboard"] is True
    assert user["hasPassword"] is True and user["hasPin"] is True


async def test_optional_fields_default_to_empty_and_off(acme: Pbx) -> None:
    user = await acme.user("ann", "100")
    assert user["email"] is None and user["mobileNumber"] is None
    assert user["mobileFollow"] is user["hotdeskAllowed"] is user["dashboard"] is False
    assert user["hasPassword"] is True and user["hasPin"] is False


async def test_secrets_are_stored_encrypted_or_hashed_and_never_returned(acme: Pbx) -> None:
    body = await acme.client.execute(
        CREATE_USER, {"domainId": acme.domain_id, "input": EVERY_FIELD}
    )
    user_id = body["data"]["sipUserCreate"]["sipUser"]["id"]
    listed = await acme.client.execute(
        f"query($id: ID!) {{ node(id: $id) {{ ... on SipUser {{ {USER_FIELDS} }} }} }}",
        {"id": user_id},
    )
    for response in (body, listed):
        text = json.dumps(response)
        assert "s3cret-Passw0rd" not in text and "4321" not in text
    row = await SipUser.get(username="joe.blogs")
    assert row.password_enc and "s3cret" not in row.password_enc
    assert decrypt(row.password_enc) == "s3cret-Passw0rd"
    assert row.pin_hash and "4321" not in row.pin_hash and verify_pin("4321", row.pin_hash)
    introspection = await acme.client.data('{ __type(name: "SipUser") { fields { name } } }')
    names = {f["name"] for f in introspection["__type"]["fields"]}
    assert {"hasPassword", "hasPin"} <= names
    assert not names & {"password", "pin", "passwordEnc", "pinHash"}


async def test_required_fields_are_reported_together(acme: Pbx) -> None:
    payload = await payload_of(
        acme.client, CREATE_USER, {"domainId": acme.domain_id, "input": {"email": "a@b.example"}}
    )
    assert payload["sipUser"] is None
    assert sorted(errors_of(payload)) == [
        (["input", "displayName"], "REQUIRED"),
        (["input", "extensionNumber"], "REQUIRED"),
        (["input", "password"], "REQUIRED"),
        (["input", "username"], "REQUIRED"),
    ]


async def test_malformed_values_are_invalid_with_their_field(acme: Pbx) -> None:
    cases = {
        "username": ["joe blogs", "joe@acme", ".joe", "x" * 129],
        "extensionNumber": ["12a", "+100", "1 00", "1" * 65],
        "pin": ["12ab", "123", "1" * 17],
        "email": ["joe", "joe@", "joe @acme.example"],
        "mobileNumber": ["call me", "12"],
        "ukCallerId": ["+44-abc"],
    }
    for field, values in cases.items():
        for value in values:
            payload = await payload_of(
                acme.client,
                CREATE_USER,
                {"domainId": acme.domain_id, "input": {**user_input("joe", "100"), field: value}},
            )
            assert errors_of(payload) == [(["input", field], "INVALID")], (field, value)


async def test_unknown_domain_is_not_found(acme: Pbx) -> None:
    payload = await payload_of(
        acme.client, CREATE_USER, {"domainId": "nope", "input": user_input("joe", "100")}
    )
    assert errors_of(payload) == [(["domainId"], "NOT_FOUND")]


async def test_duplicate_username_in_domain_is_refused(acme: Pbx, pbx_factory) -> None:  # type: ignore[no-untyped-def]
    await acme.user("joe", "100")
    payload = await payload_of(
        acme.client, CREATE_USER, {"domainId": acme.domain_id, "input": user_input("joe", "101")}
    )
    assert errors_of(payload) == [(["input", "username"], "DUPLICATE")]
    other = await pbx_factory("Globex")
    assert (await other.user("joe", "100"))["username"] == "joe"


async def test_duplicate_extension_in_domain_is_refused_across_users_groups_and_queues(
    acme: Pbx,
) -> None:
    await acme.user("joe", "100")
    await acme.group("sales", "200")
    await acme.queue("support", "300")
    for taken in ("100", "200", "300"):
        payload = await payload_of(
            acme.client,
            CREATE_USER,
            {"domainId": acme.domain_id, "input": user_input("ann", taken)},
        )
        assert errors_of(payload) == [(["input", "extensionNumber"], "DUPLICATE")], taken


async def test_update_changes_only_the_fields_sent(acme: Pbx) -> None:
    created = (
        await acme.client.mutate(CREATE_USER, {"domainId": acme.domain_id, "input": EVERY_FIELD})
    )["sipUser"]
    payload = await acme.client.mutate(
        UPDATE_USER, {"id": created["id"], "input": {"displayName": "Joseph Blogs"}}
    )
    updated = payload["sipUser"]
    assert updated["displayName"] == "Joseph Blogs"
    assert {k: v for k, v in updated.items() if k != "displayName"} == {
        k: v for k, v in created.items() if k != "displayName"
    }
    row = await SipUser.get(username="joe.blogs")
    assert decrypt(row.password_enc or "") == "s3cret-Passw0rd"
    assert verify_pin("4321", row.pin_hash or "")


async def test_null_clears_optional_fields_and_the_pin(acme: Pbx) -> None:
    created = (
        await acme.client.mutate(CREATE_USER, {"domainId": acme.domain_id, "input": EVERY_FIELD})
    )["sipUser"]
    payload = await acme.client.mutate(
        UPDATE_USER,
        {"id": created["id"], "input": {"email": None, "mobileNumber": "", "pin": None}},
    )
    user = payload["sipUser"]
    assert user["email"] is None and user["mobileNumber"] is None
    assert user["hasPin"] is False and user["hasPassword"] is True
    assert user["firstName"] == "Joe"


async def test_required_fields_cannot_be_cleared(acme: Pbx) -> None:
    user = await acme.user("joe", "100")
    payload = await payload_of(
        acme.client,
        UPDATE_USER,
        {
            "id": user["id"],
            "input": {
                "username": None,
                "password": None,
                "displayName": " ",
                "extensionNumber": None,
                "hotdeskAllowed": None,
            },
        },
    )
    assert sorted(errors_of(payload)) == [
        (["input", "displayName"], "REQUIRED"),
        (["input", "extensionNumber"], "REQUIRED"),
        (["input", "hotdeskAllowed"], "REQUIRED"),
        (["input", "password"], "REQUIRED"),
        (["input", "username"], "REQUIRED"),
    ]


async def test_password_can_be_replaced(acme: Pbx) -> None:
    user = await acme.user("joe", "100")
    await acme.client.mutate(UPDATE_USER, {"id": user["id"], "input": {"password": "n3w-one"}})
    row = await SipUser.get(username="joe")
    assert decrypt(row.password_enc or "") == "n3w-one"


async def test_renumbering_frees_the_old_extension(acme: Pbx) -> None:
    joe = await acme.user("joe", "100")
    await acme.user("ann", "101")
    clash = await payload_of(
        acme.client, UPDATE_USER, {"id": joe["id"], "input": {"extensionNumber": "101"}}
    )
    assert errors_of(clash) == [(["input", "extensionNumber"], "DUPLICATE")]
    same = await acme.client.mutate(
        UPDATE_USER, {"id": joe["id"], "input": {"extensionNumber": "100"}}
    )
    assert same["sipUser"]["extensionNumber"] == "100"
    moved = await acme.client.mutate(
        UPDATE_USER, {"id": joe["id"], "input": {"extensionNumber": "110"}}
    )
    assert moved["sipUser"]["extensionNumber"] == "110"
    group = await acme.group("sales", "100")
    assert group["extensionNumber"] == "100"
    taken = await payload_of(
        acme.client, CREATE_USER, {"domainId": acme.domain_id, "input": user_input("bob", "110")}
    )
    assert errors_of(taken) == [(["input", "extensionNumber"], "DUPLICATE")]


async def test_renaming_to_a_taken_username_is_refused(acme: Pbx) -> None:
    joe = await acme.user("joe", "100")
    await acme.user("ann", "101")
    payload = await payload_of(
        acme.client, UPDATE_USER, {"id": joe["id"], "input": {"username": "ann"}}
    )
    assert errors_of(payload) == [(["input", "username"], "DUPLICATE")]


async def test_deleting_a_user_frees_their_extension(acme: Pbx, admin: GraphQLClient) -> None:
    joe = await acme.user("joe", "100")
    deleted = await acme.client.mutate(DELETE_USER, {"id": joe["id"]})
    assert deleted["deletedId"] == joe["id"]
    assert (await acme.queue("support", "100"))["extensionNumber"] == "100"
    data = await admin.data("query($id: ID!) { sipUser(id: $id) { id } }", {"id": joe["id"]})
    assert data["sipUser"] is None
    again = await payload_of(acme.client, DELETE_USER, {"id": joe["id"]})
    assert errors_of(again) == [(["id"], "NOT_FOUND")]


async def test_user_knows_its_domain_and_groups(acme: Pbx) -> None:
    joe = await acme.user("joe", "100")
    sales = await acme.group("sales", "200")
    support = await acme.group("support", "201")
    await acme.group("empty", "202")
    await acme.add_members(support["id"], joe["id"])
    await acme.add_members(sales["id"], joe["id"])
    data = await acme.client.data(
        """query($id: ID!) { sipUser(id: $id) {
             domain { id name } groups { groupName } phones { id } phoneProfiles { id } } }""",
        {"id": joe["id"]},
    )
    user = data["sipUser"]
    assert user["domain"] == {"id": acme.domain_id, "name": acme.domain_name}
    assert [g["groupName"] for g in user["groups"]] == ["sales", "support"]
    assert user["phones"] == [] and user["phoneProfiles"] == []


async def test_user_with_a_deploy_in_progress_cannot_be_deleted(acme: Pbx) -> None:
    """Deleting the user would delete the profile a running job is putting on a phone."""
    from app.core.ids import parse_global_id
    from app.deploy.models import DeployJob, DeployJobKind, DeployJobStatus
    from app.deploy.runner import stop_runner
    from app.devices.models import Phone
    from app.profiles.models import PhoneProfile

    await stop_runner()  # the job stays QUEUED
    joe = await acme.user("joe", "100")
    joe_pk = parse_global_id(joe["id"])[1]
    profile = await PhoneProfile.create(owner_id=joe_pk, name="desk", cnf_xml="<device/>")
    phone = await Phone.create(mac="AABBCCDDEE01")
    job = await DeployJob.create(
        kind=DeployJobKind.PROFILE_DEPLOY, phone_id=phone.id, profile_id=profile.id
    )
    payload = await payload_of(acme.client, DELETE_USER, {"id": joe["id"]})
    assert errors_of(payload) == [(["id"], "IN_USE")]
    assert await PhoneProfile.exists(id=profile.id)

    await DeployJob.filter(id=job.id).update(status=DeployJobStatus.SUCCEEDED)
    deleted = await acme.client.mutate(DELETE_USER, {"id": joe["id"]})
    assert deleted["deletedId"] == joe["id"]
    assert not await PhoneProfile.exists(id=profile.id)
