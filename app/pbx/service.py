"""Rules of the hosted PBX: who may change what, and what makes a valid directory.

Every function takes the caller and the raw (partial) input, checks access through
:mod:`app.core.scope`, validates with :mod:`app.pbx.validation`, and writes in one
transaction. Problems are raised as ``UserInputError`` with GraphQL field paths.

Extension numbers are one numbering plan per domain shared by users, groups and
queues: each holder claims its number in ``SipExtension`` (unique per domain) in the
same transaction as it is created, renumbered or deleted, so the database itself
refuses a second holder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from app.core import validation as check
from app.core.auth import Viewer
from app.core.crypto import encrypt, hash_pin
from app.core.errors import (
    UserError,
    UserInputError,
    duplicate,
    forbidden_input,
    in_use,
    invalid,
    not_found,
    required,
)
from app.core.ids import decode_id, parse_global_id
from app.core.models import Company, Role
from app.core.scope import get_visible, require_system_admin, require_write, visible
from app.core.service import register_user_subject
from app.pbx import signals
from app.pbx import validation as valid
from app.pbx.models import (
    ExtensionOwner,
    RingStrategy,
    SipDomain,
    SipExtension,
    SipGroup,
    SipGroupMember,
    SipQueue,
    SipQueueMember,
    SipUser,
    TrustedNetwork,
)

EXTENSION_PATH = ("input", "extensionNumber")


async def token_subject(viewer: Viewer, user_pk: int) -> tuple[int, int] | None:
    """The SIP user a USER token may be made for (within the caller's scope) and its
    company."""
    user = await visible(SipUser, viewer).get_or_none(id=user_pk).prefetch_related("domain")
    if user is None:
        return None
    return user.id, user.domain.company_id  # type: ignore[attr-defined]


register_user_subject(token_subject)


async def _visible_or_not_found(
    model: type[Model], viewer: Viewer, global_id: str, type_name: str, *field: str
) -> Any:
    """The object behind ``global_id`` if the caller may see it, else NOT_FOUND."""
    row = await get_visible(model, viewer, decode_id(global_id, type_name, *field))
    if row is None:
        raise not_found(type_name, *field)
    return row


# ---------------------------------------------------------------- extension numbers


async def _extension_taken(domain_id: int, number: str) -> bool:
    if await SipExtension.filter(domain_id=domain_id, number=number).exists():
        return True
    # Rows written without a claim (imports, fixtures) still hold their number.
    for holder in (SipUser, SipGroup, SipQueue):
        if await holder.filter(domain_id=domain_id, extension_number=number).exists():
            return True
    return False


def _extension_clash(number: str) -> Any:
    return duplicate(
        f"Extension {number} is already used by a user, group or queue of this domain",
        *EXTENSION_PATH,
    )


async def _claim_extension(domain_id: int, number: str, owner: ExtensionOwner) -> None:
    """Claim ``number`` (inside the caller's transaction)."""
    try:
        await SipExtension.create(domain_id=domain_id, number=number, owner_kind=owner)
    except IntegrityError as exc:  # claimed by a concurrent request since we checked
        raise _extension_clash(number) from exc


async def _release_extension(domain_id: int, number: str, owner: ExtensionOwner) -> None:
    await SipExtension.filter(domain_id=domain_id, number=number, owner_kind=owner).delete()


async def _renumber(domain_id: int, old: str, new: str, owner: ExtensionOwner) -> None:
    if old != new:
        await _release_extension(domain_id, old, owner)
        await _claim_extension(domain_id, new, owner)


# ---------------------------------------------------------------- domains

_DOMAIN_FIELDS: dict[str, check.Cleaner] = {
    "name": valid.dns_name,
    "display_name": check.required_text(200),
    "recording_enabled": check.flag,
}


async def domain_create(viewer: Viewer, data: dict[str, Any]) -> SipDomain:
    """Create a SIP domain for a company (system admins only)."""
    require_system_admin(viewer)
    errors: list[UserError] = []
    company: Company | None = None
    company_ref = data.get("company_id")
    try:
        if not company_ref:
            raise required("input", "companyId")
        company = await get_visible(
            Company, viewer, decode_id(company_ref, "Company", "input", "companyId")
        )
        if company is None:
            raise not_found("Company", "input", "companyId")
    except UserInputError as exc:
        errors.extend(exc.errors)
    try:
        clean = check.clean_input(data, _DOMAIN_FIELDS, create=("name", "display_name"))
    except UserInputError as exc:
        errors.extend(exc.errors)
        clean = {}
    if "name" in clean and await SipDomain.filter(name=clean["name"]).exists():
        errors.append(_domain_name_taken(clean["name"]))
    check.raise_all(errors)
    assert company is not None
    try:
        return await SipDomain.create(company_id=company.id, **clean)
    except IntegrityError as exc:
        raise duplicate(f"A SIP domain named {clean['name']!r} exists", "input", "name") from exc


def _domain_name_taken(name: str) -> UserError:
    return duplicate(f"A SIP domain named {name!r} exists", "input", "name").errors[0]


async def domain_update(viewer: Viewer, domain_id: str, data: dict[str, Any]) -> SipDomain:
    """Change a domain's display name or recording; system admins may also rename it."""
    require_write(SipDomain, viewer)
    domain = await _visible_or_not_found(SipDomain, viewer, domain_id, "SipDomain", "id")
    errors: list[UserError] = []
    data = dict(data)
    if "company_id" in data:
        data.pop("company_id")
        errors += invalid("A domain cannot move to another company", "input", "companyId").errors
    if "name" in data and viewer.role != Role.SYSTEM_ADMIN:
        data.pop("name")
        errors += forbidden_input("Only system admins rename a domain", "input", "name").errors
    try:
        clean = check.clean_input(data, _DOMAIN_FIELDS)
    except UserInputError as exc:
        errors.extend(exc.errors)
        clean = {}
    if (
        not errors
        and "name" in clean
        and await SipDomain.filter(name=clean["name"]).exclude(id=domain.id).exists()
    ):
        errors.append(_domain_name_taken(clean["name"]))
    check.raise_all(errors)
    domain.update_from_dict(clean)
    await domain.save()
    return domain


async def domain_delete(viewer: Viewer, domain_id: str) -> int:
    """Delete an empty domain (system admins only); its trusted networks go with it."""
    require_system_admin(viewer)
    domain = await _visible_or_not_found(SipDomain, viewer, domain_id, "SipDomain", "id")
    for model, what in ((SipUser, "users"), (SipGroup, "groups"), (SipQueue, "queues")):
        if await model.filter(domain_id=domain.id).exists():
            raise in_use(f"The domain still has {what}; delete them first", "id")
    async with in_transaction():
        await domain.delete()
    return domain.id


# ---------------------------------------------------------------- users

_USER_FIELDS: dict[str, check.Cleaner] = {
    "username": valid.sip_name,
    "password": valid.password,
    "display_name": check.required_text(200),
    "extension_number": valid.extension_number,
    "pin": valid.pin,
    "email": valid.email,
    "first_name": check.optional_text(100),
    "last_name": check.optional_text(100),
    "job_name": check.optional_text(200),
    "department_name": check.optional_text(200),
    "company_name": check.optional_text(200),
    "office_name": check.optional_text(200),
    "uk_caller_id": valid.phone_number,
    "us_caller_id": valid.phone_number,
    "mobile_number": valid.phone_number,
    "mobile_follow": check.flag,
    "hotdesk_allowed": check.flag,
    "dashboard": check.flag,
}
_USER_REQUIRED = ("username", "password", "display_name", "extension_number")


def _user_columns(clean: dict[str, Any]) -> dict[str, Any]:
    """Input values → columns: the password encrypted, the PIN hashed."""
    out = dict(clean)
    if "password" in out:
        out["password_enc"] = encrypt(out.pop("password"))
    if "pin" in out:
        value = out.pop("pin")
        out["pin_hash"] = hash_pin(value) if value is not None else None
    return out


async def _check_unique(
    model: type[Model],
    domain_id: int,
    column: str,
    value: Any,
    path: tuple[str, ...],
    what: str,
    exclude_id: int | None = None,
) -> list[UserError]:
    qs = model.filter(domain_id=domain_id, **{column: value})
    if exclude_id is not None:
        qs = qs.exclude(id=exclude_id)
    if await qs.exists():
        return duplicate(f"{what} {value!r} exists already in this domain", *path).errors
    return []


async def _check_extension(
    domain_id: int, clean: dict[str, Any], current: str | None = None
) -> list[UserError]:
    number = clean.get("extension_number")
    if number is None or number == current:
        return []
    if await _extension_taken(domain_id, number):
        return _extension_clash(number).errors
    return []


def _extras(data: dict[str, Any]) -> dict[str, Any]:
    """Take out the input fields the domains above store (``signals.user_saved``)."""
    return {name: data.pop(name) for name in signals.USER_EXTRA_FIELDS if name in data}


async def user_create(viewer: Viewer, domain_id: str, data: dict[str, Any]) -> SipUser:
    require_write(SipUser, viewer)
    data = dict(data)
    extras = _extras(data)
    domain = await _visible_or_not_found(SipDomain, viewer, domain_id, "SipDomain", "domainId")
    clean = check.clean_input(data, _USER_FIELDS, create=_USER_REQUIRED)
    errors = await _check_unique(
        SipUser, domain.id, "username", clean["username"], ("input", "username"), "Username"
    )
    errors += await _check_extension(domain.id, clean)
    check.raise_all(errors)
    async with in_transaction():
        await _claim_extension(domain.id, clean["extension_number"], ExtensionOwner.USER)
        try:
            user = await SipUser.create(domain_id=domain.id, **_user_columns(clean))
        except IntegrityError as exc:
            raise duplicate("Username exists already in this domain", "input", "username") from exc
        if extras:
            await signals.user_saved.send(viewer, user, extras)
        return user


async def user_update(viewer: Viewer, user_id: str, data: dict[str, Any]) -> SipUser:
    require_write(SipUser, viewer)
    data = dict(data)
    extras = _extras(data)
    user = await _visible_or_not_found(SipUser, viewer, user_id, "SipUser", "id")
    clean = check.clean_input(data, _USER_FIELDS)
    errors: list[UserError] = []
    if "username" in clean:
        errors += await _check_unique(
            SipUser,
            user.domain_id,
            "username",
            clean["username"],
            ("input", "username"),
            "Username",
            exclude_id=user.id,
        )
    errors += await _check_extension(user.domain_id, clean, user.extension_number)
    check.raise_all(errors)
    async with in_transaction():
        if "extension_number" in clean:
            await _renumber(
                user.domain_id,
                user.extension_number,
                clean["extension_number"],
                ExtensionOwner.USER,
            )
        user.update_from_dict(_user_columns(clean))
        try:
            await user.save()
        except IntegrityError as exc:
            raise duplicate("Username exists already in this domain", "input", "username") from exc
        if extras:
            await signals.user_saved.send(viewer, user, extras)
    return user


async def user_delete(viewer: Viewer, user_id: str) -> int:
    """Delete a user: their group memberships and profiles go, their phone lines are freed."""
    require_write(SipUser, viewer)
    user = await _visible_or_not_found(SipUser, viewer, user_id, "SipUser", "id")
    await signals.user_deleting.send(user)
    async with in_transaction():
        await _release_extension(user.domain_id, user.extension_number, ExtensionOwner.USER)
        await user.delete()
    return user.id


# ---------------------------------------------------------------- groups

_GROUP_FIELDS: dict[str, check.Cleaner] = {
    "group_name": valid.sip_name,
    "display_name": check.required_text(200),
    "extension_number": valid.extension_number,
    "ring_retry": check.flag,
    "ring_exclusive": check.flag,
    "caller_name_format": valid.caller_name_format,
}


@dataclass(frozen=True)
class _Holder:
    """Groups and queues: named holders of an extension, with the same valid."""

    model: type[SipGroup] | type[SipQueue]
    type_name: str
    fields: dict[str, check.Cleaner]
    name_field: str
    name_path: tuple[str, str]
    label: str
    owner: ExtensionOwner

    def name_taken(self) -> UserInputError:
        return duplicate(f"{self.label} exists already in this domain", *self.name_path)


async def _holder_create(
    holder: _Holder, viewer: Viewer, domain_id: str, data: dict[str, Any]
) -> Any:
    require_write(holder.model, viewer)
    domain = await _visible_or_not_found(SipDomain, viewer, domain_id, "SipDomain", "domainId")
    clean = check.clean_input(
        data, holder.fields, create=(holder.name_field, "display_name", "extension_number")
    )
    errors = await _check_unique(
        holder.model,
        domain.id,
        holder.name_field,
        clean[holder.name_field],
        holder.name_path,
        holder.label,
    )
    errors += await _check_extension(domain.id, clean)
    check.raise_all(errors)
    async with in_transaction():
        await _claim_extension(domain.id, clean["extension_number"], holder.owner)
        try:
            return await holder.model.create(domain_id=domain.id, **clean)
        except IntegrityError as exc:
            raise holder.name_taken() from exc


async def _holder_update(holder: _Holder, viewer: Viewer, row_id: str, data: dict[str, Any]) -> Any:
    require_write(holder.model, viewer)
    row = await _visible_or_not_found(holder.model, viewer, row_id, holder.type_name, "id")
    clean = check.clean_input(data, holder.fields)
    errors: list[UserError] = []
    if holder.name_field in clean:
        errors += await _check_unique(
            holder.model,
            row.domain_id,
            holder.name_field,
            clean[holder.name_field],
            holder.name_path,
            holder.label,
            exclude_id=row.id,
        )
    errors += await _check_extension(row.domain_id, clean, row.extension_number)
    check.raise_all(errors)
    async with in_transaction():
        if "extension_number" in clean:
            await _renumber(
                row.domain_id, row.extension_number, clean["extension_number"], holder.owner
            )
        row.update_from_dict(clean)
        try:
            await row.save()
        except IntegrityError as exc:
            raise holder.name_taken() from exc
    return row


_GROUP = _Holder(
    SipGroup,
    "SipGroup",
    _GROUP_FIELDS,
    "group_name",
    ("input", "groupName"),
    "Group",
    ExtensionOwner.GROUP,
)


async def group_create(viewer: Viewer, domain_id: str, data: dict[str, Any]) -> SipGroup:
    return await _holder_create(_GROUP, viewer, domain_id, data)


async def group_update(viewer: Viewer, group_id: str, data: dict[str, Any]) -> SipGroup:
    return await _holder_update(_GROUP, viewer, group_id, data)


async def group_delete(viewer: Viewer, group_id: str) -> int:
    """Delete a group no queue uses; its memberships go with it."""
    require_write(SipGroup, viewer)
    group = await _visible_or_not_found(SipGroup, viewer, group_id, "SipGroup", "id")
    if await SipQueueMember.filter(group_id=group.id).exists():
        raise in_use("A queue still rings this group; remove it from the queue first", "id")
    try:
        async with in_transaction():
            await _release_extension(group.domain_id, group.extension_number, ExtensionOwner.GROUP)
            await group.delete()
    except IntegrityError as exc:  # added to a queue since we checked
        raise in_use("A queue still rings this group", "id") from exc
    return group.id


async def _users_of_group_domain(viewer: Viewer, group: SipGroup, user_ids: list[str]) -> list[int]:
    """The pks of ``user_ids``, each a visible user of the group's domain."""
    errors: list[UserError] = []
    wanted: list[tuple[int, int]] = []
    for i, ref in enumerate(user_ids):
        parsed = parse_global_id(ref)
        if parsed is None or parsed[0] != "SipUser":
            errors += not_found("SipUser", "userIds", str(i)).errors
        else:
            wanted.append((i, parsed[1]))
    found = {u.id: u for u in await _visible_users(viewer, [pk for _, pk in wanted])}
    pks: list[int] = []
    taken: set[int] = set()  # a set: checking the list would be quadratic
    for i, pk in wanted:
        user = found.get(pk)
        if user is None:
            errors += not_found("SipUser", "userIds", str(i)).errors
        elif user.domain_id != group.domain_id:  # type: ignore[attr-defined]
            errors += invalid(
                "Only users of the group's own domain can be members", "userIds", str(i)
            ).errors
        elif pk not in taken:
            taken.add(pk)
            pks.append(pk)
    check.raise_all(errors)
    return pks


async def _visible_users(viewer: Viewer, pks: list[int]) -> list[SipUser]:
    if not pks:
        return []
    return list(await visible(SipUser, viewer).filter(id__in=sorted(set(pks))))


async def group_members_add(viewer: Viewer, group_id: str, user_ids: list[str]) -> SipGroup:
    """Add users of the group's domain; users already in the group stay as they are."""
    require_write(SipGroupMember, viewer)
    group = await _visible_or_not_found(SipGroup, viewer, group_id, "SipGroup", "groupId")
    pks = await _users_of_group_domain(viewer, group, user_ids)
    async with in_transaction():
        present = set(
            await SipGroupMember.filter(group_id=group.id, user_id__in=pks).values_list(
                "user_id", flat=True
            )
        )
        new = [SipGroupMember(group_id=group.id, user_id=pk) for pk in pks if pk not in present]
        if new:
            await SipGroupMember.bulk_create(new)
    return group


async def group_members_remove(viewer: Viewer, group_id: str, user_ids: list[str]) -> SipGroup:
    """Remove users from the group; users not in it are ignored."""
    require_write(SipGroupMember, viewer)
    group = await _visible_or_not_found(SipGroup, viewer, group_id, "SipGroup", "groupId")
    pks = await _users_of_group_domain(viewer, group, user_ids)
    if pks:
        await SipGroupMember.filter(group_id=group.id, user_id__in=pks).delete()
    return group


# ---------------------------------------------------------------- queues

_QUEUE_FIELDS: dict[str, check.Cleaner] = {
    "queue_name": valid.sip_name,
    "display_name": check.required_text(200),
    "extension_number": valid.extension_number,
    "caller_name_format": valid.caller_name_format,
}


_QUEUE = _Holder(
    SipQueue,
    "SipQueue",
    _QUEUE_FIELDS,
    "queue_name",
    ("input", "queueName"),
    "Queue",
    ExtensionOwner.QUEUE,
)


async def queue_create(viewer: Viewer, domain_id: str, data: dict[str, Any]) -> SipQueue:
    return await _holder_create(_QUEUE, viewer, domain_id, data)


async def queue_update(viewer: Viewer, queue_id: str, data: dict[str, Any]) -> SipQueue:
    return await _holder_update(_QUEUE, viewer, queue_id, data)


async def queue_delete(viewer: Viewer, queue_id: str) -> int:
    """Delete a queue with its members (the member groups stay)."""
    require_write(SipQueue, viewer)
    queue = await _visible_or_not_found(SipQueue, viewer, queue_id, "SipQueue", "id")
    async with in_transaction():
        await _release_extension(queue.domain_id, queue.extension_number, ExtensionOwner.QUEUE)
        await queue.delete()
    return queue.id


def _clean_group_ref(value: Any, path: check.Path) -> int:
    if value is None:
        raise required(*path)
    return decode_id(value, "SipGroup", *path)


_MEMBER_FIELDS: dict[str, check.Cleaner] = {
    "group_id": _clean_group_ref,
    "ring_strategy": check.present,
    "ring_attempts": check.int_between(1, valid.RING_ATTEMPTS_MAX),
    "ring_secs": check.int_between(1, valid.RING_SECS_MAX),
    "ring_order": check.int_between(0, None),
}


async def _member_columns(viewer: Viewer, queue: SipQueue, clean: dict[str, Any]) -> dict[str, Any]:
    """Check the member's group (visible, same domain) and map enums to columns."""
    out = dict(clean)
    if "group_id" in out:
        group = await get_visible(SipGroup, viewer, out["group_id"])
        if group is None:
            raise not_found("SipGroup", "input", "groupId")
        if group.domain_id != queue.domain_id:  # type: ignore[attr-defined]
            raise invalid("The group must belong to the queue's domain", "input", "groupId")
    if "ring_strategy" in out:
        out["ring_strategy"] = RingStrategy(out["ring_strategy"].value)
    return out


async def queue_member_create(viewer: Viewer, queue_id: str, data: dict[str, Any]) -> SipQueue:
    """Add a group to a queue; without ringOrder it rings after the current last member."""
    require_write(SipQueueMember, viewer)
    queue = await _visible_or_not_found(SipQueue, viewer, queue_id, "SipQueue", "queueId")
    clean = check.clean_input(data, _MEMBER_FIELDS, create=("group_id",))
    columns = await _member_columns(viewer, queue, clean)
    async with in_transaction():
        if "ring_order" not in columns:
            orders = await SipQueueMember.filter(queue_id=queue.id).values_list(
                "ring_order", flat=True
            )
            columns["ring_order"] = max(orders, default=-1) + 1  # type: ignore[type-var]
        await SipQueueMember.create(queue_id=queue.id, **columns)
    return queue


async def queue_member_update(viewer: Viewer, member_id: str, data: dict[str, Any]) -> SipQueue:
    require_write(SipQueueMember, viewer)
    member = await _visible_or_not_found(SipQueueMember, viewer, member_id, "SipQueueMember", "id")
    queue = await SipQueue.get(id=member.queue_id)
    clean = check.clean_input(data, _MEMBER_FIELDS)
    member.update_from_dict(await _member_columns(viewer, queue, clean))
    await member.save()
    return queue


async def queue_member_delete(viewer: Viewer, member_id: str) -> SipQueue:
    require_write(SipQueueMember, viewer)
    member = await _visible_or_not_found(SipQueueMember, viewer, member_id, "SipQueueMember", "id")
    queue = await SipQueue.get(id=member.queue_id)
    await member.delete()
    return queue


async def queue_members_reorder(viewer: Viewer, queue_id: str, member_ids: list[str]) -> SipQueue:
    """Set the ring order: ``member_ids`` lists every member of the queue exactly once,
    first to ring first; ringOrder becomes 0..n-1."""
    require_write(SipQueueMember, viewer)
    queue = await _visible_or_not_found(SipQueue, viewer, queue_id, "SipQueue", "queueId")
    members = {m.id: m for m in await SipQueueMember.filter(queue_id=queue.id)}
    parsed = [parse_global_id(ref) for ref in member_ids]
    pks = [p[1] for p in parsed if p is not None and p[0] == "SipQueueMember"]
    if len(pks) != len(member_ids) or len(set(pks)) != len(pks) or set(pks) != set(members):
        raise invalid("memberIds must list every member of the queue exactly once", "memberIds")
    for order, pk in enumerate(pks):
        members[pk].ring_order = order
    if members:
        async with in_transaction():
            await SipQueueMember.bulk_update(list(members.values()), fields=["ring_order"])
    return queue


# ---------------------------------------------------------------- trusted networks

_NETWORK_FIELDS: dict[str, check.Cleaner] = {
    "network": valid.network,
    "description": check.optional_text(500),
}


async def _check_network(
    domain_id: int, clean: dict[str, Any], exclude_id: int | None = None
) -> None:
    if "network" in clean:
        check.raise_all(
            await _check_unique(
                TrustedNetwork,
                domain_id,
                "network",
                clean["network"],
                ("input", "network"),
                "Trusted network",
                exclude_id=exclude_id,
            )
        )


async def trusted_network_create(
    viewer: Viewer, domain_id: str, data: dict[str, Any]
) -> TrustedNetwork:
    require_write(TrustedNetwork, viewer)
    domain = await _visible_or_not_found(SipDomain, viewer, domain_id, "SipDomain", "domainId")
    clean = check.clean_input(data, _NETWORK_FIELDS, create=("network",))
    await _check_network(domain.id, clean)
    try:
        return await TrustedNetwork.create(domain_id=domain.id, **clean)
    except IntegrityError as exc:
        raise duplicate("Trusted network exists already", "input", "network") from exc


async def trusted_network_update(
    viewer: Viewer, network_id: str, data: dict[str, Any]
) -> TrustedNetwork:
    require_write(TrustedNetwork, viewer)
    row = await _visible_or_not_found(TrustedNetwork, viewer, network_id, "TrustedNetwork", "id")
    clean = check.clean_input(data, _NETWORK_FIELDS)
    await _check_network(row.domain_id, clean, exclude_id=row.id)
    row.update_from_dict(clean)
    try:
        await row.save()
    except IntegrityError as exc:
        raise duplicate("Trusted network exists already", "input", "network") from exc
    return row


async def trusted_network_delete(viewer: Viewer, network_id: str) -> int:
    require_write(TrustedNetwork, viewer)
    row = await _visible_or_not_found(TrustedNetwork, viewer, network_id, "TrustedNetwork", "id")
    await row.delete()
    return row.id
