"""Tenant scoping, proved by walking the live schema.

Two companies, Alpha (A) and Bravo (B), each get one of everything through the public
GraphQL API. Then, as the system admin, as A's company admin and as a USER of A (a
hot-desking SIP user), a walker reads the schema by introspection and queries every root
field it can call, following every object field and connection to a bounded depth, and
records every object it reaches. The checks:

* A's tokens reach nothing of B: no id of B's objects, no string only B's objects carry,
  no custom template made for B.
* A's USER reaches nothing of another user: no other user's lines (a line shown with
  ``sipUser: null`` is one), profiles or SIP user; no ``ipAddress``/``webUsername`` of a
  phone without one of its lines; nothing of the types USER tokens may not read.
* The system admin's walk reaches every object of both companies, so the walker does walk
  (and each role's walk reaches what that role may see).

The walker knows nothing of this schema: from ``__schema`` it builds, for each root field,
a selection of every leaf field and every object field and connection (``first: 50``),
five object levels deep, never following one (type, field) edge twice on a path; inline
fragments cover abstract types; a field with a required argument gets a value reached
before, or is left out. The selections are cut into queries within the server's token,
alias and depth limits. Round 0 calls the root fields without required arguments; later
rounds call ``node``/``nodes``, ``phone(mac:)``, ``sipUser(id:)``... with the ids and
keys reached so far, and with every id and MAC of both companies (ids are guessable).

It found, and now guards against: other users' lines on a USER's phones (shown with
``sipUser: null``), the address and web login of a hot-desk phone reached through a
USER's own deploy job, and company admins reading other tenants' custom templates.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from graphql import Source, TokenKind, get_introspection_query
from graphql.language import Lexer

from app.core.ids import parse_global_id
from app.settings import Settings, use_settings
from tests.conftest import (
    CREATE_TOKEN,
    GraphQLClient,
    LiveServer,
    create_company,
    free_port,
)

# ---------------------------------------------------------------- seeding


@pytest.fixture
async def settings(settings: Settings) -> AsyncIterator[Settings]:
    """Phones give up at once: the seeded jobs end (FAILED) within a second or two."""
    # The walk asks for every connection at first: 50, five levels deep: far past the
    # default node budget, which is not what this test is about.
    s = dataclasses.replace(settings, phone_timeout=1.0, max_query_nodes=10**12)
    use_settings(s)
    yield s
    use_settings(settings)


ERRORS = "userErrors { field code message }"


def _mutation(name: str, params: str, returns: str) -> str:
    """``mutation($a: A, $b: B) { name(a: $a, b: $b) { returns userErrors } }``."""
    names = [p.split(":")[0].strip() for p in params.split(",")]
    args = ", ".join(f"{n[1:]}: {n}" for n in names)
    return f"mutation({params}) {{ {name}({args}) {{ {returns} {ERRORS} }} }}"


IN_DOMAIN = "$domainId: ID!, $input: "
DOMAIN_CREATE = _mutation("sipDomainCreate", "$input: SipDomainInput!", "sipDomain { id }")
USER_CREATE = _mutation("sipUserCreate", IN_DOMAIN + "SipUserInput!", "sipUser { id }")
GROUP_CREATE = _mutation("sipGroupCreate", IN_DOMAIN + "SipGroupInput!", "sipGroup { id }")
MEMBERS_ADD = _mutation("sipGroupMembersAdd", "$groupId: ID!, $userIds: [ID!]!", "sipGroup { id }")
QUEUE_CREATE = _mutation("sipQueueCreate", IN_DOMAIN + "SipQueueInput!", "sipQueue { id }")
QUEUE_MEMBER_CREATE = _mutation(
    "sipQueueMemberCreate", "$queueId: ID!, $input: SipQueueMemberInput!", "sipQueue { members { id } }"
)
NETWORK_CREATE = _mutation(
    "trustedNetworkCreate", IN_DOMAIN + "TrustedNetworkInput!", "trustedNetwork { id }"
)
TEMPLATE_CREATE = _mutation(
    "phoneTemplateCreate", "$input: PhoneTemplateInput!", "phoneTemplate { id filename }"
)
PHONE_CREATE = _mutation("phoneCreate", "$input: PhoneInput!", "phone { id mac }")
LINE_ASSIGN = _mutation(
    "phoneLineAssign", "$mac: MacAddress!, $port: Int!, $sipUserId: ID", "phone { id }"
)
DECT_CREATE = _mutation("dectBaseCreate", "$input: DectBaseInput!", "dectBase { id mac }")
DECT_MEMBERS_SET = _mutation(
    "dectBaseMembersSet", "$id: ID!, $members: [DectMemberInput!]!", "dectBase { id }"
)
PROFILE_CREATE = _mutation("phoneProfileCreate", "$input: PhoneProfileInput!", "phoneProfile { id }")
REBOOT = _mutation("phoneReboot", "$mac: MacAddress!", "job { id }")
PROFILE_DEPLOY = _mutation("phoneProfileDeploy", "$profileId: ID!, $mac: MacAddress!", "job { id }")
MODELS = "query($v: String) { phoneModels(filter: {vendor: $v}) { id name } }"
JOB_STATUSES = "{ deployJobs(first: 50) { nodes { id status } } }"


@dataclass
class Tenant:
    """One seeded company: the ids of all its objects and what to recognise them by."""

    tag: str  # "alpha" / "bravo": in every name of the company's objects
    n: int
    admin: GraphQLClient  # COMPANY_ADMIN
    ids: dict[str, str] = field(default_factory=dict)  # label -> global id
    macs: dict[str, str] = field(default_factory=dict)  # label -> MAC (colon form)
    lines: dict[tuple[str, int], str] = field(default_factory=dict)  # (phone id, port) -> user id
    template_filename: str = ""
    user_token: str = ""  # USER token of user1 (the hot-desking one)

    @property
    def mac_prefix(self) -> str:
        return f"{self.n}F{self.n}F{self.n}F"

    @property
    def markers(self) -> list[str]:
        """Substrings (any case) that only this company's objects' strings contain."""
        p = self.mac_prefix
        return [
            self.tag,
            p,
            ":".join(p[i : i + 2] for i in range(0, 6, 2)),
            f"127.0.{self.n}.",
            f"10.{self.n}{self.n}{self.n}.",
        ]

    def label_of(self, global_id: str) -> str | None:
        return next((k for k, v in self.ids.items() if v == global_id), None)

    def id_set(self) -> set[str]:
        return set(self.ids.values())


@dataclass
class World:
    a: Tenant
    b: Tenant

    def owner(self, global_id: str | None) -> str:
        for t in (self.a, self.b):
            if global_id and (label := t.label_of(global_id)):
                return f"{t.tag}:{label}"
        return "-"


async def _token(admin: GraphQLClient, role: str, name: str, **more: str) -> tuple[str, str]:
    payload = await admin.mutate(CREATE_TOKEN, {"input": {"name": name, "role": role, **more}})
    return payload["token"], payload["apiToken"]["id"]


async def _model(admin: GraphQLClient, vendor: str, name: str) -> str:
    data = await admin.data(MODELS, {"v": vendor})
    return next(m["id"] for m in data["phoneModels"] if m["name"] == name)


async def _made(client: GraphQLClient, mutation: str, path: str, **variables: Any) -> Any:
    """What the mutation's payload holds at ``path`` ("sipUser.id", "sipQueue.members")."""
    value = await client.mutate(mutation, variables)
    for key in path.split("."):
        value = value[key]
    return value


