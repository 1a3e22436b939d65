"""Rules of phone profiles: who may own, see and change them, and what they may hold.

Admins manage the profiles of the SIP users in their scope. A USER token sees only its
own profiles and creates, changes and deletes only those (it cannot give one away).
"""

from __future__ import annotations

from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from app.core.auth import Viewer
from app.core.errors import invalid, not_found, required
from app.core.ids import decode_id
from app.core.models import Role
from app.core.scope import get_visible, require_write, visible
from app.core.validation import (
    Cleaner,
    Path,
    clean_input,
    optional_text,
    required_text,
    search_text,
)
from app.devices.models import SoftwareType
from app.pbx.models import SipUser
from app.profiles import signals
from app.profiles.models import PhoneProfile
from app.profiles.validation import check_cnf_xml

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_MODELS = 100


def _require_profile_write(viewer: Viewer) -> None:
    # USER tokens write their own profiles; scoping (visible owner) limits them to those.
    if viewer.role != Role.USER:
        require_write(PhoneProfile, viewer)


async def _owner(viewer: Viewer, value: Any) -> SipUser:
    field = ("input", "ownerId")
    if value is None:
        raise required(*field)
    user = await get_visible(SipUser, viewer, decode_id(str(value), "SipUser", *field))
    if user is None:
        raise not_found("SipUser", *field)
    return user


def _models(value: Any, path: Path) -> list[str]:
    """Model names, trimmed, each once, in the order sent."""
    if value is None:
        return []
    if len(value) > MAX_MODELS:  # before any per-item work
        raise invalid(f"at most {MAX_MODELS} model names", *path)
    out: dict[str, None] = {}
    for i, item in enumerate(value):
        name = str(item).strip()
        if not name or len(name) > 64:
            raise invalid("model names are 1 to 64 characters", *path, str(i))
        out.setdefault(name)
    return list(out)


def _software_type(value: Any, path: Path) -> SoftwareType | None:
    if value is None:
        return None
    return SoftwareType(getattr(value, "value", value))


_FIELDS: dict[str, Cleaner] = {
    "name": required_text(MAX_NAME),
    "description": optional_text(MAX_DESCRIPTION),
    "cnf_xml": lambda value, path: check_cnf_xml(value),
    "compatible_models": _models,
    "software_type": _software_type,
}
_REQUIRED_ON_CREATE = ("name", "cnf_xml")


async def profile_create(viewer: Viewer, data: dict[str, Any]) -> PhoneProfile:
    """A new profile; ``data`` holds the input fields sent (snake_case)."""
    _require_profile_write(viewer)
    owner_value = data.get("owner_id")
    if owner_value is None and viewer.role == Role.USER and viewer.sip_user_id is not None:
        owner = await SipUser.get(id=viewer.sip_user_id)
    else:
        owner = await _owner(viewer, owner_value)
    clean = clean_input(data, _FIELDS, create=_REQUIRED_ON_CREATE)
    return await PhoneProfile.create(owner=owner, **clean)


async def get_profile(viewer: Viewer, profile_id: str, *field: str) -> PhoneProfile:
    """The visible profile with this global id, or NOT_FOUND on ``field``."""
    pk = decode_id(profile_id, "PhoneProfile", *field)
    profile = await get_visible(PhoneProfile, viewer, pk)
    if profile is None:
        raise not_found("PhoneProfile", *field)
    return profile


async def profile_update(viewer: Viewer, profile_id: str, data: dict[str, Any]) -> PhoneProfile:
    """Change the fields sent; omitted fields stay as they are."""
    _require_profile_write(viewer)
    profile = await get_profile(viewer, profile_id, "id")
    if "owner_id" in data:
        profile.owner = await _owner(viewer, data["owner_id"])
    profile.update_from_dict(clean_input(data, _FIELDS))
    await profile.save()
    return profile


async def profile_delete(viewer: Viewer, profile_id: str) -> int:
    """Delete a profile no deploy job is still waiting to upload."""
    _require_profile_write(viewer)
    profile = await get_profile(viewer, profile_id, "id")
    async with in_transaction():
        await signals.profile_deleting.send(profile)
        await profile.delete()
    return profile.id


async def filter_profiles(viewer: Viewer, flt: Any) -> QuerySet[PhoneProfile]:
    """Visible profiles matching a ``PhoneProfileFilter`` (or all visible ones)."""
    from app.core.ids import decode_arg

    qs = visible(PhoneProfile, viewer)
    if flt is None:
        return qs
    if flt.owner_id is not None:
        qs = qs.filter(owner_id=decode_arg(flt.owner_id, "SipUser", "filter.ownerId"))
    if flt.software_type is not None:
        value = getattr(flt.software_type, "value", flt.software_type)
        qs = qs.filter(Q(software_type=value) | Q(software_type__isnull=True))
    term = search_text(flt.search)
    if term:
        qs = qs.filter(Q(name__icontains=term) | Q(description__icontains=term))
    if flt.compatible_with_model is not None:
        # The model list is JSON; matching inside it the same way on SQLite and
        # PostgreSQL is simplest over the (small) id/list pairs.
        wanted = flt.compatible_with_model.strip()
        pairs = await qs.values_list("id", "compatible_models")
        ids = [pk for pk, names in pairs if not names or wanted in names]
        qs = qs.filter(id__in=ids)
    return qs


def fits_model(profile: PhoneProfile, model_name: str | None) -> bool:
    models = list(profile.compatible_models or [])
    return not models or (model_name is not None and model_name in models)


def fits_software(profile: PhoneProfile, software_types: list[str] | None) -> bool:
    if profile.software_type is None:
        return True
    return str(profile.software_type) in [str(s) for s in (software_types or [])]
