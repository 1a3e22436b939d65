"""schema.graphql is the server's schema, and the schema keeps the published contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    build_schema,
)

ROOT = Path(__file__).resolve().parents[2]


CONNECTION_TYPES = [
    "Company",
    "SipDomain",
    "SipUser",
    "SipGroup",
    "SipQueue",
    "Phone",
    "PhoneProfile",
    "DectBase",
    "DeployJob",
    # since 2
    "HotdeskSession",
    "ConfigRevision",
    "Rollout",
    "AuditEvent",
    "Webhook",
    "WebhookDelivery",
]


def _strip(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_schema_file_matches_export_schema_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "app", "export-schema"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    committed = (ROOT / "schema.graphql").read_text()
    assert _strip(out) == _strip(committed), (
        "schema.graphql is stale: run `python -m app export-schema > schema.graphql`"
    )


def _contract_items() -> list[tuple[str, str, str]]:
    """(type, member, expected type string) for everything the outline promises."""
    text = (ROOT / "docs" / "schema-outline.graphql").read_text()
    # The outline describes its connection types in a comment; spell them out.
    for x in CONNECTION_TYPES:
        text += (
            f"\ntype {x}Connection {{ edges: [{x}Edge!]!, nodes: [{x}!]!, "
            f"pageInfo: PageInfo!, totalCount: Int! }}\ntype {x}Edge {{ node: {x}!, cursor: String! }}\n"
        )
    outline = build_schema(text)
    items: list[tuple[str, str, str]] = []
    for name, t in outline.type_map.items():
        if name.startswith("__"):
            continue
        if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType)):
            for fname, f in t.fields.items():
                items.append((name, fname, str(f.type)))
                for aname, a in f.args.items():
                    items.append((name, f"{fname}({aname})", str(a.type)))
        elif isinstance(t, GraphQLInputObjectType):
            for fname, f in t.fields.items():
                items.append((name, fname, str(f.type)))
        elif isinstance(t, GraphQLEnumType):
            for value in t.values:
                items.append((name, value, "enum value"))
        else:
            items.append((name, "", "type"))
    return items


@pytest.fixture(scope="module")
def server_schema():  # type: ignore[no-untyped-def]
    from app.schema import schema

    return build_schema(schema.as_str())


def test_schema_keeps_every_name_of_the_contract(server_schema) -> None:  # type: ignore[no-untyped-def]
    missing = []
    for type_name, member, expected in _contract_items():
        t = server_schema.type_map.get(type_name)
        if t is None:
            missing.append(f"type {type_name}")
            continue
        if not member:
            continue
        if isinstance(t, GraphQLEnumType):
            if member not in t.values:
                missing.append(f"{type_name}.{member}")
            continue
        fname, _, arg = member.partition("(")
        field = t.fields.get(fname)  # type: ignore[union-attr]
        if field is None:
            missing.append(f"{type_name}.{fname}")
            continue
        if arg:
            a = field.args.get(arg.rstrip(")"))
            if a is None:
                missing.append(f"{type_name}.{member}")
            elif str(a.type) != expected:
                missing.append(f"{type_name}.{member}: {a.type} != {expected}")
        elif str(field.type) != expected:
            missing.append(f"{type_name}.{fname}: {field.type} != {expected}")
    assert not missing, "the schema breaks the contract:\n" + "\n".join(missing)


def test_every_business_object_implements_node(server_schema) -> None:  # type: ignore[no-untyped-def]
    node = server_schema.type_map["Node"]
    implementers = {t.name for t in server_schema.get_implementations(node).objects}
    for name in [
        "Company",
        "SipDomain",
        "SipUser",
        "SipGroup",
        "SipQueue",
        "Phone",
        "PhoneModel",
        "PhoneTemplate",
        "DectBase",
        "PhoneProfile",
        "DeployJob",
    ]:
        assert name in implementers, f"{name} does not implement Node"
