"""Rendering phone and DECT base configs from their Jinja2 templates.

Templates are written by operators and rendered with phones' credentials in the
context, so they run in Jinja2's sandbox: no attribute access to Python internals,
bounded ``range``. ``StrictUndefined`` makes a typo fail loudly instead of leaving a
silently empty value in a phone's config.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from tortoise.expressions import Q

from app.core.crypto import decrypt
from app.core.errors import ErrorCode, UserInputError, invalid
from app.core.models import Company
from app.core.scalars import format_mac
from app.devices import models
from app.devices.catalogue import config_filename, line_auth_name

# What one render may take: a template is an operator's program, run for every phone
# that fetches its config, so it is bounded in time and in what it writes.
RENDER_SECONDS = 2.0
RENDER_MAX_BYTES = 1 << 20
# The largest string or number an expression may build ('a' * n, x ** n).
_MAX_VALUE_CHARS = 100_000
_MAX_RANGE = 10_000


class RenderLimitError(TemplateError):
    """A render went past its time or size bound."""


class _Budget(threading.local):
    deadline: float = float("inf")


_BUDGET = _Budget()


def _check_time() -> None:
    if time.monotonic() > _BUDGET.deadline:
        raise RenderLimitError(f"rendering took longer than {RENDER_SECONDS:g} s")


def _bounded_range(*args: int) -> Iterator[int]:
    """``range`` whose iterations count against the render's time (loops that write
    nothing still end) and whose length is bounded."""
    numbers = range(*args)
    if len(numbers) > _MAX_RANGE:
        raise RenderLimitError(f"range() of more than {_MAX_RANGE} numbers")
    for i, n in enumerate(numbers):
        if i % 256 == 0:
            _check_time()
        yield n


class _TemplateEnvironment(SandboxedEnvironment):
    """Jinja2's sandbox, with the operators that build large values bounded."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int) and abs(right) > 64:
                raise RenderLimitError("exponent larger than 64")
            return left**right
        if isinstance(left, (str, list, tuple)) and isinstance(right, int):
            size = len(left) * right
        elif isinstance(right, (str, list, tuple)) and isinstance(left, int):
            size = len(right) * left
        else:
            size = 0
        if size > _MAX_VALUE_CHARS:
            raise RenderLimitError(f"a value of more than {_MAX_VALUE_CHARS} items")
        return left * right


def _environment(autoescape: bool) -> SandboxedEnvironment:
    env = _TemplateEnvironment(
        autoescape=autoescape, undefined=StrictUndefined, keep_trailing_newline=True
    )
    env.globals["range"] = _bounded_range
    env.globals.pop("lipsum", None)
    return env


# XML configs (Cisco's SEP<MAC>.cnf.xml) are escaped: a phone or user name holding
# markup stays text. A template author who means markup writes ``|safe``.
_XML_ENV = _environment(autoescape=True)
_TEXT_ENV = _environment(autoescape=False)


def _is_xml(filename: str | None) -> bool:
    return bool(filename) and filename.lower().endswith(".xml")


def check_template(content: str, *path: str, filename: str | None = None) -> None:
    """Refuse (INVALID at ``path``) a template that does not compile, naming the line."""
    try:
        _compiled(content, _is_xml(filename))
    except TemplateSyntaxError as exc:
        raise invalid(f"line {exc.lineno}: {exc.message}", *path) from exc
    except TemplateError as exc:  # e.g. an unknown filter, found at compile time
        raise invalid(f"template does not compile: {exc}", *path) from exc


@lru_cache(maxsize=64)
def _compiled(content: str, xml: bool) -> Template:
    return (_XML_ENV if xml else _TEXT_ENV).from_string(content)


