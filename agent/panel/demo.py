"""The demo's emulated panel.

``start_demo_panel()`` starts an emulator on a pty (PJLink: on a loopback TCP port) in a
background thread with its own event loop and returns ``(handle, entry)``:

- ``handle``: an ``EmulatorThread``; ``handle.emulator`` is the emulator,
  ``handle.call(lambda emu: ...)`` runs code on its loop (e.g. make it misbehave),
  ``handle.stop()`` stops it and removes the pty;
- ``entry``: a ``[[panels]]`` config entry (a dict) pointing at it, with automation on.

It works with or without a running event loop. ``demo_part`` wraps it in the contract of
``agent.demo`` (a part adds its config, then cleans up on exit).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from drivers.emulators.panel_base import EmulatorThread
from drivers.emulators.panels import emulator_class


def start_demo_panel(
    protocol: str = "smart", panel_id: str = "panel", link: str | None = None, **emulator_kw: Any
) -> tuple[EmulatorThread, dict[str, Any]]:
    """Start an emulated panel; see the module docstring. ``link``: where to put the
    pty's stable symlink (default: a temp dir); ``emulator_kw`` go to the emulator class."""
    emu = emulator_class(protocol)(**emulator_kw)
    handle = EmulatorThread(emu)
    entry: dict[str, Any] = {
        "id": panel_id, "protocol": protocol, "name": "Demo panel (emulated)",
        "poll_s": 2.0, "timeout_s": 1.0, "reconnect_max_s": 10.0,
        "automation": {"power_on_at_lesson_start": True, "power_off_after_last_lesson": True,
                       "after_last_lesson_min": 5.0, "idle_off_min": 30.0},
    }
    try:
        if protocol == "pjlink":
            port = handle.call(lambda e: e.start_tcp("127.0.0.1", 0))
            entry.update(host="127.0.0.1", port=port)
        else:
            entry["serial"] = handle.call(lambda e: e.start_pty(link))
    except BaseException:
        handle.stop()
        raise
    return handle, entry


@contextlib.asynccontextmanager
async def demo_part(data: dict[str, Any], work: Path, ready: Any) -> AsyncIterator[None]:
    """agent.demo part: an emulated SMART Board on a pty as panel ``panel``."""
    handle, entry = start_demo_panel("smart", link=str(work / "panel-tty"))
    data.setdefault("panels", []).append(entry)
    try:
        yield
    finally:
        handle.stop()
