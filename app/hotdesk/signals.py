"""What hot desking tells the domains above it (see app.core.signals)."""

from __future__ import annotations

from app.core.signals import Signal

# Sent inside the transaction that makes a session OPEN (its login's config is written),
# once per session, with keyword arguments ``session_id``, ``company_id``, ``phone_id``
# and ``sip_user_id``.
session_started = Signal("hotdesk.session_started")

# Sent inside the transaction that ends a session (whatever the reason), once per
# session, with ``session_id``, ``company_id``, ``phone_id``, ``sip_user_id`` and
# ``end_reason`` (a HotdeskEndReason value).
session_ended = Signal("hotdesk.session_ended")