async def seed_tenant(admin: GraphQLClient, server: LiveServer, tag: str, n: int) -> Tenant:
    """A company with one of everything, made through the API only."""
    title = tag.title()
    company_id = await create_company(admin, f"{title} Walk Co")
    token, token_id = await _token(admin, "COMPANY_ADMIN", f"{tag}-admin", companyId=company_id)
    t = Tenant(tag, n, server.client(token))
    ca, ids = t.admin, t.ids
    ids.update(company=company_id, token_admin=token_id)

    ids["domain"] = domain = await _made(
        admin, DOMAIN_CREATE, "sipDomain.id",
        input={"companyId": company_id, "name": f"{tag}.walk.example.net", "displayName": f"{title} PBX"},
    )
    for key, ext, extra in (
        ("user1", "201", {"hotdeskAllowed": True, "pin": "4321"}),
        ("user2", "202", {}),
    ):
        ids[key] = await _made(
            ca, USER_CREATE, "sipUser.id", domainId=domain,
            input={"username": f"{tag}.{key}", "password": f"pw-{tag}-{key}", "extensionNumber": ext,
                   "displayName": f"{title} {key}", "email": f"{key}@{tag}.example", **extra},
        )
    user1, user2 = ids["user1"], ids["user2"]
    ids["group"] = await _made(
        ca, GROUP_CREATE, "sipGroup.id", domainId=domain,
        input={"groupName": f"{tag}-sales", "displayName": f"{title} Sales", "extensionNumber": "300"},
    )
    await ca.mutate(MEMBERS_ADD, {"groupId": ids["group"], "userIds": [user1, user2]})
    ids["queue"] = await _made(
        ca, QUEUE_CREATE, "sipQueue.id", domainId=domain,
        input={"queueName": f"{tag}-support", "displayName": f"{title} Support", "extensionNumber": "400"},
    )
    members = await _made(
        ca, QUEUE_MEMBER_CREATE, "sipQueue.members", queueId=ids["queue"], input={"groupId": ids["group"]}
    )
    ids["queue_member"] = members[0]["id"]
    ids["network"] = await _made(
        ca, NETWORK_CREATE, "trustedNetwork.id", domainId=domain,
        input={"network": f"10.{n}{n}{n}.0.0/16", "description": f"{title} office"},
    )
    t.template_filename = f"{tag}-walk.xml"
    ids["template"] = await _made(
        admin, TEMPLATE_CREATE, "phoneTemplate.id",
        input={"filename": t.template_filename, "companyId": company_id,
               "content": f"<!-- {tag} custom template -->\n<device>{{{{ phone.name }}}}</device>\n"},
    )

    # Three two-line phones on loopback addresses with closed ports (jobs fail at once):
    # phone1 has a line of each user, phone2 only user2's, and phone3, the hot-desk
    # phone, only user2's too.
    model = await _model(admin, "Cisco", "7821")
    for k, lines, more in (
        (1, (user1, user2), {}),
        (2, (user2, user2), {}),
        (3, (user2, user2), {"canHotdesk": True}),
    ):
        phone = await _made(
            ca, PHONE_CREATE, "phone",
            input={"mac": f"{t.mac_prefix}0000{k:02X}", "name": f"{title} desk {k}", "modelId": model,
                   "templateFilename": t.template_filename, "ipAddress": f"127.0.{n}.{k}",
                   "httpPort": free_port(), "sipPort": free_port(), "webUsername": f"{tag}-web-{k}",
                   "webPassword": f"{tag}-secret-{k}", "timezone": "Europe/London", **more},
        )
        ids[f"phone{k}"], t.macs[f"phone{k}"] = phone["id"], phone["mac"]
        for port, user in enumerate(lines, start=1):
            await ca.mutate(LINE_ASSIGN, {"mac": phone["mac"], "port": port, "sipUserId": user})
            t.lines[(phone["id"], port)] = user

    dect = await _made(
        ca, DECT_CREATE, "dectBase",
        input={"name": f"{title} DECT", "mac": f"{t.mac_prefix}0000D1", "timezone": "UTC", "tone": "UK",
               "interface": "WEB_DOMAIN", "modelId": await _model(admin, "Yealink", "W60B")},
    )
    ids["dect"], t.macs["dect"] = dect["id"], dect["mac"]
    member = {"extensionNumber": "201", "handsetIndex": 1, "ipui": f"{n}{n}{n}{n}{n}00001"}
    await ca.mutate(DECT_MEMBERS_SET, {"id": ids["dect"], "members": [member]})
    for key in ("user1", "user2"):
        ids[f"profile_{key}"] = await _made(
            ca, PROFILE_CREATE, "phoneProfile.id",
            input={"ownerId": ids[key], "name": f"{title} {key} profile",
                   "cnfXml": f"<device><note>{tag} {key}</note></device>"},
        )

    # Jobs: reboots of phone1 (user1 has a line) and phone2 (user1 has none), and the
    # hot-desking user1 switching their profile onto phone3, where they have no line.
    t.user_token, ids["token_user1"] = await _token(admin, "USER", f"{tag}-user1", sipUserId=user1)
    for k in (1, 2):
        ids[f"job_reboot{k}"] = await _made(admin, REBOOT, "job.id", mac=t.macs[f"phone{k}"])
    ids["job_hotdesk"] = await _made(
        server.client(t.user_token), PROFILE_DEPLOY, "job.id",
        profileId=ids["profile_user1"], mac=t.macs["phone3"],
    )
    return t


