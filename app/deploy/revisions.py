"""Config history (CONTRACT §7): every file a job writes to a phone's config target.

A revision is prepared before the job's fenced write (its hash, its masked text, the
diff against the phone's newest revision, the bytes encrypted) and stored inside that
write (:func:`app.deploy.leases.record`), so a process that lost its job's lease stores
none. Jobs of one phone never run at once, so the newest revision read before the write
is still the newest when it commits — or the write is refused for the lost lease.

The bytes are kept encrypted (``app.core.crypto.encrypt_bytes``) for a rollback and
never shown; ``content`` shows every stored secret the server put into the file as
``********``: a rendered template is rendered a second time with the secrets masked, and
a file the server did not render (a profile's cnfXml, bytes kept from before a hot-desk
login) has the phone's known secrets and the values of its ``…Password`` elements
masked — starting from the content of the phone's revision of the same bytes, if it has
one (which knew whose profile it was).
"""

from __future__ import annotations

import asyncio
import difflib
import hashlib
import html
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from app.core.crypto import decrypt, decrypt_bytes, encrypt_bytes, mask_password_elements
from app.deploy.kinds import ConfigFile
from app.deploy.models import ConfigRevision, ConfigRevisionReason, DeployJob, DeployJobKind
from app.deploy.wire.errors import PhoneStepError
from app.devices.models import Phone
from app.devices.rendering import MASK, mask_secrets, phone_facts, phone_secrets, shown_text
from app.settings import get_settings

# Revisions removed per statement when a phone has more than it keeps.
_PRUNE_BATCH = 100

# Elements of a config the server did not render whose text is a password
# (<authPassword>, <phonePassword>, <sshPassword>...).
_REASONS = {
    DeployJobKind.PROFILE_DEPLOY: ConfigRevisionReason.PROFILE_DEPLOY,
    DeployJobKind.REPROVISION: ConfigRevisionReason.REPROVISION,
    DeployJobKind.HOTDESK_LOGIN: ConfigRevisionReason.HOTDESK_LOGIN,
    DeployJobKind.HOTDESK_LOGOUT: ConfigRevisionReason.HOTDESK_LOGOUT,
    DeployJobKind.ROLLBACK: ConfigRevisionReason.ROLLBACK,
}


def unified_diff(before: str | None, after: str, before_name: str, after_name: str) -> str:
    """A unified diff (``---``/``+++`` headers) of two texts; every line added when
    there is no ``before``; empty when they are equal."""
    old = _lines(before) if before is not None else []
    new = _lines(after)
    lines = []
    for line in difflib.unified_diff(old, new, fromfile=before_name, tofile=after_name):
        lines.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(lines)


def _lines(text: str) -> list[str]:
    """``text`` cut after each ``\n`` only (``str.splitlines`` also cuts at ``\r``,
    form feeds and Unicode separators, which are characters of a line in a config)."""
    lines = text.split("\n")
    last = lines.pop()
    return [line + "\n" for line in lines] + ([last] if last else [])


def revision_label(revision: ConfigRevision | None) -> str:
    """How a diff names a revision: its file name and its number (or /dev/null)."""
    if revision is None:
        return "/dev/null"
    return f"{revision.filename} (revision {revision.id})"


async def masked_text(
    phone: Phone, data: bytes | str, extra_user_ids: set[int] | None = None
) -> str:
    """``data`` as people see it, for a file the server did not render: the phone's
    stored secrets, the SIP passwords of its lines' users (and of ``extra_user_ids``)
    and every password element's value as ``********``."""
    (facts,) = await phone_facts([phone], extra_user_ids)
    secrets = phone_secrets(facts)
    # The SIP passwords of the users on its lines (and of a profile's owner), which a
    # hand-written cnfXml may hold.
    secrets += [decrypt(u.password_enc) for u in facts.users.values() if u.password_enc]
    text = data if isinstance(data, str) else shown_text(data)
    text = mask_secrets(text, [form for s in secrets if s for form in _written_forms(s)])
    return mask_password_elements(text, MASK)


