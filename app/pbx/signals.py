"""What the hosted PBX tells the domains above it (see app.core.signals)."""

from __future__ import annotations

from app.core.signals import Signal

# Sent with the SIP user row before it is deleted; a receiver raises a UserInputError
# to refuse (deploy: one of the user's profiles is still being deployed).
user_deleting = Signal("pbx.user_deleting")