async def seed(admin: GraphQLClient, server: LiveServer) -> World:
    world = World(
        await seed_tenant(admin, server, "alpha", 1), await seed_tenant(admin, server, "bravo", 2)
    )
    # Let the jobs fail (closed ports), so every walk sees them ended.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while loop.time() < deadline:
        jobs = (await admin.data(JOB_STATUSES))["deployJobs"]["nodes"]
        if all(j["status"] not in ("QUEUED", "RUNNING") for j in jobs):
            break
        await asyncio.sleep(0.1)
    return world


# ---------------------------------------------------------------- the walker

MAX_HOPS = 5  # object levels followed from a root field (the root field is the first)
# Root fields taking one object's key (node(id:), phone(mac:)...) are called once per
# value: they are followed less far (what lies beyond, the lists reach as well).
BY_VALUE_HOPS = 2
PAGE = 50  # first: on every connection
NODES_BATCH = 100  # the server's limit of nodes(ids:)


def _named(ref: dict[str, Any]) -> str:
    while ref.get("ofType"):
        ref = ref["ofType"]
    return ref["name"]


def _is_list(ref: dict[str, Any]) -> bool:
    while ref:
        if ref["kind"] == "LIST":
            return True
        ref = ref.get("ofType") or {}
    return False


def _required(arg: dict[str, Any]) -> bool:
    return arg["type"]["kind"] == "NON_NULL" and arg["defaultValue"] is None


def count_tokens(text: str) -> int:
    lexer = Lexer(Source(text))
    n = 0
    while lexer.advance().kind != TokenKind.EOF:
        n += 1
    return n


