"""Filtering and sorting of PBX lists, shared by top-level and nested connections.

Both sort in the database by the same keys (keyset :func:`paginate` and
:func:`paginate_nested`), so their cursors are alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from app.core.ids import decode_arg
from app.core.pagination import OrderDirection, OrderKey
from app.core.validation import argument_text, search_text
from app.pbx import models
from app.pbx.enums import SipUserOrderField
from app.pbx.inputs import SipDomainFilter, SipUserFilter, SipUserOrder

_ORDER_COLUMNS = {
    SipUserOrderField.USERNAME: "username",
    SipUserOrderField.EXTENSION_NUMBER: "extension_number",
    SipUserOrderField.DISPLAY_NAME: "display_name",
    # Ids grow with every insert, so they give creation order without comparing
    # timestamps (which keyset cursors carry as text).
    SipUserOrderField.CREATED_AT: "id",
}


@dataclass(frozen=True)
class UserQuery:
    """A parsed SipUserFilter and SipUserOrder; hashable, so it can key a DataLoader."""

    search: str | None = None
    extension_number: str | None = None
    group_id: int | None = None
    hotdesk_allowed: bool | None = None
    order: SipUserOrderField = SipUserOrderField.USERNAME
    descending: bool = False

    @classmethod
    def parse(cls, filter: SipUserFilter | None, order_by: SipUserOrder | None) -> UserQuery:
        kwargs: dict[str, Any] = {}
        if filter is not None:
            kwargs["search"] = search_text(filter.search)
            kwargs["extension_number"] = argument_text(
                filter.extension_number, 64, "filter.extensionNumber"
            )
            if filter.group_id is not None:
                kwargs["group_id"] = decode_arg(filter.group_id, "SipGroup", "filter.groupId")
            kwargs["hotdesk_allowed"] = filter.hotdesk_allowed
        if order_by is not None:
            kwargs["order"] = order_by.field
            kwargs["descending"] = order_by.direction == OrderDirection.DESC
        return cls(**kwargs)

    def apply(self, qs: QuerySet[models.SipUser]) -> QuerySet[models.SipUser]:
        if self.search:
            s = self.search
            qs = qs.filter(
                Q(username__icontains=s)
                | Q(display_name__icontains=s)
                | Q(extension_number__icontains=s)
                | Q(email__icontains=s)
            )
        if self.extension_number is not None:
            qs = qs.filter(extension_number=self.extension_number)
        if self.group_id is not None:
            qs = qs.filter(group_memberships__group_id=self.group_id)
        if self.hotdesk_allowed is not None:
            qs = qs.filter(hotdesk_allowed=self.hotdesk_allowed)
        return qs

    @property
    def column(self) -> str:
        return _ORDER_COLUMNS[self.order]

    def order_keys(self) -> list[OrderKey]:
        """The database order (``id`` breaks ties)."""
        keys = [OrderKey("id", self.descending)]
        if self.column != "id":
            keys.insert(0, OrderKey(self.column, self.descending))
        return keys


def domain_filter_q(filter: SipDomainFilter | None) -> Q:
    """The condition of a SipDomainFilter."""
    q = Q()
    if filter is None:
        return q
    if filter.company_id is not None:
        q &= Q(company_id=decode_arg(filter.company_id, "Company", "filter.companyId"))
    search = search_text(filter.search)
    if search:
        q &= Q(name__icontains=search) | Q(display_name__icontains=search)
    return q
