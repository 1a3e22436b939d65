"""The README's walkthrough runs as written: its GraphQL blocks, in order, against a live
server started with the README's bootstrap token, the README's Headers JSON, and a
simulated phone standing in for the example address. A block the server refuses, a
userError, a placeholder nobody fills or an anonymous operation fails this test, so the
README cannot drift from the server."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import textwrap
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, OperationType, parse
from websockets.asyncio.client import connect

from app.settings import load_settings, use_settings
from tests.conftest import _truncate_pg, forget_dialect, start_server, stop_server
from tests.support.fixtures import PhoneSimFactory, phone_sim_factory  # noqa: F401

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```$", re.M | re.S)
# The example phone's address in the README, replaced by the simulator's.
EXAMPLE_ADDRESS = 'ipAddress: "192.0.2.10"'
MODEL_NAME = "8845"


@dataclass
class Block:
    lang: str
    text: str


def readme_blocks(lang: str) -> list[str]:
    found = [
        Block(m["lang"], textwrap.dedent(m["body"]))
        for m in FENCE.finditer(README.read_text(encoding="utf-8"))
    ]
    return [block.text for block in found if block.lang == lang]


def the_operation(text: str) -> OperationDefinitionNode:
    """The one named operation of a block (GraphiQL runs such a block as pasted)."""
    operations = [d for d in parse(text).definitions if isinstance(d, OperationDefinitionNode)]
    assert len(operations) == 1, f"one operation per block:\n{text}"
    (operation,) = operations
    assert operation.name is not None, f"operations are named:\n{text}"
    return operation


def bootstrap_token() -> str:
    (command,) = [b for b in readme_blocks("sh") if "PHONEGRAPH_BOOTSTRAP_TOKEN=" in b and "make serve" in b]
    found = re.search(r"PHONEGRAPH_BOOTSTRAP_TOKEN=(\S+) make serve", command)
    assert found, command
    return found.group(1)


def readme_headers() -> dict[str, str]:
    (headers,) = [json.loads(b) for b in readme_blocks("json") if "Authorization" in b]
    return headers


# Where each placeholder's value comes from: (operation, how to read it from its data).
PLACEHOLDERS = {
    "<company id>": ("CreateCompany", lambda d: d["companyCreate"]["company"]["id"]),
    "<model id>": (
        "FindModel",
        lambda d: next(m["id"] for m in d["phoneModels"] if m["name"] == MODEL_NAME),
    ),
    "<job id>": ("RebootPhone", lambda d: d["phoneReboot"]["job"]["id"]),
    "<reprovision job id>": (
        "ReprovisionPhone",
        lambda d: d["phoneReprovision"]["job"]["id"],
    ),
    "<revision id>": (
        "ConfigHistory",
        lambda d: d["phone"]["configRevisions"]["nodes"][0]["id"],
    ),
    "<rollback job id>": ("RollBack", lambda d: d["phoneConfigRollback"]["job"]["id"]),
    "<rollout id>": ("RebootFleet", lambda d: d["phonesReboot"]["rollout"]["id"]),
}


def user_errors(data: Any) -> list[Any]:
    """Every userErrors list anywhere in a result, flattened."""
    if isinstance(data, dict):
        found = list(data.get("userErrors") or [])
        for key, value in data.items():
            if key != "userErrors":
                found += user_errors(value)
        return found
    if isinstance(data, list):
        return [e for item in data for e in user_errors(item)]
    return []


@pytest.fixture
async def readme_server(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    """The server as `PHONEGRAPH_BOOTSTRAP_TOKEN=… make serve` starts it, on a free port,
    configured through the environment like a reader's (phones may be on loopback, fast
    OPTIONS probes so the simulated reboot is quick)."""
    if database_url.startswith("postgres"):
        await _truncate_pg(database_url)
    forget_dialect()
    environment = {
        "PHONEGRAPH_DATA_DIR": str(tmp_path / "data"),
        "PHONEGRAPH_DATABASE_URL": database_url,
        "PHONEGRAPH_BOOTSTRAP_TOKEN": bootstrap_token(),
        "PHONEGRAPH_SECRET_KEY": "readme-test-secret-key",
        # The simulated phone lives on loopback (servers that restrict phone networks).
        "PHONEGRAPH_PHONE_NETWORKS": "127.0.0.0/8",
        "PHONEGRAPH_PHONE_TIMEOUT": "20",
        "PHONEGRAPH_RESTART_GRACE": "2",
        "PHONEGRAPH_OPTIONS_INTERVAL": "0.2",
        "PHONEGRAPH_DEPLOY_CONCURRENCY": "4",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    server, task, url = await start_server(load_settings())
    try:
        yield url
    finally:
        await stop_server(server, task)
        use_settings(None)


async def _subscribe(url: str, headers: dict[str, str], document: str, name: str) -> list[dict]:
    """What GraphiQL does with a subscription: connection_init with the Headers tab, then
    subscribe; every ``next`` until ``complete``."""
    events: list[dict] = []
    ws_url = url.replace("http://", "ws://") + "/graphql"
    async with connect(ws_url, subprotocols=["graphql-transport-ws"], open_timeout=10) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": headers}))
        async with asyncio.timeout(60):
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": document, "operationName": name},
                    }
                )
            )
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "next":
                    assert "errors" not in message["payload"], message
                    events.append(message["payload"]["data"])
                elif message["type"] == "complete":
                    return events
                elif message["type"] == "error":
                    raise AssertionError(f"{name} refused: {message['payload']}")


async def test_the_readme_walkthrough_runs_as_written(
    readme_server: str, phone_sim_factory: PhoneSimFactory, tmp_path: Path  # noqa: F811
) -> None:
    blocks = readme_blocks("graphql")
    assert len(blocks) >= 6, "the walkthrough's GraphQL blocks were not found"
    assert sum(EXAMPLE_ADDRESS in b for b in blocks) == 1, "the example phone's address"
    used = {p for b in blocks for p in re.findall(r"<[^<>\"]+>", b)}
    assert used <= set(PLACEHOLDERS), f"placeholders the test cannot fill: {used - set(PLACEHOLDERS)}"

    create_phone = next(b for b in blocks if "phoneCreate" in b)
    mac = re.search(r'mac: "([0-9A-F:]{17})"', create_phone)
    assert mac, create_phone
    phone = await phone_sim_factory(mac.group(1), reboot_seconds=0.3)
    simulator_address = (
        f'ipAddress: "{phone.ip}", sipPort: {phone.sip_port}, httpPort: {phone.http_port}'
    )

    headers = readme_headers()
    values: dict[str, str] = {}
    answers: dict[str, dict] = {}
    async with httpx.AsyncClient(base_url=readme_server, timeout=30) as client:
        for block in blocks:
            operation = the_operation(block)
            name = operation.name.value  # type: ignore[union-attr]
            document = block.replace(EXAMPLE_ADDRESS, simulator_address)
            for placeholder, value in values.items():
                document = document.replace(f'"{placeholder}"', json.dumps(value))
            assert not re.search(r"<[^<>\"]+>", document), f"{name}: placeholder left unfilled"

            if operation.operation == OperationType.SUBSCRIPTION:
                answers[name] = {"events": await _subscribe(readme_server, headers, document, name)}
                continue
            response = await client.post(
                "/graphql", json={"query": document, "operationName": name}, headers=headers
            )
            body = response.json()
            assert "errors" not in body, f"{name}: {body['errors']}"
            assert user_errors(body["data"]) == [], f"{name}: {user_errors(body['data'])}"
            answers[name] = body["data"]
            for placeholder, (source, read) in PLACEHOLDERS.items():
                if source == name:
                    values[placeholder] = read(body["data"])

    assert answers["Me"] == {"viewer": {"role": "SYSTEM_ADMIN", "tokenName": "bootstrap"}}
    assert answers["CreatePhone"]["phoneCreate"]["phone"]["model"] == {
        "vendor": "Cisco",
        "name": MODEL_NAME,
    }
    assert answers["RebootPhone"]["phoneReboot"]["job"]["status"] in ("QUEUED", "RUNNING")
    # The subscription as the README describes it: past events first (QUEUED was sent
    # before it started), then to the final one, and the phone really restarted.
    steps = [e["deployJobProgress"]["step"] for e in answers["WatchJob"]["events"]]
    assert steps == [
        "QUEUED",
        "RESTARTING",
        "WAITING_FOR_PHONE",
        "PHONE_ONLINE",
        "SUCCEEDED",
    ], answers["WatchJob"]
    # Config history: the preview before anything was written, the reprovision's
    # revision (password masked), and the rollback writing the same bytes again.
    preview = answers["PreviewConfig"]["phone"]["configPreview"]
    assert preview["changed"] is True and "s3cret-pw" not in preview["diff"]
    assert "<phonePassword>********</phonePassword>" in preview["diff"]
    for watched in ("WatchReprovision", "WatchRollback"):
        events = answers[watched]["events"]
        assert events[-1]["deployJobProgress"]["step"] == "SUCCEEDED", events
    (revision,) = answers["ConfigHistory"]["phone"]["configRevisions"]["nodes"]
    assert revision["reason"] == "REPROVISION"
    # No PHONEGRAPH_FTP_URL: the config target is the data folder's tftpboot/.
    written = (tmp_path / "data" / "tftpboot" / revision["filename"]).read_bytes()
    assert hashlib.sha256(written).hexdigest() == revision["sha256"]
    assert len(written) == revision["size"]
    # The rollout section: the fleet (the one phone) restarted once more, batch by batch.
    progress = [e["rolloutProgress"] for e in answers["WatchRollout"]["events"]]
    assert progress[-1]["status"] == "SUCCEEDED", progress
    assert progress[-1]["succeeded"] == 1
    assert phone.reboots == 4


def test_the_readme_says_what_graphiql_shows_of_a_subscription() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert "past events are replayed first" in text
    assert "shows the latest event only" in text