class Schema:
    """The parts of an introspection result the walker needs."""

    def __init__(self, introspection: dict[str, Any]) -> None:
        schema = introspection["__schema"]
        self.query = schema["queryType"]["name"]
        self.types = {t["name"]: t for t in schema["types"]}

    def kind(self, name: str) -> str:
        return self.types[name]["kind"]

    def fields(self, name: str) -> list[dict[str, Any]]:
        return self.types[name].get("fields") or []

    def field(self, type_name: str, name: str) -> dict[str, Any]:
        return next(f for f in self.fields(type_name) if f["name"] == name)

    def is_leaf(self, name: str) -> bool:
        return self.kind(name) in ("SCALAR", "ENUM")

    def is_abstract(self, name: str) -> bool:
        return self.kind(name) in ("INTERFACE", "UNION")

    def possible(self, name: str) -> list[str]:
        if not self.is_abstract(name):
            return [name]
        return sorted(p["name"] for p in self.types[name]["possibleTypes"])

    def has_id(self, name: str) -> bool:
        return any(f["name"] == "id" for f in self.fields(name))

    def is_connection(self, name: str) -> bool:
        names = {f["name"] for f in self.fields(name)}
        return self.kind(name) == "OBJECT" and name.endswith("Connection") and {"nodes", "edges"} <= names

    def is_flat(self, name: str) -> bool:
        """An object type with leaf fields only (PageInfo, PhoneModel): free to follow."""
        return self.kind(name) == "OBJECT" and all(
            self.is_leaf(_named(f["type"])) for f in self.fields(name)
        )


@dataclass
class Sel:
    """A selection set on ``type``: leaf fields, object fields and inline fragments."""

    type: str
    leaves: list[str]
    fields: list[Sub] = field(default_factory=list)
    fragments: list[Sel] = field(default_factory=list)

    def size(self) -> int:
        """Its tokens, as the server's parser counts them."""
        return (
            len(self.leaves)
            + sum(s.size() for s in self.fields)
            + sum(5 + f.size() for f in self.fragments)  # ... on T { }
        )

    def render(self) -> str:
        parts = list(self.leaves) + [s.render() for s in self.fields]
        parts += [f"... on {f.type} {{ {f.render()} }}" for f in self.fragments]
        return " ".join(parts)


@dataclass
class Sub:
    """An object field with its selection."""

    name: str
    sel: Sel
    args: str = ""
    alias: str | None = None
    _arg_tokens: int | None = None

    def overhead(self) -> int:
        if self._arg_tokens is None:
            self._arg_tokens = count_tokens(self.args) if self.args else 0
        return 1 + (2 if self.alias else 0) + self._arg_tokens + 2

    def size(self) -> int:
        return self.overhead() + self.sel.size()

    def render(self) -> str:
        alias = f"{self.alias}: " if self.alias else ""
        return f"{alias}{self.name}{self.args} {{ {self.sel.render()} }}"

    def with_sel(self, sel: Sel) -> Sub:
        return Sub(self.name, sel, self.args, self.alias, self._arg_tokens)


class Builder:
    """Selections to a bounded depth: every leaf field, every object field and connection
    (``first: 50``), inline fragments on abstract types. A field with a required argument
    gets a value reached so far (``DectBase.member(extensionNumber:)``) or is skipped; an
    edge (type, field) is not followed twice on one path."""

    def __init__(
        self, schema: Schema, max_depth: int, values: dict[tuple[str, str], set[str]]
    ) -> None:
        self.schema = schema
        self.max_depth = max_depth
        self.values = values

    def arguments(self, f: dict[str, Any]) -> str | None:
        """What to call ``f`` with (``None``: a required argument without a known value)."""
        parts = []
        target = _named(f["type"])
        for a in f["args"]:
            if a["name"] == "first" and not _required(a):
                parts.append(f"first: {PAGE}")
            elif _required(a):
                arg_type = _named(a["type"])
                if _is_list(a["type"]) or not self.schema.is_leaf(arg_type):
                    return None
                key = "id" if arg_type == "ID" else a["name"]
                known = sorted(
                    v for k in self.schema.possible(target) for v in self.values.get((k, key), ())
                )
                if not known:
                    return None
                parts.append(f"{a['name']}: {json.dumps(known[0])}")
        return f"({', '.join(parts)})" if parts else ""

    def _leaves(self, type_name: str) -> list[str]:
        return ["__typename"] + [
            f["name"]
            for f in self.schema.fields(type_name)
            if self.schema.is_leaf(_named(f["type"])) and not any(map(_required, f["args"]))
        ]

    def selection(
        self,
        type_name: str,
        hops: int,
        depth: int,
        guard: frozenset[tuple[str, str]] = frozenset(),
        only: str | None = None,
    ) -> Sel:
        """``depth``: how deep the selection's own fields sit in the document."""
        s = self.schema
        if s.is_abstract(type_name):
            kinds = [only] if only else s.possible(type_name)
            return Sel(
                type_name,
                ["__typename"],
                fragments=[self.selection(k, hops, depth, guard) for k in kinds],
            )
        if s.is_connection(type_name):
            return self._connection(type_name, hops, depth, guard)
        sel = Sel(type_name, self._leaves(type_name))
        for f in s.fields(type_name):
            target = _named(f["type"])
            edge = (type_name, f["name"])
            args = self.arguments(f)
            if s.is_leaf(target) or edge in guard or args is None:
                continue
            cost = 0 if s.is_flat(target) else 1
            # Connections put their nodes one level further down.
            deepest = depth + 1 + (1 if s.is_connection(target) else 0)
            if hops < cost or deepest > self.max_depth:
                continue
            child = self.selection(target, hops - cost, depth + 1, guard | {edge})
            sel.fields.append(Sub(f["name"], child, args))
        return sel

    def _connection(
        self, type_name: str, hops: int, depth: int, guard: frozenset[tuple[str, str]]
    ) -> Sel:
        s = self.schema
        sel = Sel(type_name, self._leaves(type_name))
        for f in s.fields(type_name):
            target = _named(f["type"])
            if s.is_leaf(target):
                continue
            if f["name"] == "edges":
                # Edges repeat the nodes: their cursors and the nodes' ids are enough.
                node = _named(s.field(target, "node")["type"])
                if depth + 2 <= self.max_depth:
                    node_sel = Sel(node, ["__typename", "id"] if s.has_id(node) else ["__typename"])
                    edge_sel = Sel(target, self._leaves(target), [Sub("node", node_sel)])
                    sel.fields.append(Sub("edges", edge_sel))
            else:
                sel.fields.append(Sub(f["name"], self.selection(target, hops, depth + 1, guard)))
        return sel


