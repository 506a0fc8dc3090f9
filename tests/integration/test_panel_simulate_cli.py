"""``classroom-agent simulate panel`` runs an emulator on its own; the demo helper too."""

from __future__ import annotations

import asyncio
import sys

import pytest

from drivers.panel import PanelSpec, ProtocolOptions, SerialTarget, TcpTarget
from tests.helpers.panel import running
from tests.helpers.wait import wait_for


@pytest.mark.parametrize("argv", [["--protocol", "smart", "--pty"],
                                  ["--protocol", "mdc", "--port", "0"]])
async def test_simulate_panel_cli(argv: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "simulate", "panel", *argv,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        where = line.split()[-1]
        if "--pty" in argv:
            assert " on pty " in line
            target: SerialTarget | TcpTarget = SerialTarget(where, 19200)
        else:
            host, _, port = where.rpartition(":")
            target = TcpTarget(host, int(port))
        spec = PanelSpec("p", argv[1], target, ProtocolOptions(timeout_s=0.5), poll_s=0.2,
                         reconnect_min_s=0.05, reconnect_max_s=0.3)
        async with running(spec) as dev:
            await wait_for(lambda: dev.status == "online", what="online")
            proc.stdin.write(b"garbage on\n")
            await proc.stdin.drain()
            assert b"garbage on" in await asyncio.wait_for(proc.stdout.readline(), 10)
            await wait_for(lambda: dev.status == "fault", what="garbage fault")
            proc.stdin.write(b"garbage off\n")
            await proc.stdin.drain()
            await wait_for(lambda: dev.status == "online", what="recovered")
        proc.stdin.write(b"quit\n")
        await proc.stdin.drain()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_start_demo_panel() -> None:
    from agent.config import from_dict
    from agent.panel.demo import start_demo_panel
    from agent.panel.service import spec_from_config

    handle, entry = start_demo_panel()
    try:
        cfg = from_dict({"panels": [entry]})
        spec = spec_from_config(cfg.panels[0])
        spec.poll_s = 0.2
        async with running(spec) as dev:
            await wait_for(lambda: dev.status == "online", what="online")
            await dev.power(False)
            assert handle.call(lambda emu: emu.values["powerstate"]) == "ready"
    finally:
        handle.stop()
