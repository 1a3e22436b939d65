"""GraphQL types of devices: phones and their lines, models, templates, DECT bases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import strawberry

from app.core.audit_schema import AuditEvent
from app.core.context import Info, loaders_of, viewer_of
from app.core.errors import payload_type
from app.core.extend import field_of
from app.core.ids import to_global_id
from app.core.loaders import now_or_later
from app.core.lookahead import flatten, prefetch, present
from app.core.models import Company as CompanyRow
from app.core.models import Role
from app.core.node import Node, register_node
from app.core.pagination import Connection, PageArgs
from app.core.scalars import MacAddress, format_mac
from app.core.types import Company
from app.devices import loaders, models
from app.devices.catalogue import config_filename, line_auth_name
from app.devices.enums import (
    DectLanguage,
    PhoneStatus,
    ProvisioningInterface,
    SoftwareType,
    Transport,
)
from app.devices.filters import PhoneFilter
from app.pbx.models import SipUser as SipUserRow
from app.pbx.types import SipUser

# ---------------------------------------------------------------- phone models


@strawberry.type(description="A phone or DECT base model of the catalogue.")
class PhoneModel(Node):
    id: strawberry.ID
    vendor: str = strawberry.field(
        description='"Cisco", "Yealink", "Snom", "Polycom", "Grandstream", "Gigaset", ...'
    )
    name: str = strawberry.field(
        description='The vendor\'s model number as printed: "8845", "T46U", "D785", "N870".'
    )
    line_count: int = strawberry.field(description="Lines (SIP accounts) the model has.")
    is_dect: bool = strawberry.field(description="A DECT base station rather than a desk phone.")
    software_types: list[SoftwareType]
    config_filename_pattern: str = strawberry.field(
        description="Name of the config file the model fetches: {MAC} stands for the 12 "
        "upper-case hex digits of its MAC, {mac} for the lower-case ones "
        '(e.g. "SEP{MAC}.cnf.xml", "{mac}.cfg").'
    )
    row: strawberry.Private[models.PhoneModel]

    @classmethod
    def from_model(cls, row: models.PhoneModel) -> PhoneModel:
        return cls(
            id=strawberry.ID(to_global_id("PhoneModel", row.id)),
            vendor=row.vendor,
            name=row.name,
            line_count=row.line_count,
            is_dect=row.is_dect,
            software_types=[models.SoftwareType(s) for s in row.software_types],
            config_filename_pattern=row.config_filename_pattern,
            row=row,
        )


register_node("PhoneModel", models.PhoneModel, PhoneModel.from_model)




# ---------------------------------------------------------------- templates


@strawberry.type(
    description="A config file template (Jinja2, rendered in a sandbox for each phone). "
    "Context: phone (mac, mac_colon, mac_lower, name, timezone, language, codecs, "
    "can_hotdesk, can_forward, ip_address, http_port, sip_port, web_username, "
    "web_password, model), lines (port, auth_name, auth_secret, domain, user with "
    "username, display_name, extension, email), company (name), sip_domain (name, "
    "display_name; the domain of the first assigned line). DECT bases get base, "
    "members (extension, handset_index, ipui, user) and company."
)
class PhoneTemplate(Node):
    id: strawberry.ID
    filename: str = strawberry.field(
        description="Letters, digits, '.', '_', '-' only; not starting with '.'."
    )
    content: str
    is_custom: bool = strawberry.field(
        description="False for the templates shipped with the server (read-only; copy one "
        "under a new name to change it)."
    )
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[models.PhoneTemplate]

    @classmethod
    def from_model(cls, row: models.PhoneTemplate) -> PhoneTemplate:
        return cls(
            id=strawberry.ID(to_global_id("PhoneTemplate", row.id)),
            filename=row.filename,
            content=row.content,
            is_custom=row.is_custom,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(description="The company the template belongs to; null: every company's.")
    async def company(self, info: Info) -> Company | None:
        row = await loaders_of(info).one(CompanyRow, self.row.company_id)  # type: ignore[attr-defined]
        return Company.from_model(row) if row else None

    @strawberry.field(description="The model this template is for; null: any model.")
    async def model(self, info: Info) -> PhoneModel | None:
        row = await loaders_of(info).one(models.PhoneModel, self.row.model_id)  # type: ignore[attr-defined]
        return PhoneModel.from_model(row) if row else None


register_node("PhoneTemplate", models.PhoneTemplate, PhoneTemplate.from_model)




# ---------------------------------------------------------------- phones


def _company(row: CompanyRow | None) -> Company | None:
    return Company.from_model(row) if row else None


def _phone_model(row: models.PhoneModel | None) -> PhoneModel | None:
    return PhoneModel.from_model(row) if row else None


def _sip_user(row: SipUserRow | None) -> SipUser | None:
    return SipUser.from_model(row) if row else None


@strawberry.type(description="One line (port) of a phone.")
class PhoneLine:
    port: int
    auth_name: str = strawberry.field(
        description="SIP authentication name of this line (its secret is never readable)."
    )
    has_auth_secret: bool
    row: strawberry.Private[models.PhoneLine]

    @classmethod
    def from_model(cls, row: models.PhoneLine, mac: str) -> PhoneLine:
        return cls(
            port=row.port,
            auth_name=line_auth_name(mac, row.port),
            has_auth_secret=row.auth_secret_enc is not None,
            row=row,
        )

    @strawberry.field(description="The SIP user on this line; null: free.")
    def sip_user(self, info: Info) -> SipUser | None:
        pk = self.row.sip_user_id  # type: ignore[attr-defined]
        if pk is None:
            return None
        return now_or_later(loaders_of(info).one_loader(SipUserRow), pk, _sip_user)


def _detail(column: str) -> Callable[..., Awaitable[str | None]]:
    """A resolver of a phone's connection detail (address, web login): shown to the
    phone's admins, and to a USER only on a phone where it has a line. A USER reaches
    other phones (hot-desk phones it deployed to) through its jobs; their details stay
    hidden."""

    async def resolve(self: Phone, info: Info) -> str | None:
        if viewer_of(info).role == Role.USER and not await loaders.phone_lines(info, self.row.id):
            return None  # the USER's own lines are the only ones it reads
        return getattr(self.row, column)

    resolve.__name__ = column
    return resolve


@strawberry.type(description="A desk phone.")
class Phone(Node):
    id: strawberry.ID
    mac: MacAddress
    name: str | None
    status: PhoneStatus
    ip_address: str | None = strawberry.field(
        resolver=_detail("ip_address"),
        description="Where the server reaches the phone: HTTP for Cisco pushes, SIP (UDP) "
        "for NOTIFY/OPTIONS.",
    )
    http_port: int
    sip_port: int
    timezone: str | None
    language: str | None
    codecs: list[str]
    can_hotdesk: bool
    can_forward: bool
    web_username: str | None = strawberry.field(resolver=_detail("web_username"))
    has_web_password: bool
    last_provisioned_at: datetime | None = strawberry.field(
        description="When the phone last fetched its config from the provisioning endpoint."
    )
    last_seen_ip: str | None = strawberry.field(
        resolver=_detail("last_seen_ip"),
        description="The address the phone last fetched its config from.",
    )
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[models.Phone]

    @classmethod
    def from_model(cls, row: models.Phone) -> Phone:
        return cls(
            id=strawberry.ID(to_global_id("Phone", row.id)),
            mac=MacAddress(format_mac(row.mac)),
            name=row.name,
            status=models.PhoneStatus(row.status),
            http_port=row.http_port,
            sip_port=row.sip_port,
            timezone=row.timezone,
            language=row.language,
            codecs=list(row.codecs or []),
            can_hotdesk=row.can_hotdesk,
            can_forward=row.can_forward,
            has_web_password=row.web_password_enc is not None,
            last_provisioned_at=row.last_provisioned_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field
    def company(self, info: Info) -> Company | None:
        pk = self.row.company_id  # type: ignore[attr-defined]
        if pk is None:
            return None
        return now_or_later(loaders_of(info).one_loader(CompanyRow), pk, _company)

    @strawberry.field
    def model(self, info: Info) -> PhoneModel | None:
        pk = self.row.model_id  # type: ignore[attr-defined]
        if pk is None:
            return None
        return now_or_later(loaders_of(info).one_loader(models.PhoneModel), pk, _phone_model)

    @strawberry.field(description="The template its config is rendered from.")
    async def template(self, info: Info) -> PhoneTemplate | None:
        row = await loaders_of(info).one(models.PhoneTemplate, self.row.template_id)  # type: ignore[attr-defined]
        return PhoneTemplate.from_model(row) if row else None

    @strawberry.field(
        description="Name of the config file this phone fetches (from its model); null "
        "without a model."
    )
    async def config_filename(self, info: Info) -> str | None:
        row = await loaders_of(info).one(models.PhoneModel, self.row.model_id)  # type: ignore[attr-defined]
        return config_filename(row.config_filename_pattern, self.row.mac) if row else None

    @strawberry.field(
        description="Its lines, by port: as many as its model has (1 without a model)."
    )
    def lines(self, info: Info) -> list[PhoneLine]:
        mac = self.row.mac
        return now_or_later(
            loaders.phone_lines_loader(info),
            self.row.id,
            lambda rows: [PhoneLine.from_model(r, mac) for r in rows],
        )

    @strawberry.field(description="The SIP user on line 1.")
    async def assignee(
        self, info: Info
    ) -> SipUser | None:
        rows = await loaders.phone_lines(info, self.row.id)
        first = next((r for r in rows if r.port == 1), None)
        if first is None:
            return None
        row = await loaders_of(info).one(SipUserRow,
            first.sip_user_id,
            "assignee",  # type: ignore[attr-defined]
        )
        return SipUser.from_model(row) if row else None


register_node("Phone", models.Phone, Phone.from_model)










# ---------------------------------------------------------------- DECT


@strawberry.type(description="A handset registered to a DECT base, by extension.")
class DectMember:
    extension_number: str = strawberry.field(description="[0-9]{3,64}")
    handset_index: int | None
    ipui: str | None = strawberry.field(description="The handset's IPUI (10 hex digits).")
    row: strawberry.Private[models.DectMember]
    company_id: strawberry.Private[int | None]

    @classmethod
    def from_model(cls, row: models.DectMember, company_id: int | None) -> DectMember:
        return cls(
            extension_number=row.extension_number,
            handset_index=row.handset_index,
            ipui=row.ipui,
            row=row,
            company_id=company_id,
        )

    @strawberry.field(description="The base's company's SIP user with this extension number.")
    async def sip_user(
        self, info: Info
    ) -> SipUser | None:
        row = await loaders.company_user_by_extension(
            info, self.company_id, self.row.extension_number
        )
        return SipUser.from_model(row) if row else None


@strawberry.type(description="A DECT base station and the handsets registered to it.")
class DectBase(Node):
    id: strawberry.ID
    name: str
    mac: MacAddress
    timezone: str
    region: str | None
    language: DectLanguage
    handset_language: DectLanguage | None
    tone: str = strawberry.field(description="The tone set (country) of the base.")
    rps: bool = strawberry.field(
        description="Whether the base is sent to the vendor's redirect service."
    )
    https: bool
    codecs: list[str]
    interface: ProvisioningInterface
    preferred_transport: Transport
    has_password: bool = strawberry.field(description="Whether a web admin password is set.")
    has_user_password: bool
    has_engineer_password: bool
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[models.DectBase]

    @classmethod
    def from_model(cls, row: models.DectBase) -> DectBase:
        return cls(
            id=strawberry.ID(to_global_id("DectBase", row.id)),
            name=row.name,
            mac=MacAddress(format_mac(row.mac)),
            timezone=row.timezone,
            region=row.region,
            language=models.DectLanguage(row.language),
            handset_language=models.DectLanguage(row.handset_language)
            if row.handset_language
            else None,
            tone=row.tone,
            rps=row.rps,
            https=row.https,
            codecs=list(row.codecs or []),
            interface=models.ProvisioningInterface(row.interface),
            preferred_transport=models.Transport(row.preferred_transport),
            has_password=row.password_enc is not None,
            has_user_password=row.user_password_enc is not None,
            has_engineer_password=row.engineer_password_enc is not None,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field
    async def company(self, info: Info) -> Company | None:
        row = await loaders_of(info).one(CompanyRow, self.row.company_id)  # type: ignore[attr-defined]
        return Company.from_model(row) if row else None

    @strawberry.field
    async def model(self, info: Info) -> PhoneModel | None:
        row = await loaders_of(info).one(models.PhoneModel, self.row.model_id)  # type: ignore[attr-defined]
        return PhoneModel.from_model(row) if row else None

    @strawberry.field
    async def template(self, info: Info) -> PhoneTemplate | None:
        row = await loaders_of(info).one(models.PhoneTemplate, self.row.template_id)  # type: ignore[attr-defined]
        return PhoneTemplate.from_model(row) if row else None

    @strawberry.field(description="Registered handsets, in the order they were set.")
    async def members(self, info: Info) -> list[DectMember]:
        rows = await loaders.dect_members(info, self.row.id)
        company_id = self.row.company_id  # type: ignore[attr-defined]
        return [DectMember.from_model(r, company_id) for r in rows]

    @strawberry.field(description="The member with this extension number, or null.")
    async def member(self, info: Info, extension_number: str) -> DectMember | None:
        rows = await loaders.dect_members(info, self.row.id)
        company_id = self.row.company_id  # type: ignore[attr-defined]
        for r in rows:
            if r.extension_number == extension_number:
                return DectMember.from_model(r, company_id)
        return None


register_node("DectBase", models.DectBase, DectBase.from_model)








# ---------------------------------------------------------------- on lower domains' types


@field_of(Company, description="The company's phones.")
def phones(
    self: Company,
    info: Info,
    first: int | None = None,
    after: str | None = None,
    filter: PhoneFilter | None = None,
) -> Connection[Phone]:
    loader = loaders.company_phones_loader(info, PageArgs(first, after), filter, Phone.from_model)
    return now_or_later(loader, self.row.id, _same)


T = TypeVar("T")


def _same(value: T) -> T:
    return value


@field_of(SipUser, name="phones", description="Phones with a line assigned to the user.")
async def user_phones(self: SipUser, info: Info) -> list[Phone]:
    rows = await loaders.user_phones(info).load(self.row.id)
    return [Phone.from_model(r) for r in rows]


@field_of(
    AuditEvent,
    description="The phone a hot-desk login or logout was made at (null otherwise).",
)
async def actor_phone(self: AuditEvent, info: Info) -> Phone | None:
    row = await loaders_of(info).one(models.Phone, self.row.actor_phone_id, "audit")
    return Phone.from_model(row) if row else None


# ---------------------------------------------------------------- loading ahead
# What a page of phones (or companies) loads for all its rows at once when the query
# selects it (app.core.lookahead): the same loaders the resolvers above read.


@prefetch("Phone", "model")
async def _models_ahead(info: Info, rows: list[models.Phone], _: dict[str, Any]) -> list[Any]:
    ids = present(r.model_id for r in rows)  # type: ignore[attr-defined]
    return present(await loaders_of(info).one_loader(models.PhoneModel).load_many(ids))


@prefetch("Phone", "company")
async def _companies_ahead(info: Info, rows: list[models.Phone], _: dict[str, Any]) -> list[Any]:
    ids = present(r.company_id for r in rows)  # type: ignore[attr-defined]
    return present(await loaders_of(info).one_loader(CompanyRow).load_many(ids))


@prefetch("Phone", "lines")
async def _lines_ahead(info: Info, rows: list[models.Phone], _: dict[str, Any]) -> list[Any]:
    return flatten(await loaders.phone_lines_loader(info).load_many([r.id for r in rows]))


@prefetch("PhoneLine", "sipUser")
async def _line_users_ahead(
    info: Info, rows: list[models.PhoneLine], _: dict[str, Any]
) -> list[Any]:
    ids = present(r.sip_user_id for r in rows)  # type: ignore[attr-defined]
    return present(await loaders_of(info).one_loader(SipUserRow).load_many(ids))


@prefetch("Company", "phones")
async def _company_phones_ahead(
    info: Info, rows: list[CompanyRow], arguments: dict[str, Any]
) -> list[Any] | None:
    if arguments.get("filter") is not None or set(arguments) - {"first", "after", "filter"}:
        return None  # a filter's loader key is built from its input object: load as usual
    args = PageArgs(arguments.get("first"), arguments.get("after"))
    loader = loaders.company_phones_loader(info, args, None, Phone.from_model)
    pages = await loader.load_many([r.id for r in rows])
    return [node.row for page in pages for node in page.nodes]


# ---------------------------------------------------------------- payloads


PhonePayload = payload_type("PhonePayload", "phone", Phone)


PhoneTemplatePayload = payload_type("PhoneTemplatePayload", "phone_template", PhoneTemplate)


DectBasePayload = payload_type("DectBasePayload", "dect_base", DectBase)
