"""VISCA against the emulator over UDP (VISCA over IP) and over a pty (serial)."""

from __future__ import annotations

import asyncio

import pytest

from drivers.camera.visca import SerialVisca, UdpVisca, ViscaError, ip_wrap
from drivers.emulators.visca import PtyViscaEmulator, UdpViscaEmulator


async def test_udp_preset_recall_and_power() -> None:
    async with UdpViscaEmulator() as emu, UdpVisca("127.0.0.1", emu.port) as cam:
        await cam.recall_preset(3)
        assert emu.model.position == 3
        assert await cam.power() == "on"
        await cam.set_preset(20)
        assert 20 in emu.model.presets
        assert emu.resets == 1  # the client resets the sequence when it connects


async def test_udp_sequence_reset_after_camera_loses_track() -> None:
    async with UdpViscaEmulator(strict_sequence=True) as emu, \
            UdpVisca("127.0.0.1", emu.port) as cam:
        await cam.recall_preset(1)
        emu.expected_seq = 12345  # the camera rebooted / got confused
        await cam.recall_preset(2)
        assert emu.model.position == 2
        assert emu.sequence_errors == 1 and emu.resets == 2


async def test_udp_error_reply_and_silence() -> None:
    async with UdpViscaEmulator() as emu, UdpVisca("127.0.0.1", emu.port, timeout_s=0.5) as cam:
        emu.model.power = "standby"
        with pytest.raises(ViscaError, match="not executable"):
            await cam.recall_preset(1)
        emu.silent = True
        with pytest.raises(ViscaError, match="no reply"):
            await cam.recall_preset(1)
        emu.silent = False
        emu.model.power = "on"
        await cam.recall_preset(4)  # recovers once the camera answers again
        assert emu.model.position == 4


async def test_udp_emulator_answers_malformed_datagrams() -> None:
    async with UdpViscaEmulator() as emu:
        assert emu.handle_datagram(b"\x01") and emu.malformed == 1
        replies = emu.handle_datagram(ip_wrap(0x0100, 0, b"\x81\x7f\xff"))
        assert replies[0][8:] == bytes.fromhex("90 60 02 ff")  # syntax error


async def test_serial_over_pty() -> None:
    async with PtyViscaEmulator() as emu:
        cam = SerialVisca(emu.path, 9600, timeout_s=2)
        try:
            await cam.recall_preset(7)
            assert emu.model.position == 7
            assert await cam.power() == "on"
            with pytest.raises(ViscaError, match="syntax"):
                await cam.request(b"\x81\x7e\x7e\xff")
        finally:
            await cam.close()


async def test_serial_missing_port_is_a_clear_error() -> None:
    cam = SerialVisca("/dev/does-not-exist", timeout_s=1)
    with pytest.raises(ViscaError, match="cannot open"):
        await cam.recall_preset(1)
    await asyncio.sleep(0)


def test_preset_range_checked_where_the_frame_builder_checks_it(tmp_path) -> None:
    """255 passed the config check but the frame builder refuses it (0xFF ends a frame):
    now the config refuses it with one line, and a preset out of range at run time is a
    PtzError (logged and counted by the recorder), never an uncaught ValueError."""
    from agent.config import ConfigError, from_dict

    def cfg(preset: object) -> object:
        return from_dict({"storage": {"data_dir": str(tmp_path)}, "cameras": [{
            "id": "t", "url": "rtsp://127.0.0.1:1/x",
            "ptz": {"protocol": "visca-udp", "address": "127.0.0.1", "preset": preset}}]})

    assert cfg(254).cameras[0].ptz.preset == 254
    for bad in (255, -1, 1000):
        with pytest.raises(ConfigError) as e:
            cfg(bad)
        assert e.value.problems == [
            f"cameras[0].ptz.preset: VISCA presets are numbers 0-254, got {bad}"]


async def test_out_of_range_preset_at_run_time_is_a_ptz_error() -> None:
    from drivers.camera.ptz import PtzError, PtzTarget, recall_preset

    async with UdpViscaEmulator() as emu:
        ok = PtzTarget(protocol="visca-udp", address=f"127.0.0.1:{emu.port}", preset=254,
                       timeout_s=2.0)
        await recall_preset(ok)
        with pytest.raises(PtzError, match="0-254"):
            await recall_preset(PtzTarget(protocol="visca-udp",
                                          address=f"127.0.0.1:{emu.port}", preset=255,
                                          timeout_s=2.0))
