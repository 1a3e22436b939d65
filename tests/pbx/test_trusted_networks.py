"""Trusted networks: CIDR validated and normalised, unique within a domain."""

from __future__ import annotations

import pytest

from tests.pbx.conftest import (
    CREATE_NETWORK,
    DELETE_NETWORK,
    UPDATE_NETWORK,
    Pbx,
    PbxFactory,
    errors_of,
    payload_of,
)


async def test_networks_are_normalised(acme: Pbx) -> None:
    assert (await acme.network("10.0.20.10/24", "office"))["network"] == "10.0.20.0/24"
    assert (await acme.network("192.0.2.7"))["network"] == "192.0.2.7/32"
    assert (await acme.network("2001:DB8:0:0::1/48"))["network"] == "2001:db8::/48"
    data = await acme.client.data(
        "query($id: ID!) { sipDomain(id: $id) { trustedNetworks { network description } } }",
        {"id": acme.domain_id},
    )
    assert data["sipDomain"]["trustedNetworks"] == [
        {"network": "10.0.20.0/24", "description": "office"},
        {"network": "192.0.2.7/32", "description": None},
        {"network": "2001:db8::/48", "description": None},
    ]


async def test_malformed_networks_are_invalid(acme: Pbx) -> None:
    for bad in ("10.0.20.0/33", "10.0.300.0/24", "office", "2001:db8::/129", "10.0.0.0/8/8"):
        payload = await payload_of(
            acme.client, CREATE_NETWORK, {"domainId": acme.domain_id, "input": {"network": bad}}
        )
        assert errors_of(payload) == [(["input", "network"], "INVALID")], bad
    missing = await payload_of(
        acme.client, CREATE_NETWORK, {"domainId": acme.domain_id, "input": {"description": "x"}}
    )
    assert errors_of(missing) == [(["input", "network"], "REQUIRED")]


async def test_duplicate_network_in_a_domain_is_refused(acme: Pbx, pbx_factory: PbxFactory) -> None:
    await acme.network("10.0.20.0/24")
    payload = await payload_of(
        acme.client,
        CREATE_NETWORK,
        {"domainId": acme.domain_id, "input": {"network": "10.0.20.99/24"}},
    )
    assert errors_of(payload) == [(["input", "network"], "DUPLICATE")]
    other = await pbx_factory("Globex")
    assert (await other.network("10.0.20.0/24"))["network"] == "10.0.20.0/24"


async def test_network_update_is_partial_and_delete_removes_it(acme: Pbx) -> None:
    office = await acme.network("10.0.20.0/24", "office")
    await acme.network("10.0.30.0/24")
    moved = await acme.client.mutate(
        UPDATE_NETWORK, {"id": office["id"], "input": {"network": "10.0.21.1/24"}}
    )
    assert moved["trustedNetwork"] == {
        "id": office["id"],
        "network": "10.0.21.0/24",
        "description": "office",
    }
    cleared = await acme.client.mutate(
        UPDATE_NETWORK, {"id": office["id"], "input": {"description": None}}
    )
    assert cleared["trustedNetwork"]["description"] is None
    for change, expected in (
        ({"network": None}, [(["input", "network"], "REQUIRED")]),
        ({"network": "10.0.30.5/24"}, [(["input", "network"], "DUPLICATE")]),
        ({"network": "nope"}, [(["input", "network"], "INVALID")]),
    ):
        payload = await payload_of(acme.client, UPDATE_NETWORK, {"id": office["id"], "input": change})
        assert errors_of(payload) == expected
    deleted = await acme.client.mutate(DELETE_NETWORK, {"id": office["id"]})
    assert deleted["deletedId"] == office["id"]
    data = await acme.client.data(
        "query($id: ID!) { sipDomain(id: $id) { trustedNetworks { network } } }",
        {"id": acme.domain_id},
    )
    assert data["sipDomain"]["trustedNetworks"] == [{"network": "10.0.30.0/24"}]


async def test_plain_nested_lists_are_capped_in_the_database(
    acme: Pbx, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nested list without paging arguments still reads a bounded number of rows: the
    first LIST_CAP items (here lowered to 2), oldest first."""
    from app.core import loaders

    for cidr in ("10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"):
        await acme.network(cidr)
    monkeypatch.setattr(loaders, "LIST_CAP", 2)
    data = await acme.client.data(
        "query($id: ID!) { sipDomain(id: $id) { trustedNetworks { network } } }",
        {"id": acme.domain_id},
    )
    assert data["sipDomain"]["trustedNetworks"] == [
        {"network": "10.0.1.0/24"},
        {"network": "10.0.2.0/24"},
    ]
