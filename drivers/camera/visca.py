"""VISCA PTZ control: the byte codec and two asyncio transports (serial, UDP 52381).

Frames: ``8x QQ RR … FF`` (x = camera address 1-7). Replies: ``y0 4z FF`` ACK (z = socket),
``y0 5z … FF`` completion (inquiry data before FF), ``y0 6z ee FF`` error.

VISCA over IP wraps each frame in an 8-byte header: payload type (2 bytes: 0x0100 command,
0x0110 inquiry, 0x0111 reply, 0x0200 control, 0x0201 control reply), payload length
(2 bytes), sequence number (4 bytes, big-endian). Replies carry the request's sequence
number. Some cameras lose track of the sequence: a control ``RESET`` (0x01) sets it to 0;
we send one on connect and again after a sequence error.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass
from typing import Any, Self

# ------------------------------------------------------------------ codec

TERMINATOR = 0xFF
ERRORS = {
    0x01: "message length error",
    0x02: "syntax error",
    0x03: "command buffer full",
    0x04: "command canceled",
    0x05: "no socket",
    0x41: "command not executable",
}
POWER = {0x02: "on", 0x03: "standby"}


class ViscaError(Exception):
    """A VISCA error reply, a malformed reply or no reply in time."""


def command(address: int, payload: bytes) -> bytes:
    if not 1 <= address <= 7:
        raise ValueError(f"VISCA address must be 1-7, got {address}")
    if TERMINATOR in payload:
        raise ValueError("VISCA payload must not contain 0xFF")
    return bytes([0x80 | address]) + payload + bytes([TERMINATOR])


def preset_recall(address: int, preset: int) -> bytes:
    _check_preset(preset)
    return command(address, bytes([0x01, 0x04, 0x3F, 0x02, preset]))


def preset_set(address: int, preset: int) -> bytes:
    _check_preset(preset)
    return command(address, bytes([0x01, 0x04, 0x3F, 0x01, preset]))


def power_inquiry(address: int) -> bytes:
    return command(address, bytes([0x09, 0x04, 0x00]))


PRESET_MAX = 0xFE  # the preset is one byte of the frame, and 0xFF ends a frame


def _check_preset(preset: int) -> None:
    if not 0 <= preset <= PRESET_MAX:
        raise ValueError(f"VISCA preset must be 0-{PRESET_MAX}, got {preset}")


@dataclass(frozen=True)
class Reply:
    kind: str  # "ack" | "completion" | "error"
    address: int  # camera address (y - 8)
    socket: int
    data: bytes = b""  # completion: inquiry data; error: the error code byte

    @property
    def error(self) -> str:
        return ERRORS.get(self.data[0], f"error 0x{self.data[0]:02x}") if self.data else "error"


def parse_reply(frame: bytes) -> Reply:
    """One reply frame (ending in FF) -> Reply; raises ViscaError when malformed."""
    if len(frame) < 3 or frame[-1] != TERMINATOR:
        raise ViscaError(f"malformed reply {frame.hex(' ')}")
    head, kind_byte = frame[0], frame[1]
    if head & 0x8F != 0x80 or head == 0x80:
        raise ViscaError(f"bad reply header {frame.hex(' ')}")
    address = (head >> 4) - 8
    socket = kind_byte & 0x0F
    body = frame[2:-1]
    match kind_byte >> 4:
        case 0x4:
            return Reply("ack", address, socket)
        case 0x5:
            return Reply("completion", address, socket, body)
        case 0x6:
            if not body:
                raise ViscaError(f"error reply without a code {frame.hex(' ')}")
            return Reply("error", address, socket, body[:1])
    raise ViscaError(f"unknown reply type {frame.hex(' ')}")


class FrameSplitter:
    """Bytes in, complete FF-terminated frames out (serial streams arrive in pieces)."""

    MAX = 64  # no VISCA frame is this long: garbage is dropped, not buffered forever

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        out = []
        for b in data:
            if not self._buf and not b & 0x80:
                continue  # a frame starts with a header byte (bit 7 set): skip noise
            self._buf.append(b)
            if b == TERMINATOR:
                out.append(bytes(self._buf))
                self._buf.clear()
            elif len(self._buf) > self.MAX:
                self._buf.clear()
        return out


# ------------------------------------------------------------------ VISCA over IP header

TYPE_COMMAND = 0x0100
TYPE_INQUIRY = 0x0110
TYPE_REPLY = 0x0111
TYPE_CONTROL = 0x0200
TYPE_CONTROL_REPLY = 0x0201
CONTROL_RESET = b"\x01"
CONTROL_ERR_SEQUENCE = b"\x0f\x01"
CONTROL_ERR_MESSAGE = b"\x0f\x02"
HEADER = struct.Struct(">HHI")


def ip_wrap(ptype: int, seq: int, payload: bytes) -> bytes:
    return HEADER.pack(ptype, len(payload), seq & 0xFFFFFFFF) + payload


def ip_unwrap(datagram: bytes) -> tuple[int, int, bytes]:
    """-> (payload type, sequence, payload); raises ViscaError when malformed."""
    if len(datagram) < HEADER.size:
        raise ViscaError(f"datagram too short ({len(datagram)} bytes)")
    ptype, length, seq = HEADER.unpack_from(datagram)
    payload = datagram[HEADER.size:]
    if length != len(payload):
        raise ViscaError(f"length field {length} but {len(payload)} payload bytes")
    return ptype, seq, payload


# ------------------------------------------------------------------ transports


class ViscaClient:
    """Common request logic: send one frame, wait for its completion (ACKs skipped)."""

    def __init__(self, address: int = 1, timeout_s: float = 3.0) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self._lock = asyncio.Lock()  # VISCA is one request at a time per camera

    async def recall_preset(self, preset: int) -> None:
        await self.request(preset_recall(self.address, preset))

    async def set_preset(self, preset: int) -> None:
        await self.request(preset_set(self.address, preset))

    async def power(self) -> str:
        reply = await self.request(power_inquiry(self.address), inquiry=True)
        return POWER.get(reply.data[0], f"0x{reply.data[0]:02x}") if reply.data else "unknown"

    async def request(self, frame: bytes, inquiry: bool = False) -> Reply:
        async with self._lock:
            try:
                async with asyncio.timeout(self.timeout_s):
                    return await self._exchange(frame, inquiry)
            except TimeoutError:
                raise ViscaError(f"no reply within {self.timeout_s:g} s") from None

    async def _exchange(self, frame: bytes, inquiry: bool) -> Reply:
        raise NotImplementedError

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _final(reply: Reply) -> Reply | None:
    if reply.kind == "error":
        raise ViscaError(reply.error)
    return reply if reply.kind == "completion" else None


class SerialVisca(ViscaClient):
    """VISCA over RS-232/RS-422 through pyserial-asyncio-fast."""

    def __init__(self, port: str, baudrate: int = 9600, address: int = 1,
                 timeout_s: float = 3.0) -> None:
        super().__init__(address, timeout_s)
        self.port = port
        self.baudrate = baudrate
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._split = FrameSplitter()

    async def connect(self) -> None:
        # lazy: pyserial loads only for a serial VISCA camera
        import serial_asyncio_fast

        try:
            self._reader, self._writer = await serial_asyncio_fast.open_serial_connection(
                url=self.port, baudrate=self.baudrate
            )
        except Exception as e:  # SerialException, OSError
            raise ViscaError(f"cannot open {self.port}: {e}") from None

    async def _exchange(self, frame: bytes, inquiry: bool) -> Reply:
        if self._writer is None:
            await self.connect()
        assert self._reader is not None and self._writer is not None
        self._writer.write(frame)
        await self._writer.drain()
        while True:
            data = await self._reader.read(64)
            if not data:
                raise ViscaError("serial port closed")
            for f in self._split.feed(data):
                try:
                    reply = parse_reply(f)
                except ViscaError:
                    continue  # line noise: keep waiting for a real reply
                if (done := _final(reply)) is not None:
                    return done

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        self._writer = self._reader = None


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(100)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if not self.queue.full():
            self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable etc.
        if not self.queue.full():
            self.queue.put_nowait(b"")


class UdpVisca(ViscaClient):
    """VISCA over IP (UDP, default port 52381) from an ephemeral local port, so several
    cameras can be driven from one agent."""

    def __init__(self, host: str, port: int = 52381, address: int = 1,
                 timeout_s: float = 3.0) -> None:
        super().__init__(address, timeout_s)
        self.host = host
        self.port = port
        self.seq = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._proto: _UdpProtocol | None = None
        self.resets = 0

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, self._proto = await loop.create_datagram_endpoint(
            _UdpProtocol, remote_addr=(self.host, self.port)
        )
        await self._reset()

    async def _reset(self) -> None:
        self.seq = 0
        self.resets += 1
        await self._send_wait(TYPE_CONTROL, CONTROL_RESET, want=TYPE_CONTROL_REPLY)

    async def _send_wait(self, ptype: int, payload: bytes, want: int) -> tuple[int, bytes]:
        assert self._transport is not None and self._proto is not None
        seq = self.seq
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        while not self._proto.queue.empty():  # stale replies of an earlier timeout
            self._proto.queue.get_nowait()
        self._transport.sendto(ip_wrap(ptype, seq, payload))
        while True:
            data = await self._proto.queue.get()
            if not data:
                raise ViscaError(f"{self.host}:{self.port} unreachable")
            try:
                rtype, rseq, rpayload = ip_unwrap(data)
            except ViscaError:
                continue
            if rtype == TYPE_CONTROL_REPLY and rpayload[:2] == CONTROL_ERR_SEQUENCE:
                return rtype, rpayload
            if rseq != seq:
                continue  # a late reply to an earlier request
            if rtype == want or (want == TYPE_REPLY and rtype == TYPE_CONTROL_REPLY):
                return rtype, rpayload

    async def _exchange(self, frame: bytes, inquiry: bool) -> Reply:
        if self._transport is None:
            await self.connect()
        ptype = TYPE_INQUIRY if inquiry else TYPE_COMMAND
        for attempt in range(2):
            rtype, payload = await self._send_wait(ptype, frame, want=TYPE_REPLY)
            if rtype == TYPE_CONTROL_REPLY:  # sequence (or message) error: reset, resend
                if attempt == 0:
                    await self._reset()
                    continue
                raise ViscaError("camera keeps rejecting the sequence number")
            while True:  # an ACK first; the completion carries the same sequence number
                if (done := _final(parse_reply(payload))) is not None:
                    return done
                payload = await self._next_reply(self.seq - 1)
        raise ViscaError("unreachable")  # pragma: no cover

    async def _next_reply(self, seq: int) -> bytes:
        assert self._proto is not None
        while True:
            data = await self._proto.queue.get()
            if not data:
                raise ViscaError(f"{self.host}:{self.port} unreachable")
            try:
                rtype, rseq, payload = ip_unwrap(data)
            except ViscaError:
                continue
            if rtype == TYPE_REPLY and rseq == (seq & 0xFFFFFFFF):
                return payload

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._transport = self._proto = None
