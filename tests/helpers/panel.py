"""Panels in tests: an emulator, a driver running against it, a config entry."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from drivers.emulators.panel_base import PanelEmulator
from drivers.emulators.panels import emulator_class
from drivers.panel import PanelDevice, PanelSpec, ProtocolOptions, SerialTarget, TcpTarget


async def start_emulator(protocol: str, transport: str, **kw: Any) -> PanelEmulator:
    emu = emulator_class(protocol)(**kw)
    if transport == "pty":
        await emu.start_pty()
    else:
        await emu.start_tcp("127.0.0.1", 0)
    return emu


def spec_for(emu: PanelEmulator, **kw: Any) -> PanelSpec:
    opts = ProtocolOptions(timeout_s=kw.pop("timeout_s", 0.5), retries=kw.pop("retries", 1),
                           password=kw.pop("password", None))
    if emu.path is not None:
        target: SerialTarget | TcpTarget = SerialTarget(emu.path, 19200)
    else:
        target = TcpTarget("127.0.0.1", emu.port or 0)
    defaults: dict[str, Any] = {"poll_s": 0.2, "reconnect_min_s": 0.05, "reconnect_max_s": 0.3}
    defaults.update(kw)
    return PanelSpec("p1", emu.protocol, target, opts, **defaults)


@contextlib.asynccontextmanager
async def running(spec: PanelSpec) -> AsyncIterator[PanelDevice]:
    dev = PanelDevice(spec)
    task = asyncio.create_task(dev.run())
    try:
        yield dev
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert dev.status == "offline" and dev.reason == "stopped"


@contextlib.asynccontextmanager
async def emulated(protocol: str, transport: str, emu_kw: dict[str, Any] | None = None,
                   **spec_kw: Any) -> AsyncIterator[tuple[PanelEmulator, PanelDevice]]:
    emu = await start_emulator(protocol, transport, **(emu_kw or {}))
    try:
        async with running(spec_for(emu, **spec_kw)) as dev:
            yield emu, dev
    finally:
        await emu.stop()


def panel_entry(path: str, **automation: Any) -> dict[str, Any]:
    return {"id": "front", "protocol": "smart", "serial": path, "poll_s": 0.2,
            "timeout_s": 0.5, "reconnect_min_s": 0.05, "reconnect_max_s": 0.3,
            "input_names": {"ops1": "OPS"}, "automation": automation}