def _render_bounded(template: Template, context: dict[str, Any]) -> bytes:
    """Render within :data:`RENDER_SECONDS` and :data:`RENDER_MAX_BYTES` (in a worker
    thread: the event loop keeps serving while it runs)."""
    _BUDGET.deadline = time.monotonic() + RENDER_SECONDS
    try:
        out: list[bytes] = []
        size = 0
        for chunk in template.generate(context):
            data = chunk.encode("utf-8")
            size += len(data)
            if size > RENDER_MAX_BYTES:
                raise RenderLimitError(f"the config would be larger than {RENDER_MAX_BYTES} bytes")
            out.append(data)
            _check_time()
        return b"".join(out)
    finally:
        _BUDGET.deadline = float("inf")


async def _render(template: models.PhoneTemplate, context: dict[str, Any], *path: str) -> bytes:
    def failed(exc: Exception) -> UserInputError:
        return UserInputError(
            ErrorCode.INVALID,
            f"template {template.filename!r} could not be rendered: {exc}",
            path or None,
        )

    try:
        compiled = _compiled(template.content, _is_xml(template.filename))
        return await asyncio.to_thread(_render_bounded, compiled, context)
    except TemplateError as exc:
        raise failed(exc) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError, OverflowError) as exc:
        raise failed(exc) from exc
    except RecursionError:  # a macro that calls itself without end
        raise failed(RenderLimitError("macros call each other too deeply")) from None


def _user(row: Any) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "username": row.username,
        "display_name": row.display_name,
        "extension": row.extension_number,
        "email": row.email,
        "first_name": row.first_name,
        "last_name": row.last_name,
    }


def _model(row: models.PhoneModel | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"vendor": row.vendor, "name": row.name, "line_count": row.line_count}


async def _users_and_domains(user_ids: set[int]) -> tuple[dict[int, Any], dict[int, Any]]:
    from app.pbx.models import SipDomain, SipUser

    users = {u.id: u for u in await SipUser.filter(id__in=user_ids)} if user_ids else {}
    domain_ids = {u.domain_id for u in users.values()}  # type: ignore[attr-defined]
    domains = {d.id: d for d in await SipDomain.filter(id__in=domain_ids)} if domain_ids else {}
    return users, domains


# What a masked render shows in place of every stored secret (CONTRACT §7).
MASK = "********"


def hotdesk_services_url(
    company: Company | None, phone: models.Phone, *, masked: bool = False
) -> str | None:
    """Where a hot-desk phone's Services button leads (CONTRACT §6): the hot-desk
    service of its company at ``PHONEGRAPH_PUBLIC_URL``; the phone fills in its name.
    ``masked``: with the provisioning key (a secret) shown as :data:`MASK`."""
    if company is None or not phone.can_hotdesk:
        return None
    from urllib.parse import quote

    from app.settings import get_settings

    key = MASK if masked else quote(decrypt(company.provisioning_key_enc), safe="")
    base = get_settings().resolved_public_url
    return f"{base}/services/{key}/hotdesk?device=#DEVICENAME#"


@dataclass
class PhoneFacts:
    """Everything a phone's template sees, read from the database (see :func:`phone_facts`)."""

    phone: models.Phone
    model: models.PhoneModel | None
    company: Company | None
    template: models.PhoneTemplate | None
    lines: list[models.PhoneLine]
    users: dict[int, Any]
    domains: dict[int, Any]


def _secret(enc: str | None, masked: bool) -> str | None:
    if not enc:
        return None
    return MASK if masked else decrypt(enc)


