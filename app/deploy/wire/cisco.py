"""Clearing a Cisco phone's services session over its CGI (CONTRACT §5.2)."""

from __future__ import annotations

import asyncio

import aiohttp
from lxml import etree

from app.deploy.wire.errors import Guard, PhoneStepError, guarded

INIT_SERVICES = (
    '<CiscoIPPhoneExecute><ExecuteItem Priority="0" URL="Init:Services"/></CiscoIPPhoneExecute>'
)

# What the phones' CiscoIPPhoneError numbers mean (Cisco IP Phone Services guide).
CGI_ERRORS = {
    1: "the phone could not parse the request",
    2: "the phone could not frame its response",
    3: "internal file error on the phone",
    4: "the phone refused the credentials",
}

# Answers are a few hundred bytes; anything far larger is not a phone talking.
MAX_ANSWER_BYTES = 64 * 1024


def _safe_parser() -> etree.XMLParser:
    """No DTD, no entities, no network: a phone's answer cannot reach anything else."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


async def clear_services_session(
    http: aiohttp.ClientSession,
    host: str,
    port: int,
    username: str | None,
    password: str | None,
    timeout: float,
    *,
    guard: Guard | None = None,
) -> None:
    """POST ``Init:Services`` to ``/CGI/Execute``; return when the phone confirms it.

    Raises :class:`PhoneStepError` when the phone is unreachable, refuses the
    credentials (HTTP 401 or ``CiscoIPPhoneError 4``) or answers anything but success.
    ``guard`` runs right before the request is sent.
    """
    host_part = f"[{host}]" if ":" in host else host
    url = f"http://{host_part}:{port}/CGI/Execute"
    # RFC 7617's charset="UTF-8", so non-ASCII passwords survive.
    try:
        auth = aiohttp.BasicAuth(username, password or "", encoding="utf-8") if username else None
    except ValueError:  # a ':' in the login (stored before logins were checked)
        raise PhoneStepError(
            "the phone's webUsername cannot be sent with HTTP Basic auth (it contains ':'); "
            "change it"
        ) from None
    guarded(guard)()
    try:
        async with http.post(
            url,
            data={"XML": INIT_SERVICES},
            auth=auth,
            timeout=aiohttp.ClientTimeout(total=timeout),
            allow_redirects=False,
        ) as response:
            if response.status == 401:
                raise PhoneStepError("phone refused the credentials (HTTP 401)")
            if response.status != 200:
                raise PhoneStepError(
                    f"phone answered Init:Services with HTTP {response.status} "
                    f"{response.reason or ''}".rstrip()
                )
            body = await response.content.read(MAX_ANSWER_BYTES + 1)
    except PhoneStepError:
        raise
    except TimeoutError:
        raise PhoneStepError(
            f"phone unreachable: no answer from {url} within {timeout:g} s"
        ) from None
    except aiohttp.ClientConnectorError as exc:
        os_error = exc.os_error
        reason = (os_error.strerror or str(os_error)) if os_error else str(exc)
        raise PhoneStepError(f"phone unreachable: cannot connect to {url} ({reason})") from None
    except (aiohttp.ClientError, asyncio.IncompleteReadError, OSError) as exc:
        detail = str(exc) or exc.__class__.__name__
        raise PhoneStepError(f"phone unreachable: {url} failed ({detail})") from None
    _check_answer(body)


def _check_answer(body: bytes) -> None:
    """Success is ``CiscoIPPhoneResponse/ResponseItem[@Status="0"]``."""
    if len(body) > MAX_ANSWER_BYTES:
        raise PhoneStepError("phone sent an oversized answer to Init:Services")
    try:
        root = etree.fromstring(body, _safe_parser())
    except etree.XMLSyntaxError:
        raise PhoneStepError("phone sent an answer to Init:Services that is not XML") from None
    if root.tag == "CiscoIPPhoneError":
        number_text = root.get("Number", "")
        number = int(number_text) if number_text.isdigit() else None
        if number == 4:
            raise PhoneStepError("phone refused the credentials (CiscoIPPhoneError 4)")
        meaning = CGI_ERRORS.get(number or -1, "the phone reported an error")
        raise PhoneStepError(f"{meaning} (CiscoIPPhoneError {number_text or '?'})")
    if root.tag != "CiscoIPPhoneResponse":
        raise PhoneStepError(f"phone sent an unexpected answer to Init:Services <{root.tag}>")
    items = root.findall("ResponseItem")
    if not items:
        raise PhoneStepError("phone's answer to Init:Services has no ResponseItem")
    failed = [item for item in items if item.get("Status") != "0"]
    if failed:
        item = failed[0]
        data = item.get("Data") or ""
        raise PhoneStepError(
            f"phone did not run Init:Services (status {item.get('Status')}"
            f"{': ' + data if data else ''})"
        )
