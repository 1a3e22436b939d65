"""Clearing the services session over the Cisco CGI (CONTRACT §5.2)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from app.deploy.wire.cisco import INIT_SERVICES, clear_services_session
from app.deploy.wire.errors import PhoneStepError
from tests.conftest import free_port
from tests.support.fixtures import PhoneSimFactory

MAC = "00:1E:BE:AA:BB:01"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fake_phone_http() -> AsyncIterator[Callable[[web.Response], Awaitable[int]]]:
    """An HTTP server answering /CGI/Execute with a canned response; gives its port."""
    runners: list[web.AppRunner] = []

    async def start(answer: web.Response) -> int:
        async def handler(request: web.Request) -> web.StreamResponse:
            await request.read()
            return answer

        app = web.Application()
        app.router.add_post("/CGI/Execute", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return int(runner.addresses[0][1])

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_init_services_is_posted_as_a_form_with_basic_auth(
    phone_sim_factory: PhoneSimFactory, http: aiohttp.ClientSession
) -> None:
    phone = await phone_sim_factory(MAC, web_username="admin", web_password="pä$$:word")

    await clear_services_session(http, phone.ip, phone.http_port, "admin", "pä$$:word", 5)

    [request] = phone.cgi_requests
    assert request.content_type == "application/x-www-form-urlencoded"
    assert request.xml == INIT_SERVICES
    assert request.username == "admin"
    assert [(e.kind, e.detail) for e in phone.log] == [("CGI", "Init:Services")]


async def test_a_phone_without_web_credentials_is_cleared_without_auth(
    phone_sim_factory: PhoneSimFactory, http: aiohttp.ClientSession
) -> None:
    phone = await phone_sim_factory(MAC)

    await clear_services_session(http, phone.ip, phone.http_port, None, None, 5)

    assert phone.cgi_requests[0].username is None
    assert phone.entries("CGI")[0].detail == "Init:Services"


@pytest.mark.parametrize(
    ("username", "password"), [("admin", "wrong"), (None, None), ("someone", "secret")]
)
async def test_refused_credentials_are_reported(
    phone_sim_factory: PhoneSimFactory,
    http: aiohttp.ClientSession,
    username: str | None,
    password: str | None,
) -> None:
    phone = await phone_sim_factory(MAC, web_username="admin", web_password="secret")

    with pytest.raises(PhoneStepError) as failure:
        await clear_services_session(http, phone.ip, phone.http_port, username, password, 5)

    assert str(failure.value) == "phone refused the credentials (CiscoIPPhoneError 4)"
    assert phone.entries("CGI")[0].detail == "credentials refused"


async def test_http_401_is_reported_as_refused_credentials(
    fake_phone_http: Callable[[web.Response], Awaitable[int]], http: aiohttp.ClientSession
) -> None:
    port = await fake_phone_http(web.Response(status=401, text="Unauthorized"))

    with pytest.raises(PhoneStepError, match=r"^phone refused the credentials \(HTTP 401\)$"):
        await clear_services_session(http, "127.0.0.1", port, "admin", "x", 5)


async def test_other_cisco_errors_are_named(
    phone_sim_factory: PhoneSimFactory, http: aiohttp.ClientSession
) -> None:
    phone = await phone_sim_factory(MAC, cgi_error=3)

    with pytest.raises(PhoneStepError) as failure:
        await clear_services_session(http, phone.ip, phone.http_port, None, None, 5)

    assert str(failure.value) == "internal file error on the phone (CiscoIPPhoneError 3)"


async def test_unreachable_phone_is_reported(http: aiohttp.ClientSession) -> None:
    port = free_port()

    with pytest.raises(PhoneStepError) as failure:
        await clear_services_session(http, "127.0.0.1", port, None, None, 5)

    assert failure.value.message.startswith(
        f"phone unreachable: cannot connect to http://127.0.0.1:{port}/CGI/Execute"
    )


async def test_a_phone_that_never_answers_times_out(http: aiohttp.ClientSession) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(PhoneStepError) as failure:
            await clear_services_session(http, "127.0.0.1", port, None, None, 0.3)
    finally:
        server.close()

    assert str(failure.value) == (
        f"phone unreachable: no answer from http://127.0.0.1:{port}/CGI/Execute within 0.3 s"
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (web.Response(text="<html>hello", content_type="text/html"), "is not XML"),
        (web.Response(status=404, text="nope"), "phone answered Init:Services with HTTP 404"),
        (
            web.Response(
                text='<CiscoIPPhoneResponse><ResponseItem Status="6" Data="Busy" '
                'URL="Init:Services"/></CiscoIPPhoneResponse>',
                content_type="text/xml",
            ),
            "phone did not run Init:Services (status 6: Busy)",
        ),
        (web.Response(text="<Other/>", content_type="text/xml"), "unexpected answer"),
    ],
)
async def test_answers_other_than_success_fail_with_a_clear_message(
    fake_phone_http: Callable[[web.Response], Awaitable[int]],
    http: aiohttp.ClientSession,
    answer: web.Response,
    message: str,
) -> None:
    port = await fake_phone_http(answer)

    with pytest.raises(PhoneStepError) as failure:
        await clear_services_session(http, "127.0.0.1", port, None, None, 5)

    assert message in str(failure.value)


async def test_external_entities_in_the_answer_are_never_loaded(
    fake_phone_http: Callable[[web.Response], Awaitable[int]],
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    # Were the entity loaded, its failing ResponseItem would make the step fail.
    planted = tmp_path / "planted.xml"
    planted.write_text('<ResponseItem Status="9" Data="read from disk"/>')
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY planted SYSTEM "{planted.as_uri()}">]>'
        '<CiscoIPPhoneResponse><ResponseItem Status="0" Data="Success"/>&planted;'
        "</CiscoIPPhoneResponse>"
    )
    port = await fake_phone_http(web.Response(text=xxe, content_type="text/xml"))

    await clear_services_session(http, "127.0.0.1", port, None, None, 5)
