"""What the audit log records of each mutation: outcome, actor, company, targets, and
arguments with every secret masked."""

from __future__ import annotations

import base64
import json

from app.core.audit import MASK
from app.schema import Mutation, schema
from tests.audit.conftest import events, nodes
from tests.conftest import GraphQLClient, create_token
from tests.deploy.conftest import pk_of
from tests.pbx.conftest import CREATE_USER, Pbx, payload_of, user_input

CREATE_COMPANY = """
mutation($name: String!) { companyCreate(input: {name: $name}) {
  company { id } userErrors { field code message } } }
"""
CREATE_TOKEN = """
mutation($input: ApiTokenInput!) { apiTokenCreate(input: $input) {
  token apiToken { id } userErrors { field code message } } }
"""
DELETE_USER = """
mutation($id: ID!) { sipUserDelete(id: $id) { deletedId userErrors { field code message } } }
"""
HOTDESK_LOGIN = """
mutation($mac: MacAddress!, $ext: String!, $pin: String) {
  hotdeskLogin(mac: $mac, extensionNumber: $ext, pin: $pin) {
    session { id } userErrors { field code message } } }
"""


async def test_a_created_user_is_recorded_ok_with_its_password_and_pin_masked(
    acme: Pbx, admin: GraphQLClient
) -> None:
    secret_input = user_input("alice", "201", pin="8642", password="Very-Secret-Pw1")
    payload = await acme.client.mutate(
        CREATE_USER, {"domainId": acme.domain_id, "input": secret_input}
    )

    [event] = await nodes(admin, operation="sipUserCreate")
    assert event["outcome"] == "OK" and event["errorCodes"] == []
    assert event["actorRole"] == "COMPANY_ADMIN"
    assert event["actorToken"]["name"] == "Acme"
    assert event["actorPhone"] is None
    assert event["company"]["id"] == acme.company_id
    assert event["targetIds"] == [acme.domain_id]
    arguments = json.loads(event["arguments"])
    assert arguments["domainId"] == acme.domain_id
    assert arguments["input"]["password"] == MASK
    assert arguments["input"]["pin"] == MASK
    assert arguments["input"]["username"] == "alice"
    assert "Very-Secret-Pw1" not in event["arguments"] and "8642" not in event["arguments"]
    assert payload["sipUser"]["username"] == "alice"


async def test_user_errors_are_recorded_with_their_codes(acme: Pbx, admin: GraphQLClient) -> None:
    await acme.user("alice", "201")
    again = await payload_of(
        acme.client,
        CREATE_USER,
        {"domainId": acme.domain_id, "input": user_input("alice", "202")},
    )
    assert again["userErrors"]

    [event] = await nodes(admin, operation="sipUserCreate", outcome="USER_ERROR")
    assert event["errorCodes"] == [e["code"] for e in again["userErrors"]]
    assert json.loads(event["arguments"])["input"]["password"] == MASK


async def test_a_refusal_is_recorded_forbidden_with_the_callers_company(
    acme: Pbx, admin: GraphQLClient
) -> None:
    body = await acme.client.execute(CREATE_COMPANY, {"name": "Not allowed"})
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    [event] = await nodes(admin, operation="companyCreate", outcome="FORBIDDEN")
    assert event["actorRole"] == "COMPANY_ADMIN"
    assert event["company"]["id"] == acme.company_id
    assert json.loads(event["arguments"]) == {"input": {"name": "Not allowed"}}
    # Nothing of it was kept.
    companies = await admin.data("{ companies(first: 50) { nodes { name } } }")
    assert "Not allowed" not in [c["name"] for c in companies["companies"]["nodes"]]


async def test_a_system_admins_call_belongs_to_the_company_of_what_it_names(
    acme: Pbx, admin: GraphQLClient
) -> None:
    created = await admin.mutate(CREATE_COMPANY, {"name": "Globex"})
    await admin.mutate(CREATE_USER, {"domainId": acme.domain_id, "input": user_input("bob", "203")})

    [made] = await nodes(admin, operation="companyCreate", companyId=created["company"]["id"])
    assert made["outcome"] == "OK" and made["actorRole"] == "SYSTEM_ADMIN"
    [user] = await nodes(admin, operation="sipUserCreate")
    assert user["actorRole"] == "SYSTEM_ADMIN"
    assert user["company"]["id"] == acme.company_id


async def test_a_new_token_is_recorded_without_its_secret(acme: Pbx, admin: GraphQLClient) -> None:
    payload = await acme.client.mutate(
        CREATE_TOKEN,
        {"input": {"name": "robot", "role": "COMPANY_ADMIN", "companyId": acme.company_id}},
    )

    event = (await nodes(admin, operation="apiTokenCreate", companyId=acme.company_id))[0]
    assert event["outcome"] == "OK"
    assert payload["token"] not in event["arguments"]
    assert event["targetIds"] == [acme.company_id]
    page = await events(admin, first=500)
    assert all(payload["token"] not in e["arguments"] for e in page["nodes"])