def split(sel: Sel, budget: int, schema: Schema) -> list[Sel]:
    """``sel`` cut into selections of at most ``budget`` tokens that together select the
    same. Every piece keeps the object's ``__typename`` and ``id`` (or, for objects
    without an id, all its leaves) so that what a piece reaches can be told apart."""
    if sel.size() <= budget:
        return [sel]
    keep = (
        ["__typename", "id"]
        if schema.has_id(sel.type) and "id" in sel.leaves
        else list(sel.leaves)
    )
    keep_size = len(keep)
    pieces: list[Sub | Sel] = []
    for sub in sel.fields:
        inner = budget - keep_size - sub.overhead()
        if inner < 10:
            raise AssertionError(f"cannot split {sel.type}.{sub.name} under {budget} tokens")
        pieces += [sub.with_sel(part) for part in split(sub.sel, inner, schema)]
    for frag in sel.fragments:
        pieces += split(frag, budget - keep_size - 5, schema)
    bins = [Sel(sel.type, list(sel.leaves))]
    for piece in sorted(pieces, key=lambda p: -p.size()):
        extra = piece.size() + (5 if isinstance(piece, Sel) else 0)
        for b in bins:
            # Fragments on different types may select conflicting fields: one type a piece.
            clash = isinstance(piece, Sel) and any(f.type != piece.type for f in b.fragments)
            if not clash and b.size() + extra <= budget:
                break
        else:
            b = Sel(sel.type, list(keep))
            bins.append(b)
        if isinstance(piece, Sel):
            b.fragments.append(piece)
        else:
            b.fields.append(piece)
    return bins


@dataclass
class Reached:
    """One object of a response."""

    type: str
    id: str | None
    path: tuple[tuple[str, str], ...]  # (type, field) steps from the root
    parents: tuple[tuple[str, str | None], ...]  # (type, id) of the enclosing objects
    data: dict[str, Any]
    round: int

    @property
    def route(self) -> str:
        """The path without the connection/edge hops: ``Query.deployJobs > DeployJob.phone``."""
        steps = [f"{t}.{f}" for t, f in self.path if not t.endswith(("Connection", "Edge"))]
        return " > ".join(steps)

    @property
    def edge(self) -> str:
        return self.route.rsplit(" > ", 1)[-1]

    def leaves(self) -> Iterator[tuple[str, str]]:
        for key, value in self.data.items():
            values = value if isinstance(value, list) else [value]
            for v in values:
                if isinstance(v, str):
                    yield key, v


@dataclass
class Walk:
    reached: list[Reached] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    queries: int = 0


@dataclass
class Probe:
    """A root field to call: its arguments, and for an abstract type the concrete type
    to select (``nodes(ids:)`` is called once per type of the ids)."""

    field: str
    args: str = ""
    only: str | None = None
    hops: int = MAX_HOPS
    keyed: bool = False  # called with several arguments: each call needs an alias