def _written_forms(secret: str) -> set[str]:
    """How a file may hold ``secret``: as is, escaped as XML text or attribute (the way
    Python, Jinja2 or a person escapes it), percent-encoded in a URL."""
    forms = {
        secret,
        html.escape(secret, quote=False),
        html.escape(secret),
        # Jinja2's autoescape (markupsafe)
        html.escape(secret, quote=False).replace('"', "&#34;").replace("'", "&#39;"),
        html.escape(secret).replace("&#x27;", "&apos;"),
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
    }
    return {f for f in forms if f}


async def newest(phone_id: int) -> ConfigRevision | None:
    return await ConfigRevision.filter(phone_id=phone_id).order_by("-id").first()


@dataclass
class PreparedRevision:
    """A revision ready to be stored inside the job's fenced write."""

    phone_id: int
    job_id: int
    reason: ConfigRevisionReason
    filename: str
    sha256: str
    size: int
    content: str
    diff: str
    data_enc: str

    async def store(self) -> None:
        """Insert it and drop the phone's revisions beyond PHONEGRAPH_CONFIG_REVISIONS
        (inside the caller's transaction)."""
        await ConfigRevision.create(
            phone_id=self.phone_id,
            job_id=self.job_id,
            reason=self.reason,
            filename=self.filename,
            sha256=self.sha256,
            size=self.size,
            content=self.content,
            diff=self.diff,
            data_enc=self.data_enc,
        )
        keep = get_settings().config_revisions
        while True:
            old = await (
                ConfigRevision.filter(phone_id=self.phone_id)
                .order_by("-id")
                .offset(keep)
                .limit(_PRUNE_BATCH)
                .values_list("id", flat=True)
            )
            if not old:
                return
            await ConfigRevision.filter(id__in=list(old)).delete()


async def prepare(job: DeployJob, phone: Phone, config: ConfigFile) -> PreparedRevision:
    """The revision of ``config`` as ``job`` wrote it (nothing stored yet)."""
    sha256 = hashlib.sha256(config.data).hexdigest()
    content = config.masked
    if content is None:
        users = set(config.users)
        owner = await _profile_owner(job)
        if owner:
            users.add(owner)
        # Bytes the phone had before (a hot-desk logout puts back what the login found,
        # often a profile's): masked as their revision was, which knew whose they were.
        kept = (
            await ConfigRevision.filter(phone_id=phone.id, sha256=sha256)
            .order_by("-id")
            .first()
        )
        content = await masked_text(phone, kept.content if kept else config.data, users)
    else:
        content = content.replace("\x00", "\ufffd")  # PostgreSQL text holds no NUL
    before = await newest(phone.id)
    after_name = f"{config.filename} (this upload)"
    diff = await asyncio.to_thread(
        unified_diff,
        before.content if before else None,
        content,
        revision_label(before),
        after_name,
    )
    return PreparedRevision(
        phone_id=phone.id,
        job_id=job.id,
        reason=_REASONS[DeployJobKind(job.kind)],
        filename=config.filename,
        sha256=sha256,
        size=len(config.data),
        content=content,
        diff=diff,
        data_enc=encrypt_bytes(config.data),
    )


async def _profile_owner(job: DeployJob) -> int | None:
    from app.profiles.models import PhoneProfile

    if job.profile_id is None:  # type: ignore[attr-defined]
        return None
    profile = await PhoneProfile.get_or_none(id=job.profile_id)  # type: ignore[attr-defined]
    return profile.owner_id if profile else None  # type: ignore[attr-defined]


async def rollback_config(job: DeployJob, phone: Phone) -> ConfigFile:
    """What a ROLLBACK job writes: exactly the bytes of its revision, under its name."""
    revision = await ConfigRevision.get_or_none(id=job.rollback_revision_id, phone_id=phone.id)
    if revision is None:
        raise PhoneStepError(
            "the revision to roll back to no longer exists (only the newest "
            "PHONEGRAPH_CONFIG_REVISIONS of a phone are kept)"
        )
    data = decrypt_bytes(revision.data_enc)
    if hashlib.sha256(data).hexdigest() != revision.sha256:
        raise PhoneStepError("the stored bytes of the revision do not match its SHA-256")
    return ConfigFile(revision.filename, data, masked=revision.content)
