"""What a real server process writes to its log, and whose client address it believes:
no provisioning key in any line (a key fetches a phone's SIP credentials), one line per
record whatever a client sends (no forged lines), and X-Forwarded-For believed only from
PHONEGRAPH_TRUSTED_PROXIES (CONTRACT §12)."""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import logging.config
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.core.logs import escape_controls, log_config, mask_keyed_path
from app.settings import Settings, use_settings
from tests.conftest import GraphQLClient, LiveServer, Tenant, _truncate_pg, create_company
from tests.deploy.test_processes import TOKEN, ServerProcess, server_env

KEY = "query($id: ID!) { node(id: $id) { ... on Company { provisioningKey } } }"
PHONE = "query($mac: MacAddress!) { phone(mac: $mac) { status ipAddress lastSeenIp } }"
FORGED = "INFO:     127.0.0.1:1 - \"GET /forged HTTP/1.1\" 200"
# Every line a server process writes starts like one of these (uvicorn's level prefix,
# or a line the command line prints before serving).
LINE_START = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL):|^(PhoneGraph on |Get an admin|\(from a|or start with|applied migrations)")


@pytest.fixture
async def server_process(
    database_url: str, tmp_path: Path
) -> AsyncIterator[ServerProcess]:
    """``python -m app serve`` logging at info, as an operator runs it."""
    if database_url.startswith("postgres"):
        await _truncate_pg(database_url)
    env = server_env(tmp_path, database_url, None, PHONEGRAPH_LOG_LEVEL="info")
    server = ServerProcess(env, tmp_path / "server.log")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_server_process_logs_no_key_no_forged_line_and_believes_no_forwarded_for(
    server_process: ServerProcess,
) -> None:
    admin = GraphQLClient(server_process.url, TOKEN)
    company = await create_company(admin, "Acme")
    key = (await admin.data(KEY, {"id": company}))["node"]["provisioningKey"]
    async with httpx.AsyncClient(base_url=server_process.url, timeout=30) as http:
        # An unknown phone, claiming to be elsewhere: loopback is no trusted proxy.
        response = await http.get(
            f"/provisioning/{key}/SEP00AA11BB7701.cnf.xml",
            headers={"x-forwarded-for": "192.0.2.77"},
        )
        assert response.status_code == 404
        await http.get(f"/provisioning/{key}/unknown-file.txt?k={key}")
        await http.get(f"/services/{key}/hotdesk?device=SEP00AA11BB7701&pin=4321")
    # A USER-reachable lookup with a newline and a forged log line in it, long.
    await admin.execute(
        "query($f: String!) { phoneTemplate(filename: $f) { filename } }",
        {"f": "x" * 200 + "\n" + FORGED},
    )
    await admin.execute(
        "query($f: String!) { phoneTemplate(filename: $f) { filename } }",
        {"f": "evil\n" + FORGED},
    )
    phone = (await admin.data(PHONE, {"mac": "00AA11BB7701"}))["phone"]
    assert phone == {"status": "PENDING", "ipAddress": "127.0.0.1", "lastSeenIp": "127.0.0.1"}

    await server_process.stop()
    log = server_process.log.read_text()
    assert "/provisioning/********/SEP00AA11BB7701.cnf.xml" in log  # the access log is on
    assert key not in log
    assert "4321" not in log
    lines = log.splitlines()
    assert FORGED not in lines
    strays = [line for line in lines if not LINE_START.match(line)]
    assert strays == []


# ---------------------------------------------------------------- the pieces


def test_the_formatter_writes_one_line_per_record_with_controls_escaped(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logging.config.dictConfig(log_config("info"))
    logger = logging.getLogger("app.test_logs")
    try:
        raise ValueError("bad value 'a\nWARNING: forged'")
    except ValueError:
        logger.exception("lookup of %r failed\r\n%s", "x\ny", "\x1b[31mred\u2028")
    err = capsys.readouterr().err
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
    lines = err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("ERROR:")
    assert "\\nWARNING: forged" in lines[0] and "Traceback" in lines[0]
    assert "\\x1b[31m" in lines[0] and "\\u2028" in lines[0]


def test_escaping_leaves_plain_text_alone() -> None:
    assert escape_controls('GET /graphql "ok" – ünïcödé') == 'GET /graphql "ok" – ünïcödé'
    assert escape_controls("a\tb\nc\rd\x00") == "a\\tb\\nc\\rd\\x00"


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/provisioning/s3cr3t/SEP1.cnf.xml", "/provisioning/********/SEP1.cnf.xml"),
        ("/provisioning//s3cr3t/x", "/provisioning//********/x"),
        ("/provisioning/s3cr3t", "/provisioning/********"),
        ("/services/s3cr3t/hotdesk?device=SEP1&pin=1", "/services/********/hotdesk?********"),
        ("/graphql?query=%7B__typename%7D", "/graphql?query=%7B__typename%7D"),
    ],
)
def test_the_access_log_masks_keys(path: str, logged: str) -> None:
    assert mask_keyed_path(path) == logged


# ---------------------------------------------------------------- X-Forwarded-For


@pytest.fixture
async def settings(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Settings]:
    proxies = getattr(request, "param", ())
    s = dataclasses.replace(
        settings, trusted_proxies=tuple(ipaddress.ip_network(p) for p in proxies)
    )
    use_settings(s)
    yield s
    use_settings(settings)


async def _fetch_as(live_server: LiveServer, key: str, mac: str, forwarded: str) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
        response = await http.get(
            f"/provisioning/{key}/SEP{mac}.cnf.xml", headers={"x-forwarded-for": forwarded}
        )
    assert response.status_code == 404


@pytest.fixture
async def acme(tenant_factory) -> Tenant:  # type: ignore[no-untyped-def]
    return await tenant_factory("Acme")


async def test_forwarded_for_is_not_believed_by_default(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    key = (await admin.data(KEY, {"id": acme.company_id}))["node"]["provisioningKey"]
    await _fetch_as(live_server, key, "00AA11BB7702", "192.0.2.50")
    phone = (await admin.data(PHONE, {"mac": "00AA11BB7702"}))["phone"]
    assert phone["ipAddress"] == "127.0.0.1" and phone["lastSeenIp"] == "127.0.0.1"


@pytest.mark.parametrize("settings", [("127.0.0.0/8",)], indirect=True, ids=["loopback-proxy"])
async def test_forwarded_for_is_believed_from_a_trusted_proxy(
    admin: GraphQLClient, acme: Tenant, live_server: LiveServer
) -> None:
    key = (await admin.data(KEY, {"id": acme.company_id}))["node"]["provisioningKey"]
    # The client the trusted proxy saw is the rightmost address it did not add itself.
    await _fetch_as(live_server, key, "00AA11BB7703", "198.51.100.1, 192.0.2.51")
    phone = (await admin.data(PHONE, {"mac": "00AA11BB7703"}))["phone"]
    assert phone["lastSeenIp"] == "192.0.2.51" and phone["ipAddress"] == "192.0.2.51"
    # An address a trusted proxy forwards is still checked against the phone networks.
    await _fetch_as(live_server, key, "00AA11BB7704", "169.254.169.254")
    phone = (await admin.data(PHONE, {"mac": "00AA11BB7704"}))["phone"]
    assert phone["lastSeenIp"] == "169.254.169.254" and phone["ipAddress"] is None
