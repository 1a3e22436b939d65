"""Hot desking: the query fields, always through the scope."""

from __future__ import annotations

import strawberry

from app.core.context import Info, viewer_of
from app.core.ids import decode_arg
from app.core.pagination import Connection, OrderKey, PageArgs, paginate
from app.core.scope import visible
from app.core.validation import mac_argument
from app.hotdesk import models
from app.hotdesk.filters import HotdeskSessionFilter
from app.hotdesk.types import HotdeskSession

NEWEST_FIRST = [OrderKey("id", descending=True)]


@strawberry.type
class HotdeskQuery:
    @strawberry.field(
        description="Hot-desk sessions the caller may see, newest first (a USER: its own)."
    )
    async def hotdesk_sessions(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: HotdeskSessionFilter | None = None,
    ) -> Connection[HotdeskSession]:
        qs = visible(models.HotdeskSession, viewer_of(info))
        if filter is not None:
            if filter.company_id is not None:
                qs = qs.filter(company_id=decode_arg(filter.company_id, "Company", "companyId"))
            if filter.mac is not None:
                qs = qs.filter(phone__mac=mac_argument(filter.mac))
            if filter.sip_user_id is not None:
                qs = qs.filter(sip_user_id=decode_arg(filter.sip_user_id, "SipUser", "sipUserId"))
            if filter.open is True:
                qs = qs.filter(open_phone_id__isnull=False)
            elif filter.open is False:
                qs = qs.filter(open_phone_id__isnull=True)
        return await paginate(
            qs, PageArgs(first, after, last, before), NEWEST_FIRST, HotdeskSession.from_model
        )
