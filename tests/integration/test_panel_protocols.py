"""Each panel protocol against its emulator over a real pty and over loopback TCP/UDP."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from drivers.panel import (
    DeviceRefused,
)
from tests.helpers.panel import emulated, start_emulator
from tests.helpers.wait import wait_for

INPUT_2 = {"pjlink": "DIGITAL2", "smart": "hdmi2", "viewsonic": "HDMI2", "mdc": "HDMI2"}


CASES = [("smart", "pty"), ("viewsonic", "pty"), ("mdc", "pty"), ("pjlink", "tcp"),
         ("viewsonic", "tcp"), ("mdc", "tcp"), ("smart", "tcp")]


@pytest.mark.parametrize(("protocol", "transport"), CASES)
async def test_state_and_commands(protocol: str, transport: str) -> None:
    kw = {"emu_kw": {"password": "s3cret"}, "password": "s3cret"} if protocol == "pjlink" else {}
    async with emulated(protocol, transport, **kw) as (emu, dev):
        await wait_for(lambda: dev.status == "online", what="online")
        assert dev.reason == ""
        assert dev.state.power in ("on", "off")
        await dev.power(True)
        assert dev.state.power == "on"
        await dev.select_input(INPUT_2[protocol])
        assert dev.state.input == INPUT_2[protocol]
        await dev.power(False)
        assert dev.state.power == "off"
        with pytest.raises(DeviceRefused) as e:
            await dev.select_input("no-such-input")
        assert e.value.code == "bad_value"
        if protocol != "viewsonic":  # the 9-byte protocol has no identity query
            assert dev.state.model
        assert emu.requests > 0
        assert dev.stats["polls"] >= 1


async def test_smart_unsolicited_changes_arrive_without_polling() -> None:
    async with emulated("smart", "pty", poll_s=60) as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        polls = dev.stats["polls"]
        await emu.local("input", "hdmi3")
        await wait_for(lambda: dev.state.input == "hdmi3", what="#input event")
        await emu.local("powerstate", "ready")
        await wait_for(lambda: dev.state.power == "off", what="#powerstate event")
        assert dev.stats["polls"] == polls and dev.stats["unsolicited"] >= 2


async def test_smart_boot_junk_and_noise_are_tolerated() -> None:
    async with emulated("smart", "pty") as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        await emu.reboot()  # junk and a fresh prompt while connected
        emu.mis.noise = True
        emu.mis.fragment = True
        before = dev.stats["polls"]
        await wait_for(lambda: dev.stats["polls"] >= before + 3, what="polls through noise")
        assert dev.status == "online"
        assert dev.stats["junk_bytes"] > 0


@pytest.mark.parametrize(("protocol", "transport"), [("mdc", "tcp"), ("viewsonic", "pty"),
                                                     ("pjlink", "tcp")])
async def test_fragmented_and_noisy_replies_are_reassembled(protocol: str, transport: str) -> None:
    async with emulated(protocol, transport) as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        emu.mis.fragment = True
        emu.mis.noise = True
        before = dev.stats["polls"]
        await wait_for(lambda: dev.stats["polls"] >= before + 2, what="polls")
        assert dev.status == "online"
        assert dev.stats["junk_bytes"] > 0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_pjlink_class2_notifications_over_udp() -> None:
    port = free_udp_port()
    emu_kw = {"notify_to": ("127.0.0.1", port)}
    async with emulated("pjlink", "tcp", emu_kw, poll_s=60,
                        notify=("127.0.0.1", port)) as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        polls = dev.stats["polls"]
        emu.set_power(True)  # pressed on the projector itself
        await wait_for(lambda: dev.state.power == "on", what="POWR notification")
        emu.select("33")
        await wait_for(lambda: dev.state.input == "DIGITAL3", what="INPT notification")
        emu.set_error("fan", "warning")
        await wait_for(lambda: dev.state.errors == {"fan": "warning"}, what="ERST notification")
        assert dev.status == "online"  # a warning is not a fault
        assert dev.stats["polls"] == polls
        emu.link_up()
        await wait_for(lambda: dev.state.extra.get("mac") == "00:11:22:aa:bb:cc", what="LKUP")
        await wait_for(lambda: dev.stats["polls"] > polls, what="LKUP triggers a poll")
        assert dev.stats["notifications"] >= 4


async def test_pjlink_search_answers_ackn() -> None:
    emu = await start_emulator("pjlink", "tcp")
    try:
        loop = asyncio.get_running_loop()
        got: asyncio.Future[bytes] = loop.create_future()

        class P(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                if not got.done():
                    got.set_result(data)

        t, _ = await loop.create_datagram_endpoint(P, local_addr=("127.0.0.1", 0))
        try:
            t.sendto(b"%2SRCH\r", ("127.0.0.1", emu.port))
            assert await asyncio.wait_for(got, 5) == b"%2ACKN=00:11:22:aa:bb:cc\r"
        finally:
            t.close()
    finally:
        await emu.stop()


async def test_pjlink_warming_refuses_input_then_accepts() -> None:
    async with emulated("pjlink", "tcp", {"warm_s": 0.5}) as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        await dev.power(True)
        assert dev.state.power == "warming"
        with pytest.raises(DeviceRefused) as e:
            await dev.select_input("DIGITAL2")
        assert e.value.code == "busy"
        await wait_for(lambda: dev.state.power == "on", what="warm up")
        await dev.select_input("DIGITAL2")
        assert emu.input == "32"
