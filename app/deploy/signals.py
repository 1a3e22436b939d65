"""What deploy tells the domains above it (see app.core.signals)."""

from __future__ import annotations

from app.core.signals import Signal

# Sent after each SIP OPTIONS a deploy job sends while it waits for a restarted phone,
# with ``phone_id``, ``status`` (the final response's status code; None: no answer
# within the probe interval) and ``round_trip`` (seconds). Presence takes the phone's
# answers (or silence) as probes of its own. A receiver must return quickly and must not
# raise: the job goes on whatever it does.
phone_answered = Signal("deploy.phone_answered")
