"""A VISCA PTZ camera emulator, over UDP (VISCA over IP) and over a pty (serial).

It keeps presets, power and a "current position" (the last recalled preset), answers
ACK + completion like a real camera, and rejects what a real one rejects: bad frames
(syntax error), unknown presets are fine (cameras recall whatever is stored), commands to
another address are ignored. Over UDP it checks sequence numbers when ``strict_sequence``
is on (as picky cameras do) and honours the control RESET.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pty
import termios
import tty
from typing import Any

from drivers.camera.visca import (
    CONTROL_ERR_SEQUENCE,
    CONTROL_RESET,
    TERMINATOR,
    TYPE_COMMAND,
    TYPE_CONTROL,
    TYPE_CONTROL_REPLY,
    TYPE_INQUIRY,
    TYPE_REPLY,
    FrameSplitter,
    ViscaError,
    ip_unwrap,
    ip_wrap,
)


class ViscaCameraModel:
    """Device logic: one request frame in, reply frames out."""

    def __init__(self, address: int = 1) -> None:
        self.address = address
        self.power = "on"
        self.presets: set[int] = set(range(0, 16))
        self.position: int | None = None  # last recalled preset
        self.history: list[bytes] = []  # every frame received (tests look at it)

    def handle(self, frame: bytes) -> list[bytes]:
        self.history.append(frame)
        y = 0x80 + (self.address << 4)  # reply header: (address + 8) << 4
        if len(frame) < 3 or frame[-1] != TERMINATOR or frame[0] & 0xF0 != 0x80:
            return [bytes([y, 0x60, 0x02, TERMINATOR])]  # syntax error
        dest = frame[0] & 0x0F
        if dest not in (self.address, 8):  # 8 = broadcast
            return []
        body = frame[1:-1]
        ack = bytes([y, 0x41, TERMINATOR])
        done = bytes([y, 0x51, TERMINATOR])
        if body[:4] == b"\x01\x04\x3f\x02" and len(body) == 5:
            if self.power != "on":
                return [bytes([y, 0x61, 0x41, TERMINATOR])]  # not executable
            self.position = body[4]
            return [ack, done]
        if body[:4] == b"\x01\x04\x3f\x01" and len(body) == 5:
            self.presets.add(body[4])
            return [ack, done]
        if body[:3] == b"\x01\x04\x00" and len(body) == 4 and body[3] in (2, 3):
            self.power = "on" if body[3] == 2 else "standby"
            return [ack, done]
        if body == b"\x09\x04\x00":
            return [bytes([y, 0x50, 0x02 if self.power == "on" else 0x03, TERMINATOR])]
        return [bytes([y, 0x60, 0x02, TERMINATOR])]  # syntax error


class _UdpServer(asyncio.DatagramProtocol):
    def __init__(self, emu: UdpViscaEmulator) -> None:
        self.emu = emu
        self.transport: asyncio.DatagramTransport | None = None

    # a datagram endpoint always hands over a DatagramTransport (the base class says BaseTransport)
    def connection_made(self, transport: asyncio.DatagramTransport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        for out in self.emu.handle_datagram(data):
            assert self.transport is not None
            self.transport.sendto(out, addr)


class UdpViscaEmulator:
    """``async with UdpViscaEmulator() as emu:`` listening on ``emu.host``/``emu.port``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, address: int = 1,
                 strict_sequence: bool = False) -> None:
        self.host = host
        self.port = port
        self.model = ViscaCameraModel(address)
        self.strict_sequence = strict_sequence
        self.expected_seq: int | None = None  # None until the first message (or a reset)
        self.resets = 0
        self.sequence_errors = 0
        self.malformed = 0
        self.silent = False  # tests: drop everything (camera unplugged)
        self._transport: asyncio.DatagramTransport | None = None

    def handle_datagram(self, data: bytes) -> list[bytes]:
        if self.silent:
            return []
        try:
            ptype, seq, payload = ip_unwrap(data)
        except ViscaError:
            self.malformed += 1
            return [ip_wrap(TYPE_CONTROL_REPLY, 0, b"\x0f\x02")]
        if ptype == TYPE_CONTROL:
            if payload == CONTROL_RESET:
                self.resets += 1
                self.expected_seq = None
                return [ip_wrap(TYPE_CONTROL_REPLY, seq, b"\x01")]
            return [ip_wrap(TYPE_CONTROL_REPLY, seq, b"\x0f\x02")]
        if ptype not in (TYPE_COMMAND, TYPE_INQUIRY):
            return [ip_wrap(TYPE_CONTROL_REPLY, seq, b"\x0f\x02")]
        if self.strict_sequence and self.expected_seq is not None and seq != self.expected_seq:
            self.sequence_errors += 1
            return [ip_wrap(TYPE_CONTROL_REPLY, seq, CONTROL_ERR_SEQUENCE)]
        self.expected_seq = (seq + 1) & 0xFFFFFFFF
        return [ip_wrap(TYPE_REPLY, seq, r) for r in self.model.handle(payload)]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpServer(self), local_addr=(self.host, self.port)
        )
        self.port = self._transport.get_extra_info("sockname")[1]

    async def stop(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> UdpViscaEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class PtyViscaEmulator:
    """A serial VISCA camera on a pseudo-terminal: open ``emu.path`` with pyserial."""

    def __init__(self, address: int = 1) -> None:
        self.model = ViscaCameraModel(address)
        self.path = ""
        self._master = -1
        self._slave = -1
        self._split = FrameSplitter()

    async def start(self) -> None:
        self._master, self._slave = pty.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)  # raw, no echo: a null-modem cable
        attrs = termios.tcgetattr(self._slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        asyncio.get_running_loop().add_reader(self._master, self._on_readable)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 256)
        except (BlockingIOError, OSError):
            return
        for frame in self._split.feed(data):
            for reply in self.model.handle(frame):
                with contextlib.suppress(OSError):
                    os.write(self._master, reply)

    async def stop(self) -> None:
        if self._master >= 0:
            asyncio.get_running_loop().remove_reader(self._master)
            os.close(self._master)
            os.close(self._slave)
            self._master = self._slave = -1

    async def __aenter__(self) -> PtyViscaEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