class Walker:
    """Breadth-first: first every root field without required arguments; then, round by
    round, the root fields whose required argument takes values reached so far (or
    given): ``node(id:)``, ``nodes(ids:)`` by type, ``phone(mac:)``, ``sipUser(id:)``...
    Each round's selections are cut into queries within the server's token, alias and
    depth limits, sent a few at a time."""

    def __init__(
        self,
        client: GraphQLClient,
        *,
        max_depth: int,
        max_tokens: int,
        max_aliases: int,
        given: dict[tuple[str, str], set[str]],
    ) -> None:
        self.client = client
        self.max_depth = max_depth - 1  # a level to spare
        self.budget = max_tokens - 200
        self.max_aliases = max_aliases - 2
        # Values seen, by (type, field): ids to pass to node(id:), MACs to phone(mac:)...
        self.values: dict[tuple[str, str], set[str]] = defaultdict(set)
        for key, vals in given.items():
            self.values[key] |= vals
        self.called: set[tuple[str, str, str]] = set()
        self.walk = Walk()

    async def run(self, rounds: int = 4) -> Walk:
        self.schema = Schema(await self.client.data(get_introspection_query()))
        self.builder = Builder(self.schema, self.max_depth, self.values)
        roots = self.schema.fields(self.schema.query)
        first = [
            Probe(f["name"], self.builder.arguments(f) or "")
            for f in roots
            if not any(map(_required, f["args"]))
        ]
        await self._run(first, 0)
        for n in range(1, rounds + 1):
            probes = [p for f in roots for p in self._probes(f)]
            if not probes:
                break
            await self._run(probes, n)
        return self.walk

    def _probes(self, f: dict[str, Any]) -> list[Probe]:
        """Calls of root field ``f`` with values not passed yet: ids of the type it
        returns for an ``ID`` argument, else values of the returned type's field of the
        argument's name (``phone(mac:)`` takes ``Phone.mac``)."""
        s = self.schema
        required = [a for a in f["args"] if _required(a)]
        if len(required) != 1:
            return []
        arg = required[0]
        returns = _named(f["type"])
        key = "id" if _named(arg["type"]) == "ID" else arg["name"]
        fresh: dict[str, list[str]] = defaultdict(list)
        for kind in s.possible(returns):
            for value in sorted(self.values.get((kind, key), ())):
                if (f["name"], kind, value) not in self.called:
                    self.called.add((f["name"], kind, value))
                    fresh[kind].append(value)
        probes = []
        for kind, values in sorted(fresh.items()):
            only = kind if s.is_abstract(returns) else None
            if _is_list(arg["type"]):
                for i in range(0, len(values), NODES_BATCH):
                    batch = json.dumps(values[i : i + NODES_BATCH])
                    probes.append(Probe(f["name"], f"({arg['name']}: {batch})", only, keyed=True))
            else:
                probes += [
                    Probe(f["name"], f"({arg['name']}: {json.dumps(v)})", only, BY_VALUE_HOPS, True)
                    for v in values
                ]
        return probes

    async def _run(self, probes: list[Probe], round_: int) -> None:
        root = self.schema.query
        pieces: list[Sub] = []
        for i, probe in enumerate(probes):
            returns = _named(self.schema.field(root, probe.field)["type"])
            sel = self.builder.selection(returns, probe.hops - 1, 1, only=probe.only)
            sub = Sub(probe.field, sel, probe.args, f"{probe.field}__{i}" if probe.keyed else None)
            budget = self.budget - 2 - sub.overhead()
            pieces += [sub.with_sel(part) for part in split(sel, budget, self.schema)]
        # First fit, biggest first; pieces of one call share its alias and merge.
        queries: list[list[Sub]] = []
        for piece in sorted(pieces, key=lambda p: -p.size()):
            for q in queries:
                fits = sum(p.size() for p in q) + piece.size() <= self.budget
                aliases = sum(1 for p in q if p.alias)
                if fits and (not piece.alias or aliases < self.max_aliases):
                    q.append(piece)
                    break
            else:
                queries.append([piece])
        semaphore = asyncio.Semaphore(4)

        async def send(q: list[Sub]) -> None:
            text = "{ " + " ".join(p.render() for p in q) + " }"
            async with semaphore:
                body = await self.client.execute(text)
            self.walk.queries += 1
            if body.get("data") is None and len(q) > 1:
                # A refused root field (FORBIDDEN) of a non-null type nulls the whole
                # answer, its neighbours' data too: ask each piece on its own.
                await asyncio.gather(*(send([piece]) for piece in q))
                return
            for error in body.get("errors") or []:
                self.walk.errors.append({**error, "query": text[:300]})
            for key, value in (body.get("data") or {}).items():
                self._collect(value, ((root, key.split("__")[0]),), (), round_)

        await asyncio.gather(*(send(q) for q in queries))

    def _collect(
        self,
        value: Any,
        path: tuple[tuple[str, str], ...],
        parents: tuple[tuple[str, str | None], ...],
        round_: int,
    ) -> None:
        if isinstance(value, list):
            for item in value:
                self._collect(item, path, parents, round_)
            return
        if not isinstance(value, dict):
            return
        type_name = value["__typename"]
        obj_id = value.get("id")
        self.walk.reached.append(Reached(type_name, obj_id, path, parents, value, round_))
        for key, v in value.items():
            if isinstance(v, str) or (isinstance(v, list) and v and isinstance(v[0], str)):
                self.values[(type_name, key)] |= set(v) if isinstance(v, list) else {v}
        inner = (*parents, (type_name, obj_id))
        for key, v in value.items():
            if isinstance(v, (dict, list)):
                self._collect(v, (*path, (type_name, key)), inner, round_)


# ---------------------------------------------------------------- the checks

