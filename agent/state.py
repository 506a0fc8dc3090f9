"""One live state snapshot of the agent, read by the web layer and the uplink.

Each component owns a named section and replaces it with ``state.set(section, value)``.
Values are msgspec structs, dicts or plain values. ``version`` increases on every change
so readers (live pages) can wait for the next change instead of polling.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from agent.events import DeviceState, Event


class State:
    def __init__(self) -> None:
        self._sections: dict[str, Any] = {}
        self.devices: dict[str, DeviceState] = {}
        self.version = 0
        self._changed = asyncio.Event()

    def set(self, section: str, value: Any) -> None:
        self._sections[section] = value
        self._bump()

    def get(self, section: str, default: Any = None) -> Any:
        return self._sections.get(section, default)

    def on_event(self, event: Event) -> None:
        """Bus listener: keeps the device table current."""
        if isinstance(event, DeviceState):
            self.devices[event.device_id] = event
            self._bump()

    def _bump(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_changed(self, since: int, timeout: float) -> int:
        if self.version == since:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait()
            except TimeoutError:
                pass
        return self.version

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: msgspec.to_builtins(v) for k, v in self._sections.items()}
        out["devices"] = [msgspec.to_builtins(d) for d in self.devices.values()]
        return out
