"""Unplug, refused/closed connections, garbage, partial frames, slow devices and wrong
PJLink passwords end in fault (or offline) with the right reason, then recover."""

from __future__ import annotations

import os
import tempfile

import pytest

from drivers.panel import PanelSpec, ProtocolOptions, SerialTarget
from tests.helpers.panel import emulated, running
from tests.helpers.wait import wait_for


def code(dev) -> str:
    return dev.reason.split(":")[0]


async def test_missing_serial_port_is_a_fault() -> None:
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "ttyUSB9")
        spec = PanelSpec("p1", "smart", SerialTarget(path, 19200), ProtocolOptions(timeout_s=0.3),
                         reconnect_min_s=0.05, reconnect_max_s=0.2)
        async with running(spec) as dev:
            await wait_for(lambda: dev.status == "fault", what="fault")
            assert code(dev) == "port_missing" and path in dev.reason


async def test_unplug_and_replug_serial() -> None:
    async with emulated("smart", "pty") as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        await emu.unplug()
        await wait_for(lambda: dev.status == "fault", what="fault after unplug")
        assert code(dev) in ("unplugged", "port_missing", "timeout")
        await wait_for(lambda: code(dev) == "port_missing", what="port gone")
        assert dev.state.power is None  # unknown while unplugged
        await emu.replug()
        await wait_for(lambda: dev.status == "online", what="online after replug")
        assert dev.state.power == "on"


@pytest.mark.parametrize("protocol", ["viewsonic", "mdc", "pjlink"])
async def test_tcp_refused_then_recovers(protocol: str) -> None:
    async with emulated(protocol, "tcp") as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        await emu.unplug()
        await wait_for(lambda: code(dev) == "refused", what="refused")
        assert dev.status == "fault"
        await emu.replug()
        await wait_for(lambda: dev.status == "online", what="recovered")


async def test_closed_mid_reply() -> None:
    async with emulated("mdc", "tcp") as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        emu.mis.drop = True
        await wait_for(lambda: dev.status == "fault", what="fault")
        assert code(dev) == "closed" and "mid-reply" in dev.reason
        emu.mis.drop = False
        await wait_for(lambda: dev.status == "online", what="recovered")


@pytest.mark.parametrize(("protocol", "transport"),
                         [("smart", "pty"), ("viewsonic", "pty"), ("mdc", "pty"),
                          ("pjlink", "tcp"), ("viewsonic", "tcp")])
async def test_garbage_is_a_fault_and_recovers(protocol: str, transport: str) -> None:
    async with emulated(protocol, transport) as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        emu.mis.garbage = True
        await wait_for(lambda: dev.status == "fault", what="fault")
        assert code(dev) == "garbage", dev.reason
        assert dev.stats["junk_bytes"] > 0
        emu.mis.garbage = False
        await wait_for(lambda: dev.status == "online", what="recovered")


@pytest.mark.parametrize(("protocol", "transport"), [("mdc", "pty"), ("viewsonic", "tcp"),
                                                     ("pjlink", "tcp"), ("smart", "pty")])
async def test_partial_frames_are_a_fault(protocol: str, transport: str) -> None:
    async with emulated(protocol, transport) as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        emu.mis.partial = True
        await wait_for(lambda: dev.status == "fault", what="fault")
        assert code(dev) == "partial", dev.reason
        emu.mis.partial = False
        await wait_for(lambda: dev.status == "online", what="recovered")


async def test_slow_device_within_timeout_stays_online_beyond_is_timeout() -> None:
    async with emulated("viewsonic", "pty", timeout_s=0.6) as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        emu.mis.delay_s = 0.1  # slow but inside the timeout
        before = dev.stats["polls"]
        await wait_for(lambda: dev.stats["polls"] >= before + 2, what="slow polls")
        assert dev.status == "online"
        emu.mis.delay_s = 1.5
        await wait_for(lambda: dev.status == "fault", what="timeout", timeout=20)
        assert code(dev) == "timeout"
        emu.mis.delay_s = 0.0
        await wait_for(lambda: dev.status == "online", what="recovered", timeout=20)


async def test_pjlink_wrong_password_then_right() -> None:
    async with emulated("pjlink", "tcp", {"password": "right"}, password="wrong") as (emu, dev):
        await wait_for(lambda: dev.status == "fault", what="auth fault")
        assert code(dev) == "auth_failed"
        assert emu.auth_failures >= 1
        emu.password = "wrong"  # the projector's password is changed to what we have
        await wait_for(lambda: dev.status == "online", what="recovered")


async def test_pjlink_wrong_password_switch_and_missing_password() -> None:
    async with emulated("pjlink", "tcp", {"password": "pw"}, password="pw") as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        emu.mis.wrong_password = True
        emu.disconnect_all()  # a password is only checked when a connection opens
        await wait_for(lambda: code(dev) == "auth_failed", what="auth fault")
        emu.mis.wrong_password = False
        await wait_for(lambda: dev.status == "online", what="recovered")
    async with emulated("pjlink", "tcp", {"password": "pw"}) as (emu, dev):
        await wait_for(lambda: code(dev) == "auth_required", what="auth required")


async def test_smart_silent_while_on_is_a_fault() -> None:
    async with emulated("smart", "pty") as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        emu.mis.silent = True
        await wait_for(lambda: dev.status == "fault", what="fault")
        assert code(dev) == "timeout"
        emu.mis.silent = False
        await wait_for(lambda: dev.status == "online", what="recovered")


async def test_smart_power_saving_is_offline_asleep_and_wakes() -> None:
    async with emulated("smart", "pty", {"power_saving_after_s": 0.2}) as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        await dev.power(False)
        await wait_for(lambda: dev.status == "offline", what="asleep")
        assert code(dev) == "asleep"
        assert dev.state.power == "off"  # known: it sleeps because it is off
        await emu.wake()
        await wait_for(lambda: dev.status == "online" and dev.state.power == "on", what="awake")


async def test_device_error_flags_make_a_fault() -> None:
    async with emulated("pjlink", "tcp") as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        emu.set_error("lamp", "error")
        await wait_for(lambda: dev.status == "fault", what="device error")
        assert code(dev) == "device_error" and "lamp" in dev.reason
        await dev.power(True)  # still controllable
        emu.set_error("lamp", "ok")
        await wait_for(lambda: dev.status == "online", what="cleared")


async def test_mdc_display_status_errors() -> None:
    async with emulated("mdc", "tcp") as (emu, dev):
        await wait_for(lambda: dev.status == "online")
        emu.display_status[5] = 1  # fan
        await wait_for(lambda: dev.state.errors == {"fan": "error"}, what="fan error")
        assert dev.status == "fault"