def _context_of(facts: PhoneFacts, only_user_id: int | None, masked: bool) -> dict[str, Any]:
    """The template context of ``facts``; ``masked``: every stored secret as :data:`MASK`."""
    phone, lines = facts.phone, facts.lines
    if only_user_id is not None:
        first = next((line for line in lines if line.port == 1), None)
        line = models.PhoneLine(
            phone_id=phone.id,
            port=1,
            sip_user_id=only_user_id,
            auth_secret_enc=first.auth_secret_enc if first else None,
        )
        lines = [line]
    line_ctx = []
    sip_domain = None
    for line in lines:
        user = facts.users.get(line.sip_user_id)  # type: ignore[attr-defined]
        domain = facts.domains.get(user.domain_id) if user else None  # type: ignore[attr-defined]
        if domain is not None and sip_domain is None:
            sip_domain = {"name": domain.name, "display_name": domain.display_name}
        line_ctx.append(
            {
                "port": line.port,
                "auth_name": line_auth_name(phone.mac, line.port),
                "auth_secret": _secret(line.auth_secret_enc, masked) or "",
                "user": _user(user),
                "domain": domain.name if domain else None,
            }
        )
    company = facts.company
    return {
        "phone": {
            "mac": phone.mac,
            "mac_colon": format_mac(phone.mac),
            "mac_lower": phone.mac.lower(),
            "name": phone.name,
            "timezone": phone.timezone,
            "language": phone.language,
            "codecs": list(phone.codecs or []),
            "can_hotdesk": phone.can_hotdesk,
            "can_forward": phone.can_forward,
            "ip_address": phone.ip_address,
            "http_port": phone.http_port,
            "sip_port": phone.sip_port,
            "web_username": phone.web_username,
            "web_password": _secret(phone.web_password_enc, masked),
            "model": _model(facts.model),
            "services_url": hotdesk_services_url(company, phone, masked=masked),
        },
        "lines": line_ctx,
        "company": {"name": company.name} if company else None,
        "sip_domain": sip_domain,
    }


async def phone_facts(
    phones: list[models.Phone], extra_user_ids: set[int] | None = None
) -> list[PhoneFacts]:
    """What the templates of ``phones`` see, in a fixed number of statements whatever
    their number (models, companies, templates, lines, users, domains: one each)."""
    if not phones:
        return []
    model_ids = {p.model_id for p in phones if p.model_id is not None}  # type: ignore[attr-defined]
    company_ids = {p.company_id for p in phones if p.company_id is not None}  # type: ignore[attr-defined]
    template_ids = {p.template_id for p in phones if p.template_id is not None}  # type: ignore[attr-defined]
    phone_models = (
        {m.id: m for m in await models.PhoneModel.filter(id__in=model_ids)} if model_ids else {}
    )
    companies = {c.id: c for c in await Company.filter(id__in=company_ids)} if company_ids else {}
    templates = (
        {t.id: t for t in await models.PhoneTemplate.filter(id__in=template_ids)}
        if template_ids
        else {}
    )
    by_phone: dict[int, list[models.PhoneLine]] = {p.id: [] for p in phones}
    for line in await models.PhoneLine.filter(phone_id__in=list(by_phone)).order_by(
        "phone_id", "port"
    ):
        by_phone[line.phone_id].append(line)  # type: ignore[attr-defined]
    user_ids = set(extra_user_ids or ()) | {
        line.sip_user_id  # type: ignore[attr-defined]
        for lines in by_phone.values()
        for line in lines
        if line.sip_user_id is not None  # type: ignore[attr-defined]
    }
    users, domains = await _users_and_domains(user_ids)
    out = []
    for phone in phones:
        template = templates.get(phone.template_id)  # type: ignore[attr-defined]
        # A company's own template is never another company's (the phone moved).
        if template is not None and template.company_id not in (None, phone.company_id):  # type: ignore[attr-defined]
            template = None
        out.append(
            PhoneFacts(
                phone=phone,
                model=phone_models.get(phone.model_id),  # type: ignore[attr-defined]
                company=companies.get(phone.company_id),  # type: ignore[attr-defined]
                template=template,
                lines=by_phone[phone.id],
                users=users,
                domains=domains,
            )
        )
    return out


async def phone_context(phone: models.Phone, only_user_id: int | None = None) -> dict[str, Any]:
    """What a phone's template sees (secrets decrypted: the config is for the phone).

    ``only_user_id``: the lines as a hot-desk login has them — that user on line 1 (with
    line 1's credentials) and no other line."""
    extra = {only_user_id} if only_user_id is not None else set()
    (facts,) = await phone_facts([phone], extra)
    return _context_of(facts, only_user_id, masked=False)


