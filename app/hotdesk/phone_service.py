"""The hot-desk service at the phone: Cisco IP Phone Services XML over HTTP GET (§6).

``GET /services/{key}/hotdesk?device=SEP{MAC}`` — ``key`` is the company's provisioning
key, ``device`` the phone's device name:

* no session: a ``CiscoIPPhoneInput`` whose ``URL`` is the login address and whose
  ``InputItem``s have the ``QueryStringParam``s ``extension`` and ``pin``;
* a session: a ``CiscoIPPhoneText`` naming the user, with a ``Logout`` ``SoftKeyItem``.

The phone submits by GET to the login address with ``&extension=…&pin=…`` appended; the
answer is a ``CiscoIPPhoneText`` saying the phone will restart, or why not (wrong
extension or PIN, locked, not a hot-desk phone) — never an HTTP error for these. A GET
of the logout address answers a ``CiscoIPPhoneText`` and starts the logout. An unknown
key or device is a 404, as for provisioning. Answers are built with lxml, never by
pasting user data into markup.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import quote

from lxml import etree
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app.core.audit import Call, recorded
from app.core.crypto import hash_token
from app.core.errors import ErrorCode, UserInputError, invalid
from app.core.models import Company
from app.devices.models import Phone, PhoneStatus
from app.hotdesk import service
from app.pbx.models import SipUser
from app.settings import get_settings

log = logging.getLogger(__name__)

_DEVICE = re.compile(r"^SEP([0-9A-Fa-f]{12})$")
_MAX_SEGMENT = 256
_MAX_PARAM = 64
TITLE = "Hot desk"
_HEADERS = {"Cache-Control": "no-store"}


def _not_found() -> Response:
    return PlainTextResponse("Not found\n", status_code=404, headers=_HEADERS)


def _xml(root: etree._Element) -> Response:
    body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return Response(body, media_type="text/xml", headers=_HEADERS)


def _text(text: str, *soft_keys: tuple[str, str]) -> Response:
    """A ``CiscoIPPhoneText``; ``soft_keys``: (label, URL) pairs."""
    root = etree.Element("CiscoIPPhoneText")
    etree.SubElement(root, "Title").text = TITLE
    etree.SubElement(root, "Prompt").text = ""
    etree.SubElement(root, "Text").text = text
    for position, (name, url) in enumerate(soft_keys, start=1):
        key = etree.SubElement(root, "SoftKeyItem")
        etree.SubElement(key, "Name").text = name
        etree.SubElement(key, "URL").text = url
        etree.SubElement(key, "Position").text = str(position)
    return _xml(root)


def _login_form(url: str) -> Response:
    root = etree.Element("CiscoIPPhoneInput")
    etree.SubElement(root, "Title").text = TITLE
    etree.SubElement(root, "Prompt").text = "Enter your extension and PIN"
    etree.SubElement(root, "URL").text = url
    for name, param, flags in (("Extension", "extension", "N"), ("PIN", "pin", "NP")):
        item = etree.SubElement(root, "InputItem")
        etree.SubElement(item, "DisplayName").text = name
        etree.SubElement(item, "QueryStringParam").text = param
        etree.SubElement(item, "DefaultValue").text = ""
        etree.SubElement(item, "InputFlags").text = flags
    return _xml(root)


def _address(key: str, action: str, device: str) -> str:
    """A hot-desk address at ``PHONEGRAPH_PUBLIC_URL`` (default ``http://HOST:PORT``),
    where the phones reach the server, never the request's ``Host`` header (which the
    caller chooses)."""
    path = f"/services/{quote(key, safe='')}/hotdesk"
    if action:
        path += f"/{action}"
    return f"{get_settings().resolved_public_url}{path}?device={quote(device, safe='')}"


async def _phone_of(request: Request) -> tuple[str, str, Phone] | None:
    """The key, device name and phone a request is for; ``None``: answer 404."""
    key = request.path_params.get("key", "")
    device = request.query_params.get("device", "")
    if not key or len(key) > _MAX_SEGMENT or not device or len(device) > _MAX_SEGMENT:
        return None
    match = _DEVICE.match(device)
    if match is None:
        return None
    company = await Company.get_or_none(provisioning_key_hash=hash_token(key))
    if company is None:
        return None
    phone = await Phone.get_or_none(mac=match.group(1).upper(), company_id=company.id)
    if phone is None:
        return None
    return key, f"SEP{phone.mac}", phone


def _not_hotdesk(phone: Phone) -> str | None:
    if phone.status != PhoneStatus.ACTIVE or not phone.can_hotdesk:
        return "This phone is not a hot-desk phone."
    return None


async def hotdesk_menu(request: Request) -> Response:
    found = await _phone_of(request)
    if found is None:
        return _not_found()
    key, device, phone = found
    refusal = _not_hotdesk(phone)
    if refusal:
        return _text(refusal)
    session = await service.open_session_of_phone(phone.id)
    if session is None:
        return _login_form(_address(key, "login", device))
    user = await SipUser.get(id=session.sip_user_id)  # type: ignore[attr-defined]
    return _text(
        f"Logged in: {user.display_name} ({user.extension_number})",
        ("Logout", _address(key, "logout", device)),
    )


_REFUSALS = {
    ErrorCode.LOCKED: None,  # the service's own message says how long
    ErrorCode.INCOMPATIBLE: "There is no configuration of yours for this phone.",
}


def _refusal_text(exc: UserInputError) -> str:
    error = exc.errors[0]
    if error.code in _REFUSALS:
        return _REFUSALS[error.code] or error.message + "."
    if error.field and error.field[0] == "mac":
        return "This phone is not a hot-desk phone."
    # Unknown extension, wrong PIN, a user that may not hot-desk: one answer for all.
    return service.WRONG_CREDENTIALS + "."


def _at_phone(operation: str, phone: Phone, **arguments: str) -> Call:
    """The audit record of a login or logout made at ``phone`` (its company's)."""
    return Call(
        operation=operation,
        arguments={"mac": phone.mac, **arguments},
        phone_id=phone.id,
        phone_company_id=phone.company_id,  # type: ignore[attr-defined]
    )


async def hotdesk_login(request: Request) -> Response:
    found = await _phone_of(request)
    if found is None:
        return _not_found()
    _, _, phone = found
    extension = request.query_params.get("extension", "")[:_MAX_PARAM]
    pin = request.query_params.get("pin", "")[:_MAX_PARAM]

    async def attempt() -> None:
        refusal = _not_hotdesk(phone)
        if refusal:
            raise invalid(refusal, "mac")
        await service.login(service.AtPhone(phone), phone, phone.mac, extension, pin)

    call = _at_phone("hotdeskLogin", phone, extension_number=extension, pin=pin)
    try:
        await recorded(call, attempt)
    except UserInputError as exc:
        return _text(_refusal_text(exc))
    return _text("Welcome. The phone restarts now with your configuration.")


async def hotdesk_logout(request: Request) -> Response:
    found = await _phone_of(request)
    if found is None:
        return _not_found()
    _, _, phone = found

    async def attempt() -> None:
        await service.logout(service.AtPhone(phone), phone.mac)

    try:
        await recorded(_at_phone("hotdeskLogout", phone), attempt)
    except UserInputError:
        return _text("Nobody is logged in at this phone.")
    return _text("Goodbye. The phone restarts now with its own configuration.")
