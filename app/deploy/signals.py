"""What the deploy domain tells the domains above it (``app.core.signals``)."""

from __future__ import annotations

from app.core.signals import Signal

# A rollout reached its final status (SUCCEEDED, FAILED or ABORTED): sent once per
# rollout, inside the transaction that sets that status, with ``rollout=`` the
# ``app.deploy.models.Rollout`` row as it stands then.
rollout_ended = Signal("deploy.rollout_ended")
