"""Refused input values answer plainly: a scalar the server cannot read (a bad MAC, a
string for an Int) is a top-level error with ``extensions.code`` ``INVALID`` whose
message says what is wrong once; MACs in messages are in the colon form the schema
promises."""

from __future__ import annotations

from tests.conftest import GraphQLClient, create_company

MAC_FORMS = "give 12 hex digits, bare or separated by ':', '-' or '.' (AA:BB:CC:DD:EE:01)"


async def test_a_bad_mac_in_the_document_is_invalid_with_one_clean_message(
    admin: GraphQLClient,
) -> None:
    body = await admin.execute('{ phone(mac: "AA:BB") { name } }')
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "INVALID"}
    assert error["message"] == f'"AA:BB" is not a MAC address: {MAC_FORMS}'
    assert error["locations"] == [{"line": 1, "column": 14}]


async def test_a_mac_that_is_not_a_string_is_invalid(admin: GraphQLClient) -> None:
    body = await admin.execute("{ phone(mac: 12) { name } }")
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "INVALID"}
    assert error["message"] == f"12 is not a MAC address: {MAC_FORMS}"


async def test_a_bad_mac_in_a_variable_names_the_variable_and_the_field(
    admin: GraphQLClient,
) -> None:
    body = await admin.execute(
        "mutation M($input: PhoneInput!) { phoneCreate(input: $input) { phone { mac } } }",
        {"input": {"mac": "zz:zz"}},
    )
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "INVALID"}
    assert error["message"] == (
        f"Variable '$input' has invalid value at .mac: \"zz:zz\" is not a MAC address: {MAC_FORMS}"
    )
    assert "''" not in error["message"]


async def test_a_long_refused_value_is_not_repeated_whole(admin: GraphQLClient) -> None:
    body = await admin.execute("query Q($m: MacAddress!) { phone(mac: $m) { name } }", {"m": "x" * 5000})
    (error,) = body["errors"]
    assert error["extensions"] == {"code": "INVALID"}
    assert len(error["message"]) < 200


async def test_built_in_scalars_refusals_are_invalid_too(admin: GraphQLClient) -> None:
    literal = await admin.execute('{ companies(first: "ten") { totalCount } }')
    assert literal["errors"][0]["extensions"] == {"code": "INVALID"}
    assert literal["errors"][0]["message"] == 'Int cannot represent non-integer value: "ten"'
    variable = await admin.execute(
        "query Q($n: Int) { companies(first: $n) { totalCount } }", {"n": "ten"}
    )
    assert variable["errors"][0]["extensions"] == {"code": "INVALID"}
    assert variable["errors"][0]["message"].startswith("Variable '$n' has invalid value: Int")


async def test_other_validation_errors_keep_their_own_shape(admin: GraphQLClient) -> None:
    body = await admin.execute("{ noSuchField }")
    assert "extensions" not in body["errors"][0]
    assert "noSuchField" in body["errors"][0]["message"]


async def test_user_errors_print_macs_in_colon_form(admin: GraphQLClient) -> None:
    company_id = await create_company(admin, "Acme")
    create = """mutation($input: PhoneInput!) { phoneCreate(input: $input) {
      phone { mac } userErrors { field code message } } }"""
    first = await admin.data(create, {"input": {"mac": "aabbccddee01", "companyId": company_id}})
    assert first["phoneCreate"]["phone"] == {"mac": "AA:BB:CC:DD:EE:01"}

    again = await admin.data(create, {"input": {"mac": "aabb.ccdd.ee01", "companyId": company_id}})
    assert again["phoneCreate"]["userErrors"] == [
        {
            "field": ["input", "mac"],
            "code": "DUPLICATE",
            "message": "A phone or DECT base with MAC AA:BB:CC:DD:EE:01 exists already",
        }
    ]