B_OBJECT = "an object of company B"
B_STRING = "a string of company B"
B_TEMPLATE = "a custom template of company B"
OTHER_LINE = "another user's phone line"
WHEREABOUTS = "ipAddress/webUsername of a phone without the user's line"
OTHER_PROFILE = "another user's phone profile"
OUT_OF_SCOPE = "an object outside the USER's scope"
FORBIDDEN_TYPE = "a type USER tokens may not read"
COUNT = "a connection's totalCount disagrees with its nodes"

# What a USER token may not read at all (app/core/scope.py: no user rule).
USER_UNREADABLE = {
    "SipQueue", "SipQueueMember", "TrustedNetwork", "DectBase", "DectMember", "PhoneTemplate"
}
# Where a phone is and how to log in to it.
WHEREABOUTS_FIELDS = ("ipAddress", "webUsername", "lastSeenIp")
ID_KEYS = {"id", "cursor", "startCursor", "endCursor"}


@dataclass(frozen=True)
class Finding:
    check: str
    type: str
    edge: str  # the Type.field that reached it
    route: str
    detail: str


def _finding(check: str, r: Reached, detail: str) -> Finding:
    return Finding(check, r.type, r.edge, r.route, detail)


def nothing_of(other: Tenant, walk: Walk, world: World) -> list[Finding]:
    """No id, string or custom template of ``other`` in anything reached."""
    out: list[Finding] = []
    ids = other.id_set()
    markers = [m.lower() for m in other.markers]
    for r in walk.reached:
        if r.id in ids:
            out.append(_finding(B_OBJECT, r, f"{r.type} {r.id} ({world.owner(r.id)})"))
        if r.type == "PhoneTemplate" and (
            r.id == other.ids["template"] or r.data.get("filename") == other.template_filename
        ):
            out.append(_finding(B_TEMPLATE, r, f"template {r.data.get('filename', r.id)!r}"))
        for key, text in r.leaves():
            if key not in ID_KEYS and any(m in text.lower() for m in markers):
                out.append(_finding(B_STRING, r, f"{r.type}.{key} = {text[:60]!r}"))
    for error in walk.errors:
        message = str(error.get("message", ""))
        if any(m in message.lower() for m in markers):
            out.append(Finding(B_STRING, "error", "-", str(error.get("path")), message[:80]))
    return out


def counts_agree(walk: Walk) -> list[Finding]:
    """A whole list (no next page) counts what it lists: a count of hidden rows leaks."""
    out = []
    for r in walk.reached:
        d = r.data
        if "totalCount" in d and "nodes" in d and "pageInfo" in d:
            if not d["pageInfo"]["hasNextPage"] and d["totalCount"] != len(d["nodes"]):
                out.append(_finding(COUNT, r, f"totalCount {d['totalCount']}, {len(d['nodes'])} nodes"))
    return out


def user_rules(walk: Walk, world: World) -> list[Finding]:
    """What USER user1 of A may reach, by app/core/scope.py's rules. A job it sees may
    show its phone (a hot-desk phone, say), but not where that phone is or how to log
    in to it unless the user has a line on it; lines are the user's own only."""
    a = world.a
    me = a.ids["user1"]
    my_phones = {phone for (phone, _), user in a.lines.items() if user == me}
    allowed = {
        a.ids[k]
        for k in ("company", "domain", "user1", "group", "profile_user1", "token_user1",
                  "job_reboot1", "job_hotdesk")
    } | my_phones
    # Where the phones without one of the user's lines are: no text may say it either
    # (a job's error names the address it could not reach).
    hidden_ips = {
        f"127.0.{a.n}.{k}" for k in (1, 2, 3) if a.ids[f"phone{k}"] not in my_phones
    }
    out: list[Finding] = []
    for r in walk.reached:
        for key, value in r.data.items():
            if isinstance(value, str) and any(ip in value for ip in hidden_ips):
                out.append(_finding(WHEREABOUTS, r, f"{r.type}.{key} = {value!r}"))
        if r.type in USER_UNREADABLE:
            out.append(_finding(FORBIDDEN_TYPE, r, f"{r.type} {r.id or ''} ({world.owner(r.id)})"))
        elif r.type == "Phone":
            shown = {k: r.data[k] for k in WHEREABOUTS_FIELDS if r.data.get(k) is not None}
            if r.id not in my_phones and shown:
                out.append(_finding(WHEREABOUTS, r, f"phone {r.data.get('mac', r.id)} "
                                    f"({world.owner(r.id)}): {shown}"))
        elif r.type == "PhoneLine" and "sipUser" in r.data:
            user = r.data["sipUser"]
            if user is None or user.get("id") != me:
                phone = r.parents[-1][1] if r.parents else None
                holder = a.lines.get((phone or "", r.data.get("port", 0)))
                shown = "null" if user is None else world.owner(user.get("id"))
                out.append(_finding(
                    OTHER_LINE, r,
                    f"line {r.data.get('port')} of {world.owner(phone)} shown with sipUser "
                    f"{shown}; it is {world.owner(holder)}'s",
                ))
        elif r.type == "PhoneProfile" and r.id != a.ids["profile_user1"]:
            out.append(_finding(OTHER_PROFILE, r, f"profile {r.id} ({world.owner(r.id)})"))
        elif r.type == "DeployEvent" and r.parents and r.parents[-1][1] in allowed:
            continue  # an event of one of the user's own jobs
        elif r.id is not None and r.type != "PhoneModel" and r.id not in allowed:  # catalogue
            out.append(_finding(OUT_OF_SCOPE, r, f"{r.type} {r.id} ({world.owner(r.id)})"))
    return out


