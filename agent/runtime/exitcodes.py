"""The agent's process exit codes, shared by the composition root and the services that ask it
to stop (a service never imports the composition root, docs/ARCHITECTURE.md)."""

from __future__ import annotations

RESTART_EXIT_CODE = 75  # EX_TEMPFAIL: the unit's RestartForceExitStatus restarts us
