"""GraphQL inputs of the hosted PBX: filters, orders and the (partial) mutation inputs.

Every mutation input field defaults to ``UNSET``: a field left out is left alone on
update, a field sent as ``null`` clears it where clearing makes sense (else REQUIRED).
"""

from __future__ import annotations

import strawberry

from app.core.pagination import OrderDirection
from app.pbx.enums import RingStrategy, SipUserOrderField

UNSET = strawberry.UNSET


@strawberry.input(description="Which SIP domains to list.")
class SipDomainFilter:
    company_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this company's domains."
    )
    search: str | None = strawberry.field(
        default=None, description="Matches the name or display name (case-insensitive)."
    )


@strawberry.input(description="Which SIP users to list.")
class SipUserFilter:
    search: str | None = strawberry.field(
        default=None,
        description="Matches username, display name, extension or e-mail (case-insensitive).",
    )
    extension_number: str | None = strawberry.field(
        default=None, description="Exactly this extension."
    )
    group_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only members of this group."
    )
    hotdesk_allowed: bool | None = None


@strawberry.input(description="How to sort SIP users.")
class SipUserOrder:
    field: SipUserOrderField
    direction: OrderDirection | None = OrderDirection.ASC


@strawberry.input(description="A SIP domain's fields (partial on update).")
class SipDomainInput:
    company_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Required on create; cannot change afterwards."
    )
    name: str | None = strawberry.field(
        default=UNSET,
        description="Required on create; a DNS name, unique. Only system admins rename.",
    )
    display_name: str | None = strawberry.field(default=UNSET, description="Required on create.")
    recording_enabled: bool | None = strawberry.field(
        default=UNSET, description="Record calls in this domain (default false)."
    )


@strawberry.input(description="A SIP user's fields (partial on update).")
class SipUserInput:
    username: str | None = strawberry.field(
        default=UNSET,
        description="Required on create; letters, digits, '.', '_', '-'; unique within the domain.",
    )
    password: str | None = strawberry.field(
        default=UNSET, description="Required on create; write-only (see hasPassword)."
    )
    display_name: str | None = strawberry.field(default=UNSET, description="Required on create.")
    extension_number: str | None = strawberry.field(
        default=UNSET,
        description="Required on create; digits; unique within the domain across users, "
        "groups and queues.",
    )
    pin: str | None = strawberry.field(
        default=UNSET,
        description="Hot-desking PIN, 4 to 16 digits; write-only (see hasPin); null clears it.",
    )
    email: str | None = UNSET
    first_name: str | None = UNSET
    last_name: str | None = UNSET
    job_name: str | None = UNSET
    department_name: str | None = UNSET
    company_name: str | None = UNSET
    office_name: str | None = UNSET
    uk_caller_id: str | None = strawberry.field(
        default=UNSET, description="Caller ID presented on calls to UK numbers."
    )
    us_caller_id: str | None = strawberry.field(
        default=UNSET, description="Caller ID presented on calls to US numbers."
    )
    mobile_number: str | None = strawberry.field(
        default=UNSET, description="Missed calls are forwarded here when mobileFollow is on."
    )
    mobile_follow: bool | None = UNSET
    hotdesk_allowed: bool | None = strawberry.field(
        default=UNSET, description="May log in to shared phones with the PIN."
    )
    dashboard: bool | None = strawberry.field(
        default=UNSET, description="Shown on the real-time dashboard."
    )
    hotdesk_profile_id: strawberry.ID | None = strawberry.field(
        default=UNSET,
        description="The user's own profile a hot-desk login puts on a phone (when it "
        "fits); null clears it.",
    )


@strawberry.input(description="A SIP group's fields (partial on update).")
class SipGroupInput:
    group_name: str | None = strawberry.field(
        default=UNSET, description="Required on create; unique within the domain."
    )
    display_name: str | None = strawberry.field(default=UNSET, description="Required on create.")
    extension_number: str | None = strawberry.field(
        default=UNSET, description="Required on create; digits; unique within the domain."
    )
    ring_retry: bool | None = UNSET
    ring_exclusive: bool | None = strawberry.field(
        default=UNSET, description="Queue calls for this group."
    )
    caller_name_format: str | None = strawberry.field(
        default=UNSET,
        description="Uses only {displayName}, {srcPhoneNumber} and {dgrpName}; null clears.",
    )


@strawberry.input(description="A SIP queue's fields (partial on update).")
class SipQueueInput:
    queue_name: str | None = strawberry.field(
        default=UNSET, description="Required on create; unique within the domain."
    )
    display_name: str | None = strawberry.field(default=UNSET, description="Required on create.")
    extension_number: str | None = strawberry.field(
        default=UNSET, description="Required on create; digits; unique within the domain."
    )
    caller_name_format: str | None = strawberry.field(
        default=UNSET,
        description="Uses only {displayName}, {srcPhoneNumber} and {dgrpName}; null clears.",
    )


@strawberry.input(description="A queue member's fields (partial on update).")
class SipQueueMemberInput:
    group_id: strawberry.ID | None = strawberry.field(
        default=UNSET, description="Required on create; a group of the queue's domain."
    )
    ring_strategy: RingStrategy | None = strawberry.field(default=UNSET, description="Default ALL.")
    ring_attempts: int | None = strawberry.field(
        default=UNSET, description="At least 1, at most 100 (default 1)."
    )
    ring_secs: int | None = strawberry.field(
        default=UNSET, description="Seconds to ring before moving on, 1 to 600 (default 20)."
    )
    ring_order: int | None = strawberry.field(
        default=UNSET, description="Lowest rings first; default: after the last member."
    )


@strawberry.input(description="A trusted network's fields (partial on update).")
class TrustedNetworkInput:
    network: str | None = strawberry.field(
        default=UNSET,
        description="Required on create; CIDR, IPv4 or IPv6; stored normalised "
        "(10.0.20.10/24 becomes 10.0.20.0/24); unique within the domain.",
    )
    description: str | None = UNSET
