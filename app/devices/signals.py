"""What devices tell the domains above them (see app.core.signals)."""

from __future__ import annotations

from app.core.signals import Signal

# Sent with the phone row, inside the update's transaction, after its company changed
# (deploy moves the phone's job history to the new company).
phone_company_changed = Signal("devices.phone_company_changed")

