"""What presence tells the domains above it (see app.core.signals)."""

from __future__ import annotations

from app.core.signals import Signal

# Sent whenever a phone's online state changes (first found, online -> offline, back),
# inside the transaction that stores the change, with ``phone_id``, ``company_id``,
# ``mac`` (12 upper-case hex digits), ``online`` (bool) and ``at`` (the database's time
# of the change). A receiver that raises undoes the change (it is tried again with the
# next probe).
status_changed = Signal("presence.status_changed")