async def test_a_hotdesk_login_is_recorded_with_its_pin_masked(
    acme: Pbx, admin: GraphQLClient
) -> None:
    data = await acme.client.data(
        HOTDESK_LOGIN, {"mac": "00:1E:BE:00:00:99", "ext": "201", "pin": "97531"}
    )
    assert data["hotdeskLogin"]["userErrors"][0]["code"] == "NOT_FOUND"

    [event] = await nodes(admin, operation="hotdeskLogin")
    assert event["outcome"] == "USER_ERROR" and event["errorCodes"] == ["NOT_FOUND"]
    arguments = json.loads(event["arguments"])
    assert arguments == {"mac": "001EBE000099", "extensionNumber": "201", "pin": MASK}
    assert event["targetIds"] == ["001EBE000099"]
    assert "97531" not in event["arguments"]


async def test_ids_in_lists_are_targets(acme: Pbx, admin: GraphQLClient) -> None:
    alice = await acme.user("alice", "201")
    bob = await acme.user("bob", "202")
    group = await acme.group("sales", "300")
    await acme.add_members(group["id"], alice["id"], bob["id"])

    [event] = await nodes(admin, operation="sipGroupMembersAdd")
    assert event["targetIds"] == [group["id"], alice["id"], bob["id"]]
    [by_member] = await nodes(admin, operation="sipGroupMembersAdd", targetId=bob["id"])
    assert by_member["id"] == event["id"]


async def test_calls_without_a_token_are_not_recorded(
    acme: Pbx, admin: GraphQLClient, anonymous: GraphQLClient
) -> None:
    before = (await events(admin))["totalCount"]
    body = await anonymous.execute(CREATE_COMPANY, {"name": "Nobody's"})
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await events(admin))["totalCount"] == before


def test_every_mutation_goes_through_the_recording_decorator() -> None:
    definition = Mutation.__strawberry_definition__  # type: ignore[attr-defined]
    by_name = {}
    for field in definition.fields:
        resolver = field.base_resolver.wrapped_func
        name = schema.config.name_converter.get_graphql_name(field)
        by_name[name] = getattr(resolver, "__audited__", False)
    live = set(schema._schema.mutation_type.fields)  # type: ignore[union-attr]
    assert set(by_name) == live
    assert [name for name, audited in by_name.items() if not audited] == []


def test_no_mutation_writes_edits_or_deletes_audit_events() -> None:
    mutation_type = schema._schema.mutation_type
    assert mutation_type is not None
    for name, field in mutation_type.fields.items():
        assert "audit" not in name.lower(), name
        for arg in field.args.values():
            assert "Audit" not in str(arg.type), (name, arg.type)


async def test_a_user_token_may_not_read_the_audit_log(
    acme: Pbx, admin: GraphQLClient, user_client
) -> None:
    alice = await acme.user("alice", "201")
    client = await user_client(alice["id"])
    body = await client.execute("{ auditEvents { totalCount } }")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_second_company_admin_token_is_recorded_under_its_company(
    acme: Pbx, admin: GraphQLClient, live_server
) -> None:
    token = await create_token(admin, "COMPANY_ADMIN", company_id=acme.company_id, name="second")
    second = live_server.client(token)
    await second.mutate(
        CREATE_USER, {"domainId": acme.domain_id, "input": user_input("carol", "204")}
    )
    [event] = await nodes(acme.client, operation="sipUserCreate")
    assert event["actorToken"]["name"] == "second"


ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x660 + n) for n in range(10)))


def _raw_id(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


async def test_an_id_with_other_digits_than_ascii_is_not_found(
    acme: Pbx, admin: GraphQLClient
) -> None:
    """Only ASCII digits make an id: one with a superscript digit (which int() refuses)
    or an Arabic-Indic one (which int() reads) names nothing, is a NOT_FOUND userError,
    and is recorded as such, not an internal error nor a second spelling of an id."""
    user = await acme.user("alice", "201")
    pk = pk_of(user["id"])
    for odd in (_raw_id("SipUser:²"), _raw_id(f"SipUser:{pk}".translate(ARABIC_INDIC))):
        for client in (admin, acme.client):
            payload = await payload_of(client, DELETE_USER, {"id": odd})
            assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"], odd
    assert len(await nodes(admin, operation="sipUserDelete", outcome="USER_ERROR")) == 4
    assert await nodes(admin, operation="sipUserDelete", outcome="OK") == []


async def test_a_mac_target_is_found_in_every_form_a_mac_is_written(
    acme: Pbx, admin: GraphQLClient
) -> None:
    """The API shows a phone's MAC as AA:BB:CC:DD:EE:01; filtering by it (or by any
    other form a MacAddress accepts) finds the events that name the phone."""
    await acme.client.data(HOTDESK_LOGIN, {"mac": "001ebe000099", "ext": "201", "pin": "1"})
    for form in ("00:1E:BE:00:00:99", "00-1e-be-00-00-99", "001E.BE00.0099", "001EBE000099"):
        found = await nodes(admin, targetId=form)
        assert [e["operation"] for e in found] == ["hotdeskLogin"], form
    assert await nodes(admin, targetId="00:1E:BE:00:00:98") == []
