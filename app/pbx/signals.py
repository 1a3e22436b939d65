"""What the hosted PBX tells the domains above it (see app.core.signals)."""

from __future__ import annotations

from app.core.signals import Signal

# Sent with the SIP user row before it is deleted; a receiver raises a UserInputError
# to refuse (deploy: one of the user's profiles is still being deployed).
user_deleting = Signal("pbx.user_deleting")

# Sent with (viewer, user, extras) inside a user's create or update transaction, after
# the row is saved; ``extras`` holds the input fields a domain above owns (hot desking:
# ``hotdesk_profile_id``), as sent. A receiver refuses by raising a UserInputError.
user_saved = Signal("pbx.user_saved")

# Input fields of SipUserInput that domains above store (see ``user_saved``).
USER_EXTRA_FIELDS = ("hotdesk_profile_id",)
