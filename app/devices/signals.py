"""What devices tell the domains above them (see app.core.signals)."""

from __future__ import annotations

from app.core.signals import Signal

# Sent with the phone row, inside the update's transaction, after its company changed
# (deploy moves the phone's job history to the new company).
phone_company_changed = Signal("devices.phone_company_changed")

# Sent with the phone row inside the delete's transaction, the row locked, before it is
# deleted; a receiver refuses by raising a UserInputError (deploy: a job of the phone is
# still queued or running).
phone_deleting = Signal("devices.phone_deleting")

# Sent with the new PENDING phone row inside the transaction that records it: an unknown
# MAC fetched a config with a company's provisioning key (app.devices.provisioning).
phone_registered = Signal("devices.phone_registered")
