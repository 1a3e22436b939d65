"""Auto-provisioning lifecycle: PENDING → approve → ACTIVE, or reject → REJECTED."""

from __future__ import annotations

from app.devices.models import Phone, PhoneStatus
from tests.conftest import GraphQLClient, Tenant
from tests.devices.conftest import create_phone, phone_errors, pk_of

APPROVE = """mutation($mac: MacAddress!) { phoneApprove(mac: $mac) {
  phone { mac status } userErrors { field code } } }"""
REJECT = """mutation($mac: MacAddress!) { phoneReject(mac: $mac) {
  phone { mac status } userErrors { field code } } }"""


async def _pending(client: GraphQLClient, tenant: Tenant, mac: str) -> str:
    phone = await create_phone(client, mac=mac, companyId=tenant.company_id)
    await Phone.filter(id=pk_of(phone["id"])).update(status=PhoneStatus.PENDING)
    return phone["mac"]


async def test_approving_a_pending_phone_activates_it(admin: GraphQLClient, acme: Tenant) -> None:
    mac = await _pending(admin, acme, "AABBCCDD1001")
    payload = await admin.mutate(APPROVE, {"mac": mac})
    assert payload["phone"] == {"mac": mac, "status": "ACTIVE"}


async def test_rejecting_a_pending_phone(admin: GraphQLClient, acme: Tenant) -> None:
    mac = await _pending(admin, acme, "AABBCCDD1002")
    payload = await admin.mutate(REJECT, {"mac": mac})
    assert payload["phone"]["status"] == "REJECTED"
    data = await admin.data(
        "query { phones(filter: {status: REJECTED}) { nodes { mac } totalCount } }"
    )
    assert data["phones"]["nodes"] == [{"mac": mac}]


async def test_a_rejected_phone_can_still_be_approved(admin: GraphQLClient, acme: Tenant) -> None:
    mac = await _pending(admin, acme, "AABBCCDD1003")
    await admin.mutate(REJECT, {"mac": mac})
    payload = await admin.mutate(APPROVE, {"mac": mac})
    assert payload["phone"]["status"] == "ACTIVE"


async def test_approving_an_active_phone_changes_nothing(
    admin: GraphQLClient, acme: Tenant
) -> None:
    phone = await create_phone(admin, mac="AABBCCDD1004", companyId=acme.company_id)
    before = await Phone.get(id=pk_of(phone["id"]))
    payload = await admin.mutate(APPROVE, {"mac": phone["mac"]})
    assert payload["phone"]["status"] == "ACTIVE"
    after = await Phone.get(id=pk_of(phone["id"]))
    assert after.updated_at == before.updated_at


async def test_an_active_phone_can_be_rejected(admin: GraphQLClient, acme: Tenant) -> None:
    phone = await create_phone(admin, mac="AABBCCDD1005", companyId=acme.company_id)
    payload = await admin.mutate(REJECT, {"mac": phone["mac"]})
    assert payload["phone"]["status"] == "REJECTED"


async def test_approving_an_unknown_phone_is_not_found(admin: GraphQLClient) -> None:
    assert await phone_errors(admin, APPROVE, {"mac": "AABBCCDD10FF"}) == [
        {"field": ["mac"], "code": "NOT_FOUND"}
    ]
    assert await phone_errors(admin, REJECT, {"mac": "AABBCCDD10FF"}) == [
        {"field": ["mac"], "code": "NOT_FOUND"}
    ]
