"""The phone model catalogue shipped with the data, and the file names phones ask for.

``catalogue.json`` lists every supported model with the name of the config file it
fetches (``configFilenamePattern``: ``{MAC}`` is 12 upper-case hex digits, ``{mac}`` 12
lower-case ones). :func:`sync_catalogue` upserts it after every migration run, so a
new release's models appear without a migration of their own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from tortoise.exceptions import IntegrityError

from app.devices.models import PhoneModel, PhoneTemplate

_PLACEHOLDERS = {"{MAC}": "(?P<mac>[0-9A-F]{12})", "{mac}": "(?P<mac>[0-9a-f]{12})"}


@lru_cache(maxsize=1)
def load_catalogue() -> dict[str, Any]:
    """The shipped catalogue document."""
    text = resources.files("app.devices").joinpath("catalogue.json").read_text("utf-8")
    return json.loads(text)


def builtin_template_content(file: str) -> str:
    return resources.files("app.devices").joinpath("builtin_templates", file).read_text("utf-8")


def config_filename(pattern: str, mac: str) -> str:
    """The file name a phone with ``mac`` (12 upper hex) fetches under ``pattern``."""
    return pattern.replace("{MAC}", mac.upper()).replace("{mac}", mac.lower())


@lru_cache(maxsize=256)
def pattern_regex(pattern: str) -> re.Pattern[str]:
    """``SEP{MAC}.cnf.xml`` → a regex capturing the MAC; the case of the hex digits
    and of the literal parts must be what the vendor's phones send."""
    parts = re.split(r"(\{MAC\}|\{mac\})", pattern)
    body = "".join(_PLACEHOLDERS.get(p, re.escape(p)) for p in parts)
    return re.compile(f"^{body}$")


@dataclass(frozen=True)
class FilenameMatch:
    mac: str  # 12 upper-case hex digits
    patterns: tuple[str, ...]  # every catalogue pattern the name fits
    model_ids: tuple[int, ...]  # catalogue models using one of those patterns


async def match_config_filename(filename: str) -> FilenameMatch | None:
    """Which MAC (and which models) a requested file name stands for, if any."""
    rows = await PhoneModel.all().values_list("id", "config_filename_pattern")
    by_pattern: dict[str, list[int]] = {}
    for model_id, pattern in rows:
        by_pattern.setdefault(pattern, []).append(model_id)
    mac = None
    patterns: list[str] = []
    model_ids: list[int] = []
    # An all-digit MAC fits both "{MAC}.cfg" and "{mac}.cfg": keep every candidate.
    for pattern, ids in by_pattern.items():
        found = pattern_regex(pattern).match(filename)
        if found:
            mac = found.group("mac").upper()
            patterns.append(pattern)
            model_ids.extend(ids)
    if mac is None:
        return None
    return FilenameMatch(mac, tuple(patterns), tuple(sorted(model_ids)))


async def sync_catalogue() -> int:
    """Insert or update every catalogue model (keyed by vendor and name) and the
    built-in templates; returns how many models the catalogue has. Idempotent."""
    doc = load_catalogue()
    existing = {(m.vendor, m.name): m for m in await PhoneModel.all()}
    ids: dict[tuple[str, str], int] = {}
    for entry in doc["models"]:
        values = {
            "line_count": int(entry["lineCount"]),
            "is_dect": bool(entry["isDect"]),
            "software_types": list(entry["softwareTypes"]),
            "config_filename_pattern": entry["configFilenamePattern"],
        }
        key = (entry["vendor"], entry["name"])
        row = existing.get(key)
        if row is None:
            try:
                row = await PhoneModel.create(vendor=key[0], name=key[1], **values)
            except IntegrityError:  # another process starting at the same moment won
                row = await PhoneModel.get(vendor=key[0], name=key[1])
        elif any(getattr(row, k) != v for k, v in values.items()):
            await PhoneModel.filter(id=row.id).update(**values)
        ids[key] = row.id
    await _sync_builtin_templates(doc.get("templates", []), ids)
    return len(doc["models"])


async def _sync_builtin_templates(
    entries: list[dict[str, Any]], model_ids: dict[tuple[str, str], int]
) -> None:
    for entry in entries:
        content = builtin_template_content(entry["file"])
        model = entry.get("model")
        model_id = model_ids.get((model["vendor"], model["name"])) if model else None
        row = await PhoneTemplate.get_or_none(filename=entry["filename"])
        if row is None:
            try:
                await PhoneTemplate.create(
                    filename=entry["filename"], content=content, model_id=model_id, is_custom=False
                )
            except IntegrityError:  # created by another process starting at the same moment
                pass
        elif not row.is_custom and (row.content != content or row.model_id != model_id):  # type: ignore[attr-defined]
            row.content, row.model_id = content, model_id  # type: ignore[attr-defined]
            await row.save(update_fields=["content", "model_id", "updated_at"])
        # A custom template that took a built-in's name is the operator's: left alone.


def line_auth_name(mac: str, port: int) -> str:
    """The SIP auth name of a phone's line: its MAC and port, unique server-wide."""
    return f"{mac}-{port}"
