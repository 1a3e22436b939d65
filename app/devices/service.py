"""Rules of devices: phones and their lines, templates, DECT bases.

Every function takes the caller (``Viewer``) and a partial input (``provided(input)``,
snake_case keys) and raises ``UserInputError`` with GraphQL field paths.
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.core.auth import Viewer
from app.core.crypto import encrypt
from app.core.errors import (
    ErrorCode,
    UserError,
    UserInputError,
    UserInputErrors,
    duplicate,
    forbidden_input,
    in_use,
    incompatible,
    invalid,
    not_found,
    required,
)
from app.core.ids import decode_id
from app.core.models import Company, Role
from app.core.networks import phone_address_allowed
from app.core.scalars import format_mac
from app.core.scope import company_in_scope, get_visible, require_write, visible
from app.core.validation import (
    Cleaner,
    as_sent,
    clean_input,
    flag,
    optional_text,
    present,
    required_text,
    secret,
)
from app.devices import signals
from app.devices import validation as v
from app.devices.models import (
    DectBase,
    DectMember,
    Phone,
    PhoneLine,
    PhoneModel,
    PhoneStatus,
    PhoneTemplate,
)
from app.devices.rendering import check_template

_SECRET_ALPHABET = string.ascii_letters + string.digits
LINE_SECRET_LENGTH = 24


def new_line_secret() -> str:
    """A random SIP auth secret; letters and digits only, which every phone accepts."""
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(LINE_SECRET_LENGTH))


# ---------------------------------------------------------------- shared lookups


async def _company_id(viewer: Viewer, raw: Any, *path: str) -> int:
    """The company an object is put in: company admins' own by default; system admins
    must name one."""
    if raw is None:
        if viewer.role == Role.COMPANY_ADMIN and viewer.company_id is not None:
            return viewer.company_id
        raise required(*path)
    pk = decode_id(raw, "Company", *path)
    if not company_in_scope(viewer, pk) or not await Company.filter(id=pk).exists():
        raise not_found("Company", *path)
    return pk


async def _model(raw: Any, *, dect: bool, path: tuple[str, ...]) -> PhoneModel | None:
    if raw is None:
        return None
    row = await PhoneModel.get_or_none(id=decode_id(raw, "PhoneModel", *path))
    if row is None:
        raise not_found("PhoneModel", *path)
    if row.is_dect != dect:
        what = "a DECT base model" if row.is_dect else "a desk phone model"
        raise incompatible(f"{row.vendor} {row.name} is {what}", *path)
    return row


async def _template(
    viewer: Viewer, filename: Any, path: tuple[str, ...], company_id: int | None
) -> PhoneTemplate | None:
    """The template a device of ``company_id`` may use: the caller sees it, and it is
    shared or that company's own (another company's template is as if unknown)."""
    if filename is None or filename == "":
        return None
    _check_template_lookup(str(filename), path)
    row = await visible(PhoneTemplate, viewer).get_or_none(filename=str(filename))
    if row is None or row.company_id not in (None, company_id):  # type: ignore[attr-defined]
        raise not_found("PhoneTemplate", *path)
    return row


# The answer for a MAC held by a device the caller cannot see. MACs are unique across all
# companies (one config file name per device on the shared config target), so a refusal
# cannot be avoided; it just never says that, or where, the device exists.
MAC_UNAVAILABLE = (
    "This MAC address cannot be used for a new device; if the device is yours, ask a "
    "system administrator"
)


def _exists(mac: str) -> str:
    return f"A phone or DECT base with MAC {format_mac(mac)} exists already"


async def _claim_mac(
    viewer: Viewer, mac: str, company_id: int | None, path: tuple[str, ...]
) -> Phone | None:
    """Check the MAC of a new device of ``company_id``. MACs are unique across phones and
    DECT bases, so a fetched file name means one device.

    * free: ``None``;
    * a PENDING phone of another company (whoever held that company's provisioning key
      made it fetch a config): it yields to an administrator adding the device, and is
      returned to be deleted in the same transaction — a registration reserves nothing;
    * a device the caller sees: DUPLICATE;
    * any other: :data:`MAC_UNAVAILABLE` (INVALID), which says nothing of whose it is.
    """
    phone = await Phone.get_or_none(mac=mac)
    if phone is not None:
        if phone.status == PhoneStatus.PENDING and phone.company_id != company_id:  # type: ignore[attr-defined]
            return phone
        if await visible(Phone, viewer).filter(id=phone.id).exists():
            raise duplicate(_exists(mac), *path)
        raise invalid(MAC_UNAVAILABLE, *path)
    base = await DectBase.get_or_none(mac=mac)
    if base is not None:
        if await visible(DectBase, viewer).filter(id=base.id).exists():
            raise duplicate(_exists(mac), *path)
        raise invalid(MAC_UNAVAILABLE, *path)
    return None


async def _release_pending(pending: Phone | None, path: tuple[str, ...]) -> None:
    """Delete the PENDING phone of another company a new device takes the MAC of (inside
    the caller's transaction)."""
    if pending is None:
        return
    locked = await Phone.select_for_update().get_or_none(
        id=pending.id, status=PhoneStatus.PENDING
    )
    if locked is None:  # approved meanwhile: it is that company's now
        raise invalid(MAC_UNAVAILABLE, *path)
    try:
        await signals.phone_deleting.send(locked)
    except UserInputError:
        raise invalid(MAC_UNAVAILABLE, *path) from None
    await locked.delete()


def _check_template_company(
    template: PhoneTemplate | None, company_id: int | None, path: tuple[str, ...]
) -> None:
    """A device keeps no template of another company (it moved company, keeping it)."""
    if template is not None and template.company_id not in (None, company_id):  # type: ignore[attr-defined]
        raise incompatible(
            "The device's template belongs to its former company; give it another "
            "templateFilename with the new companyId",
            *path,
            "companyId",
        )


def _check_template_fits(
    template: PhoneTemplate | None, model: PhoneModel | None, path: tuple[str, ...]
) -> None:
    model_id = template.model_id if template else None  # type: ignore[attr-defined]
    if model_id is not None and (model is None or model.id != model_id):
        raise incompatible("The template is for another model", *path)


# ---------------------------------------------------------------- phones


async def phone_by_mac(viewer: Viewer, mac: str, *path: str) -> Phone:
    phone = await visible(Phone, viewer).get_or_none(mac=mac)
    if phone is None:
        raise not_found("Phone", *path)
    return phone


async def sync_lines(phone: Phone, line_count: int) -> None:
    """Give ``phone`` exactly ports 1..line_count; new lines get a random secret."""
    ports = set(await PhoneLine.filter(phone_id=phone.id).values_list("port", flat=True))
    await PhoneLine.filter(phone_id=phone.id, port__gt=line_count).delete()
    missing = [p for p in range(1, line_count + 1) if p not in ports]
    if missing:
        await PhoneLine.bulk_create(
            [
                PhoneLine(phone_id=phone.id, port=p, auth_secret_enc=encrypt(new_line_secret()))
                for p in missing
            ]
        )


def _line_count(model: PhoneModel | None) -> int:
    return model.line_count if model else 1


# Fields a new device leaves at their defaults when sent as null.
_DEFAULTED = frozenset({"http_port", "sip_port", "can_hotdesk", "can_forward", "rps", "https"})

_PHONE_FIELDS: dict[str, Cleaner] = {
    "name": optional_text(200),
    "ip_address": v.ip_address,
    "http_port": v.port,
    "sip_port": v.port,
    "web_username": v.web_username,
    "web_password": secret(),
    "timezone": v.timezone,
    "language": optional_text(64),
    "codecs": v.codecs,
    "can_hotdesk": flag,
    "can_forward": flag,
}


async def _apply_phone_fields(
    viewer: Viewer, phone: Phone, data: dict[str, Any], *, creating: bool
) -> tuple[bool, bool]:
    """Validate and set the sent fields. Returns (lines must be resynced, company changed)."""
    p = ("input",)
    sent = {k: val for k, val in data.items() if not (creating and val is None and k in _DEFAULTED)}
    for key, value in clean_input(sent, _PHONE_FIELDS).items():
        if key == "web_password":
            phone.web_password_enc = encrypt(value) if value is not None else None
        else:
            setattr(phone, key, value)

    company_changed = False
    if "company_id" in data or creating:
        company_id = await _company_id(viewer, data.get("company_id"), *p, "companyId")
        company_changed = not creating and company_id != phone.company_id  # type: ignore[attr-defined]
        phone.company_id = company_id  # type: ignore[attr-defined]

    model = await PhoneModel.get_or_none(id=phone.model_id) if phone.model_id else None  # type: ignore[attr-defined]
    old_line_count = _line_count(model)
    if "model_id" in data:
        model = await _model(data["model_id"], dect=False, path=(*p, "modelId"))
        phone.model_id = model.id if model else None  # type: ignore[attr-defined]
    template = await PhoneTemplate.get_or_none(id=phone.template_id) if phone.template_id else None  # type: ignore[attr-defined]
    if "template_filename" in data:
        template = await _template(
            viewer,
            data["template_filename"],
            (*p, "templateFilename"),
            phone.company_id,  # type: ignore[attr-defined]
        )
        phone.template_id = template.id if template else None  # type: ignore[attr-defined]
    _check_template_company(template, phone.company_id, p)  # type: ignore[attr-defined]
    if "model_id" in data or "template_filename" in data:
        blame = "templateFilename" if "template_filename" in data else "modelId"
        _check_template_fits(template, model, (*p, blame))
    return creating or _line_count(model) != old_line_count, company_changed


async def phone_create(viewer: Viewer, data: dict[str, Any]) -> Phone:
    """A phone added by an administrator: ACTIVE at once."""
    require_write(Phone, viewer)
    mac = data.get("mac")
    if not mac:
        raise required("input", "mac")
    phone = Phone(mac=mac, status=PhoneStatus.ACTIVE)
    await _apply_phone_fields(viewer, phone, data, creating=True)
    pending = await _claim_mac(viewer, mac, phone.company_id, ("input", "mac"))  # type: ignore[attr-defined]
    async with in_transaction():
        await _release_pending(pending, ("input", "mac"))
        await phone.save()
        await sync_lines(phone, await _phone_line_count(phone))
    return phone


async def _phone_line_count(phone: Phone) -> int:
    model = await PhoneModel.get_or_none(id=phone.model_id) if phone.model_id else None  # type: ignore[attr-defined]
    return _line_count(model)


async def phone_update(viewer: Viewer, mac: str, data: dict[str, Any]) -> Phone:
    """Change the sent fields only. A new model adds or removes lines; a new company
    frees the lines of users who are not its own."""
    require_write(Phone, viewer)
    phone = await phone_by_mac(viewer, mac, "mac")
    if data.get("mac") is not None and data["mac"] != phone.mac:
        raise invalid("The MAC of a phone cannot be changed", "input", "mac")
    data = {k: val for k, val in data.items() if k != "mac"}
    resync, company_changed = await _apply_phone_fields(viewer, phone, data, creating=False)
    async with in_transaction():
        await phone.save()
        if resync:
            await sync_lines(phone, await _phone_line_count(phone))
        if company_changed:
            await _free_foreign_lines(phone)
            await signals.phone_company_changed.send(phone)
    return phone


async def _free_foreign_lines(phone: Phone) -> None:
    from app.pbx.models import SipUser

    own = SipUser.filter(domain__company_id=phone.company_id).values_list("id", flat=True)  # type: ignore[attr-defined]
    own_ids = set(await own)
    lines = await PhoneLine.filter(phone_id=phone.id, sip_user_id__not_isnull=True)
    stale = [line.id for line in lines if line.sip_user_id not in own_ids]  # type: ignore[attr-defined]
    if stale:
        await PhoneLine.filter(id__in=stale).update(sip_user_id=None)


async def phone_delete(viewer: Viewer, mac: str) -> int:
    """Delete a phone, unless a domain above refuses (``signals.phone_deleting``)."""
    require_write(Phone, viewer)
    phone = await phone_by_mac(viewer, mac, "mac")
    async with in_transaction():
        # Locked first: what the receivers check cannot change until the delete is done.
        locked = await Phone.select_for_update().get_or_none(id=phone.id)
        if locked is None:
            raise not_found("Phone", "mac")
        await signals.phone_deleting.send(locked)
        await locked.delete()
    return phone.id


async def phone_approve(viewer: Viewer, mac: str) -> Phone:
    """PENDING or REJECTED → ACTIVE. Approving an ACTIVE phone changes nothing."""
    require_write(Phone, viewer)
    phone = await phone_by_mac(viewer, mac, "mac")
    if phone.status != PhoneStatus.ACTIVE:
        phone.status = PhoneStatus.ACTIVE
        await phone.save(update_fields=["status", "updated_at"])
    return phone


async def phone_reject(viewer: Viewer, mac: str) -> Phone:
    """Any state → REJECTED: the provisioning endpoint refuses the phone from now on."""
    require_write(Phone, viewer)
    phone = await phone_by_mac(viewer, mac, "mac")
    if phone.status != PhoneStatus.REJECTED:
        phone.status = PhoneStatus.REJECTED
        await phone.save(update_fields=["status", "updated_at"])
    return phone


async def phone_line_assign(viewer: Viewer, mac: str, port: int, sip_user_id: str | None) -> Phone:
    """Put a SIP user of the phone's company on ``port``, or free it (``None``)."""
    from app.pbx.models import SipDomain, SipUser

    require_write(Phone, viewer)
    phone = await phone_by_mac(viewer, mac, "mac")
    line = await PhoneLine.get_or_none(phone_id=phone.id, port=port)
    if line is None:
        count = await PhoneLine.filter(phone_id=phone.id).count()
        raise invalid(f"port must be between 1 and {count}", "port")
    user_id = None
    if sip_user_id is not None:
        user = await get_visible(SipUser, viewer, decode_id(sip_user_id, "SipUser", "sipUserId"))
        domain = await SipDomain.get_or_none(id=user.domain_id) if user else None  # type: ignore[attr-defined]
        if user is None or domain is None or domain.company_id != phone.company_id:  # type: ignore[attr-defined]
            raise not_found("SipUser", "sipUserId")
        user_id = user.id
    line.sip_user_id = user_id  # type: ignore[attr-defined]
    await line.save(update_fields=["sip_user_id"])
    await Phone.filter(id=phone.id).update(updated_at=datetime.now(UTC))
    return await Phone.get(id=phone.id)


async def phone_passwords_regenerate(viewer: Viewer, mac: str) -> Phone:
    """Give every line of the phone a new random SIP auth secret."""
    require_write(Phone, viewer)
    phone = await phone_by_mac(viewer, mac, "mac")
    async with in_transaction():
        for line in await PhoneLine.filter(phone_id=phone.id):
            line.auth_secret_enc = encrypt(new_line_secret())
            await line.save(update_fields=["auth_secret_enc"])
    return phone


async def register_pending_phone(
    company_id: int, mac: str, model_id: int | None, address: str | None
) -> Phone | None:
    """A phone the server has never seen asked for its config: remember it, PENDING,
    until an administrator approves or rejects it. ``None`` if another request of the
    same phone won the race."""
    model = await PhoneModel.get_or_none(id=model_id) if model_id else None
    phone = Phone(
        mac=mac,
        status=PhoneStatus.PENDING,
        company_id=company_id,
        model_id=model.id if model else None,
        # Deploys go to ipAddress once the phone is approved: only an address the server
        # may contact is taken (the fetch is still seen, in lastSeenIp).
        ip_address=address if address and phone_address_allowed(address) else None,
        last_seen_ip=address,
    )
    try:
        async with in_transaction():
            await phone.save()
            await sync_lines(phone, _line_count(model))
            await signals.phone_registered.send(phone)
    except IntegrityError:
        return None
    return phone


# ---------------------------------------------------------------- templates


def _check_template_lookup(filename: str, path: tuple[str, ...]) -> None:
    """A name longer than any template's is refused before the lookup (the ORM would not
    send it), without repeating it."""
    if len(filename) > v.TEMPLATE_FILENAME_MAX:
        raise invalid(f"filename must be at most {v.TEMPLATE_FILENAME_MAX} characters", *path)


async def template_by_filename(viewer: Viewer, filename: str, *path: str) -> PhoneTemplate:
    _check_template_lookup(filename, path)
    row = await visible(PhoneTemplate, viewer).get_or_none(filename=filename)
    if row is None:
        raise not_found("PhoneTemplate", *path)
    return row


async def _apply_template_fields(
    template: PhoneTemplate, data: dict[str, Any], *, creating: bool
) -> None:
    p = ("input",)
    if "filename" in data or creating:
        name = v.template_filename(data.get("filename"), (*p, "filename"))
        clash = PhoneTemplate.filter(filename=name)
        if template.id is not None:
            clash = clash.exclude(id=template.id)
        if await clash.exists():
            raise duplicate(f"A template named {name!r} exists already", *p, "filename")
        template.filename = name
    if "content" in data or creating:
        content = data.get("content")
        if content is None or content == "":
            raise required(*p, "content")
        if len(content) > v.TEMPLATE_CONTENT_MAX:
            raise invalid(
                f"content must be at most {v.TEMPLATE_CONTENT_MAX} characters", *p, "content"
            )
        check_template(content, *p, "content", filename=template.filename)
        template.content = content
    if "model_id" in data:
        model = None
        if data["model_id"] is not None:
            model = await PhoneModel.get_or_none(
                id=decode_id(data["model_id"], "PhoneModel", *p, "modelId")
            )
            if model is None:
                raise not_found("PhoneModel", *p, "modelId")
        if model is not None and template.id is not None:
            users = (
                await Phone.filter(template_id=template.id).exclude(model_id=model.id).exists()
                or await DectBase.filter(template_id=template.id)
                .exclude(model_id=model.id)
                .exists()
            )
            if users:
                raise incompatible("Devices of another model use this template", *p, "modelId")
        template.model_id = model.id if model else None  # type: ignore[attr-defined]


async def template_create(viewer: Viewer, data: dict[str, Any]) -> PhoneTemplate:
    require_write(PhoneTemplate, viewer)
    template = PhoneTemplate(is_custom=True)
    if data.get("company_id") is not None:
        pk = decode_id(data["company_id"], "Company", "input", "companyId")
        if await get_visible(Company, viewer, pk) is None:
            raise not_found("Company", "input", "companyId")
        template.company_id = pk  # type: ignore[attr-defined]
    await _apply_template_fields(template, data, creating=True)
    await template.save()
    return template


def _refuse_builtin(template: PhoneTemplate) -> None:
    if not template.is_custom:
        raise forbidden_input(
            f"{template.filename!r} is shipped with the server and read-only; "
            "create a copy under another name",
            "filename",
        )


async def template_update(viewer: Viewer, filename: str, data: dict[str, Any]) -> PhoneTemplate:
    require_write(PhoneTemplate, viewer)
    template = await template_by_filename(viewer, filename, "filename")
    _refuse_builtin(template)
    if "company_id" in data:
        raise invalid("The company of a template cannot change", "input", "companyId")
    await _apply_template_fields(template, data, creating=False)
    await template.save()
    return template


async def template_delete(viewer: Viewer, filename: str) -> int:
    require_write(PhoneTemplate, viewer)
    template = await template_by_filename(viewer, filename, "filename")
    _refuse_builtin(template)
    phones = await Phone.filter(template_id=template.id).count()
    bases = await DectBase.filter(template_id=template.id).count()
    if phones or bases:
        raise in_use(
            f"The template is used by {phones} phone(s) and {bases} DECT base(s)", "filename"
        )
    try:
        await template.delete()
    except IntegrityError as exc:  # a device took it up meanwhile
        raise in_use("The template is in use", "filename") from exc
    return template.id


# ---------------------------------------------------------------- DECT bases


async def dect_base_by_id(viewer: Viewer, raw_id: str, *path: str) -> DectBase:
    base = await get_visible(DectBase, viewer, decode_id(raw_id, "DectBase", *path))
    if base is None:
        raise not_found("DectBase", *path)
    return base


_DECT_REQUIRED = ("name", "mac", "timezone", "tone", "interface")


_DECT_FIELDS: dict[str, Cleaner] = {
    "name": required_text(64),
    "timezone": lambda value, path: v.timezone(value, path, nullable=False),
    "tone": required_text(64),
    "region": optional_text(64),
    "language": present,
    "interface": present,
    "preferred_transport": present,
    "handset_language": as_sent,
    "rps": flag,
    "https": flag,
    "codecs": v.codecs,
    "password": secret(),
    "user_password": secret(),
    "engineer_password": secret(),
}


async def _apply_dect_fields(
    viewer: Viewer, base: DectBase, data: dict[str, Any], *, creating: bool
) -> None:
    p = ("input",)
    sent = {k: val for k, val in data.items() if not (creating and val is None and k in _DEFAULTED)}
    if creating and sent.get("preferred_transport", ...) is None:
        sent.pop("preferred_transport", None)  # the default, UDP
    if creating and data.get("mac") is None:
        raise required(*p, "mac")
    needed = [k for k in _DECT_REQUIRED if k != "mac"] if creating else []
    for key, value in clean_input(sent, _DECT_FIELDS, create=needed).items():
        if key.endswith("password"):
            setattr(base, f"{key}_enc", encrypt(value) if value is not None else None)
        else:
            setattr(base, key, value)
    if "company_id" in data or creating:
        base.company_id = await _company_id(viewer, data.get("company_id"), *p, "companyId")  # type: ignore[attr-defined]
    model = await PhoneModel.get_or_none(id=base.model_id) if base.model_id else None  # type: ignore[attr-defined]
    if "model_id" in data:
        model = await _model(data["model_id"], dect=True, path=(*p, "modelId"))
        base.model_id = model.id if model else None  # type: ignore[attr-defined]
    template = await PhoneTemplate.get_or_none(id=base.template_id) if base.template_id else None  # type: ignore[attr-defined]
    if "template_filename" in data:
        template = await _template(
            viewer,
            data["template_filename"],
            (*p, "templateFilename"),
            base.company_id,  # type: ignore[attr-defined]
        )
        base.template_id = template.id if template else None  # type: ignore[attr-defined]
    _check_template_company(template, base.company_id, p)  # type: ignore[attr-defined]
    if "model_id" in data or "template_filename" in data:
        blame = "templateFilename" if "template_filename" in data else "modelId"
        _check_template_fits(template, model, (*p, blame))


async def dect_base_create(viewer: Viewer, data: dict[str, Any]) -> DectBase:
    require_write(DectBase, viewer)
    base = DectBase()
    await _apply_dect_fields(viewer, base, data, creating=True)
    pending = await _claim_mac(viewer, data["mac"], base.company_id, ("input", "mac"))  # type: ignore[attr-defined]
    base.mac = data["mac"]
    async with in_transaction():
        await _release_pending(pending, ("input", "mac"))
        await base.save()
    return base


async def dect_base_update(viewer: Viewer, raw_id: str, data: dict[str, Any]) -> DectBase:
    require_write(DectBase, viewer)
    base = await dect_base_by_id(viewer, raw_id, "id")
    if data.get("mac") is not None and data["mac"] != base.mac:
        raise invalid("The MAC of a DECT base cannot be changed", "input", "mac")
    data = {k: val for k, val in data.items() if k != "mac"}
    await _apply_dect_fields(viewer, base, data, creating=False)
    await base.save()
    return base


async def dect_base_delete(viewer: Viewer, raw_id: str) -> int:
    require_write(DectBase, viewer)
    base = await dect_base_by_id(viewer, raw_id, "id")
    async with in_transaction():
        await base.delete()
    return base.id


async def dect_base_members_set(
    viewer: Viewer, raw_id: str, members: list[dict[str, Any]]
) -> DectBase:
    """Replace the member list at once; every bad entry is reported."""
    require_write(DectBase, viewer)
    base = await dect_base_by_id(viewer, raw_id, "id")
    errors: list[UserError] = []
    rows: list[DectMember] = []
    seen: dict[str, dict[Any, int]] = {"extensionNumber": {}, "handsetIndex": {}, "ipui": {}}
    for i, member in enumerate(members):
        path = ("members", str(i))
        try:
            values = {
                "extensionNumber": v.extension_number(
                    member.get("extension_number"), (*path, "extensionNumber")
                ),
                "handsetIndex": v.handset_index(
                    member.get("handset_index"), (*path, "handsetIndex")
                ),
                "ipui": v.ipui(member.get("ipui"), (*path, "ipui")),
            }
        except UserInputError as exc:
            errors.extend(exc.errors)
            continue
        clash = False
        for gql, value in values.items():
            if value is None:
                continue
            if value in seen[gql]:
                errors.append(
                    UserError(
                        field=[*path, gql],
                        message=f"{gql} {value} is also given to member {seen[gql][value]}",
                        code=ErrorCode.DUPLICATE,
                    )
                )
                clash = True
            else:
                seen[gql][value] = i
        if not clash:
            rows.append(
                DectMember(
                    base_id=base.id,
                    extension_number=values["extensionNumber"],
                    handset_index=values["handsetIndex"],
                    ipui=values["ipui"],
                )
            )
    if errors:
        raise UserInputErrors(errors)
    async with in_transaction():
        await DectMember.filter(base_id=base.id).delete()
        if rows:
            await DectMember.bulk_create(rows)
        await DectBase.filter(id=base.id).update(updated_at=datetime.now(UTC))
    return await DectBase.get(id=base.id)