def report(role: str, findings: list[Finding]) -> str:
    """The findings by broken rule and leaked type."""
    groups: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    for f in findings:
        groups[(f.check, f.type)].append(f)
    lines = [f"{role} of company A reached what it may not ({len(findings)} findings):"]
    if groups:
        for (check, type_name), items in sorted(groups.items()):
            edges = ", ".join(sorted({f.edge for f in items}))
            lines.append(f"  - {check}: {type_name} via {edges} ({len(items)}x)")
            routes = sorted({f.route for f in items}, key=lambda r: (len(r), r))
            lines += [f"      route: {r}" for r in routes[:3]]
            if len(routes) > 3:
                lines.append(f"      ... and {len(routes) - 3} more routes")
            lines += [f"      e.g. {d}" for d in sorted({f.detail for f in items})[:3]]
    return "\n".join(lines)


# ---------------------------------------------------------------- the test


def given_values(world: World) -> dict[tuple[str, str], set[str]]:
    """What the walker may pass to root fields besides what it reaches: every id, MAC
    and template filename of both companies (ids are guessable, base64 of Type:pk)."""
    values: dict[tuple[str, str], set[str]] = defaultdict(set)
    for t in (world.a, world.b):
        for global_id in t.ids.values():
            values[(_type_of(global_id), "id")].add(global_id)
        for label, mac in t.macs.items():
            values[("DectBase" if label == "dect" else "Phone", "mac")].add(mac)
        values[("PhoneTemplate", "filename")].add(t.template_filename)
    return values


def _type_of(global_id: str) -> str:
    parsed = parse_global_id(global_id)
    assert parsed is not None, global_id
    return parsed[0]


def _walk_problems(walk: Walk) -> list[dict[str, Any]]:
    """Errors that mean the walker asked something wrong (not a FORBIDDEN root field)."""
    return [e for e in walk.errors if (e.get("extensions") or {}).get("code") != "FORBIDDEN"]


def unreached(walk: Walk, world: World, role: str) -> list[str]:
    """What the role may see that the walk, from the root fields without arguments, did
    not reach: the proof that the walker walks (API tokens only node() reaches)."""
    a, b = world.a, world.b
    walked = {r.id for r in walk.reached if r.round == 0}
    if role == "USER":
        expected = {
            a.ids[k]
            for k in ("company", "domain", "user1", "group", "phone1", "profile_user1",
                      "job_reboot1", "job_hotdesk")
        }
        missing = [world.owner(i) for i in sorted(expected - walked)]
        return missing
    tenants = (a, b) if role == "SYSTEM_ADMIN" else (a,)
    expected = {v for t in tenants for k, v in t.ids.items() if not k.startswith("token")}
    missing = [world.owner(i) for i in sorted(expected - walked)]
    # Objects without ids: by the object they belong to.
    under = defaultdict(set)
    for r in walk.reached:
        if r.parents and r.type in ("PhoneLine", "DectMember", "DeployEvent"):
            under[r.type].add((r.parents[-1][1], r.data.get("port")))
    for t in tenants:
        missing += [f"{t.tag}: line {port} of {world.owner(phone)}"
                    for phone, port in t.lines if (phone, port) not in under["PhoneLine"]]
        if (t.ids["dect"], None) not in under["DectMember"]:
            missing.append(f"{t.tag}: DECT members")
        for job in ("job_reboot1", "job_reboot2", "job_hotdesk"):
            if (t.ids[job], None) not in under["DeployEvent"]:
                missing.append(f"{t.tag}: events of {job}")
    return missing


@pytest.mark.parametrize("role", ["SYSTEM_ADMIN", "COMPANY_ADMIN", "USER"])
async def test_walk_of_the_live_schema_stays_in_scope(
    role: str, admin: GraphQLClient, live_server: LiveServer
) -> None:
    world = await seed(admin, live_server)
    client = {
        "SYSTEM_ADMIN": admin,
        "COMPANY_ADMIN": world.a.admin,
        "USER": live_server.client(world.a.user_token),
    }[role]
    s = live_server.settings
    walk = await Walker(
        client,
        max_depth=s.max_query_depth,
        max_tokens=s.max_tokens,
        max_aliases=s.max_aliases,
        given=given_values(world),
    ).run()
    assert not _walk_problems(walk), _walk_problems(walk)[:5]
    missing = unreached(walk, world, role)
    assert not missing, f"the walk ({walk.queries} queries) did not reach {missing}"
    if role == "SYSTEM_ADMIN":
        return

    findings = nothing_of(world.b, walk, world) + counts_agree(walk)
    if role == "USER":
        findings += user_rules(walk, world)
    assert not findings, report(role, findings)
