"""The phones found up, read from the database each time /metrics is scraped."""

from __future__ import annotations

from prometheus_client import Gauge

from app.core.metrics import REGISTRY, before_scrape
from app.presence.models import PhonePresence
from app.presence.types import presence_on

PHONES_ONLINE = Gauge(
    "phonegraph_phones_online",
    "Phones whose last presence probes found them up (read from the database at scrape "
    "time).",
    registry=REGISTRY,
)


@before_scrape.connect
async def refresh_phones_online() -> None:
    if not presence_on():
        PHONES_ONLINE.set(0)
        return
    # Only phones still probed (ACTIVE, with an address): as Phone.online reads.
    found = PhonePresence.filter(
        online=True, phone__status="ACTIVE", phone__ip_address__not_isnull=True
    )
    PHONES_ONLINE.set(await found.count())