def phone_secrets(facts: PhoneFacts) -> list[str]:
    """The stored secrets the server may put into the phone's config (its lines' SIP
    secrets, its web password, its company's provisioning key), for masking text the
    server did not render itself."""
    found = [decrypt(line.auth_secret_enc) for line in facts.lines if line.auth_secret_enc]
    if facts.phone.web_password_enc:
        found.append(decrypt(facts.phone.web_password_enc))
    if facts.company is not None and facts.company.provisioning_key_enc:
        found.append(decrypt(facts.company.provisioning_key_enc))
    return [s for s in found if s]


def shown_text(data: bytes) -> str:
    """A config file's bytes as text to show and store: bytes that are not UTF-8 and
    NUL characters (which PostgreSQL text cannot hold) as U+FFFD."""
    return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def mask_secrets(text: str, secrets: list[str]) -> str:
    """``text`` with every occurrence of each of ``secrets`` shown as :data:`MASK`."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


@dataclass
class RenderedConfig:
    """A phone's config: the exact bytes for the phone, and the text shown to people."""

    filename: str
    data: bytes
    # The same render with every stored secret as MASK.
    masked: str


def _checked_template(facts: PhoneFacts) -> models.PhoneTemplate:
    """The phone's template, or the reason it has none it can be rendered with."""
    if facts.model is None:
        raise UserInputError(
            ErrorCode.REQUIRED, "The phone has no model, so no config file name", ["mac"]
        )
    template = facts.template
    if template is None:
        raise UserInputError(ErrorCode.REQUIRED, "The phone has no template", ["mac"])
    if template.model_id is not None and template.model_id != facts.model.id:  # type: ignore[attr-defined]
        raise UserInputError(
            ErrorCode.INCOMPATIBLE, "The phone's template is for another model", ["mac"]
        )
    return template


async def render_facts(
    facts: PhoneFacts, only_user_id: int | None = None, *, exact: bool = True
) -> RenderedConfig:
    """Render the phone's template: the masked text always, the exact bytes when
    ``exact`` (a preview writes nothing and needs no secret). Errors as
    :func:`render_phone_config`."""
    template = _checked_template(facts)
    assert facts.model is not None
    filename = config_filename(facts.model.config_filename_pattern, facts.phone.mac)
    # The masked render shows each secret as MASK exactly where the template puts it
    # (whatever it does with it: MASK|upper, MASK[:4] hide nothing). Its text is not
    # searched for the secrets' values: a short web password ("cisco") is also part of
    # other text, which would be garbled (and would point at the password), and the
    # preview, which has no exact render, would always differ from the revision.
    masked = await _render(template, _context_of(facts, only_user_id, masked=True), "mac")
    data = await _render_exact(template, facts, only_user_id) if exact else b""
    return RenderedConfig(filename=filename, data=data, masked=shown_text(masked))


async def _render_exact(
    template: models.PhoneTemplate, facts: PhoneFacts, only_user_id: int | None
) -> bytes:
    """The config with the real secrets; a failure's message (a lookup by a secret
    names the key) shows them masked: it goes to job errors and logs."""
    try:
        return await _render(template, _context_of(facts, only_user_id, masked=False), "mac")
    except UserInputError as exc:
        error = exc.errors[0]
        message = mask_secrets(error.message, phone_secrets(facts))
        raise UserInputError(error.code, message, error.field) from None


async def render_phone_config_masked(
    phone_id: int, only_user_id: int | None = None
) -> RenderedConfig:
    """:func:`render_phone_config` with the masked text of the same render."""
    phone = await models.Phone.get_or_none(id=phone_id)
    if phone is None:
        raise UserInputError(ErrorCode.NOT_FOUND, "Phone not found", ["mac"])
    extra = {only_user_id} if only_user_id is not None else set()
    (facts,) = await phone_facts([phone], extra)
    return await render_facts(facts, only_user_id)


