"""What profiles tell the domains above them (see app.core.signals)."""

from __future__ import annotations

from app.core.signals import Signal

# Sent with the profile row, inside the delete's transaction, before it is deleted; a
# receiver raises a UserInputError to refuse (deploy: a job of the profile is unfinished).
profile_deleting = Signal("profiles.profile_deleting")