async def render_phone_config(
    phone_id: int, only_user_id: int | None = None
) -> tuple[str, bytes]:
    """The config file of a phone: (file name from its model's pattern, rendered bytes).
    ``only_user_id``: rendered for a hot-desk login (see :func:`phone_context`).

    Raises ``UserInputError`` (field ``["mac"]``): NOT_FOUND for an unknown phone,
    REQUIRED when it has no model or no template, INVALID when the template fails.
    """
    phone = await models.Phone.get_or_none(id=phone_id)
    if phone is None:
        raise UserInputError(ErrorCode.NOT_FOUND, "Phone not found", ["mac"])
    extra = {only_user_id} if only_user_id is not None else set()
    (facts,) = await phone_facts([phone], extra)
    template = _checked_template(facts)
    assert facts.model is not None
    body = await _render_exact(template, facts, only_user_id)
    return config_filename(facts.model.config_filename_pattern, phone.mac), body


async def dect_context(base: models.DectBase) -> dict[str, Any]:
    """What a DECT base's template sees."""
    from app.pbx.models import SipDomain, SipUser

    model = await models.PhoneModel.get_or_none(id=base.model_id)  # type: ignore[attr-defined]
    company = await Company.get_or_none(id=base.company_id)  # type: ignore[attr-defined]
    members = await models.DectMember.filter(base_id=base.id).order_by("id")
    by_ext: dict[str, Any] = {}
    if members and base.company_id is not None:  # type: ignore[attr-defined]
        domain_ids = await SipDomain.filter(company_id=base.company_id).values_list(  # type: ignore[attr-defined]
            "id", flat=True
        )
        rows = await SipUser.filter(
            domain_id__in=list(domain_ids),
            extension_number__in=[m.extension_number for m in members],
        ).order_by("id")
        for row in rows:
            by_ext.setdefault(row.extension_number, row)
    return {
        "base": {
            "name": base.name,
            "mac": base.mac,
            "mac_colon": format_mac(base.mac),
            "mac_lower": base.mac.lower(),
            "timezone": base.timezone,
            "region": base.region,
            "language": str(base.language),
            "handset_language": str(base.handset_language) if base.handset_language else None,
            "tone": base.tone,
            "rps": base.rps,
            "https": base.https,
            "codecs": list(base.codecs or []),
            "interface": str(base.interface),
            "preferred_transport": str(base.preferred_transport),
            "password": decrypt(base.password_enc) if base.password_enc else None,
            "user_password": decrypt(base.user_password_enc) if base.user_password_enc else None,
            "engineer_password": (
                decrypt(base.engineer_password_enc) if base.engineer_password_enc else None
            ),
            "model": _model(model),
        },
        "members": [
            {
                "extension": m.extension_number,
                "handset_index": m.handset_index,
                "ipui": m.ipui,
                "user": _user(by_ext.get(m.extension_number)),
            }
            for m in members
        ],
        "company": {"name": company.name} if company else None,
    }


async def render_dect_config(base_id: int) -> tuple[str, bytes]:
    """The config file of a DECT base: (file name from its model's pattern, bytes)."""
    base = await models.DectBase.get_or_none(id=base_id)
    if base is None:
        raise UserInputError(ErrorCode.NOT_FOUND, "DECT base not found", ["id"])
    model = await models.PhoneModel.get_or_none(id=base.model_id)  # type: ignore[attr-defined]
    if model is None:
        raise UserInputError(ErrorCode.REQUIRED, "The DECT base has no model", ["id"])
    template = await models.PhoneTemplate.get_or_none(
        Q(company_id=None) | Q(company_id=base.company_id),  # type: ignore[attr-defined]
        id=base.template_id,  # type: ignore[attr-defined]
    )
    if template is None:
        raise UserInputError(ErrorCode.REQUIRED, "The DECT base has no template", ["id"])
    body = await _render(template, await dect_context(base), "id")
    return config_filename(model.config_filename_pattern, base.mac), body
