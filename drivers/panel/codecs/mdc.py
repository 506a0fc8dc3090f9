"""Samsung MDC (Multiple Display Control): binary frames over TCP 1515 or RS-232 9600 8N1.

``AA cmd id len data... checksum`` where checksum = sum(cmd, id, len, data) & 0xFF (the
0xAA header is not summed). Replies use cmd 0xFF: ``AA FF id len 'A'|'N' rcmd data...``
(``A`` ack with values, ``N`` nak with an error code). An empty data field is a query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers.panel.codecs import BufferedDecoder, Junk

HEADER = 0xAA
REPLY = 0xFF
ACK, NAK = 0x41, 0x4E


@dataclass(frozen=True)
class Frame:
    cmd: int
    display_id: int
    data: bytes = b""

    def encode(self) -> bytes:
        return encode(self.cmd, self.display_id, self.data)

    @property
    def is_reply(self) -> bool:
        return self.cmd == REPLY and len(self.data) >= 2

    @property
    def ack(self) -> bool:
        return self.is_reply and self.data[0] == ACK

    @property
    def rcmd(self) -> int | None:
        return self.data[1] if self.is_reply else None

    @property
    def values(self) -> bytes:
        return self.data[2:] if self.is_reply else b""


def checksum(body: bytes) -> int:
    return sum(body) & 0xFF


def encode(cmd: int, display_id: int, data: bytes = b"") -> bytes:
    if len(data) > 255:
        raise ValueError("MDC data longer than 255 bytes")
    body = bytes([cmd & 0xFF, display_id & 0xFF, len(data)]) + data
    return bytes([HEADER]) + body + bytes([checksum(body)])


def encode_ack(display_id: int, rcmd: int, values: bytes = b"") -> bytes:
    return encode(REPLY, display_id, bytes([ACK, rcmd]) + values)


def encode_nak(display_id: int, rcmd: int, error: int = 0) -> bytes:
    return encode(REPLY, display_id, bytes([NAK, rcmd, error]))


class Decoder(BufferedDecoder):
    """Finds 0xAA, waits for the length, checks the sum; resyncs byte by byte on junk."""

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        out: list[Any] = []
        junk = bytearray()
        while self._buf:
            if self._buf[0] != HEADER:
                junk.append(self._buf.pop(0))
                continue
            if len(self._buf) < 4:
                break
            total = 5 + self._buf[3]
            if len(self._buf) < total:
                break
            raw = bytes(self._buf[:total])
            if checksum(raw[1:-1]) != raw[-1]:
                junk.append(self._buf.pop(0))
                continue
            if junk:
                out.append(Junk(bytes(junk)))
                junk.clear()
            out.append(Frame(raw[1], raw[2], raw[4:-1]))
            del self._buf[:total]
        if junk:
            out.append(Junk(bytes(junk)))
        return out


# ----------------------------------------------------------------- commands and values

STATUS, POWER, VOLUME, MUTE, INPUT = 0x00, 0x11, 0x12, 0x13, 0x14
SERIAL, DISPLAY_STATUS, MODEL_NAME = 0x0B, 0x0D, 0x8A
INPUTS = {0x14: "PC", 0x18: "DVI", 0x0C: "AV", 0x08: "COMPONENT", 0x20: "MAGICINFO",
          0x21: "HDMI1", 0x22: "HDMI1_PC", 0x23: "HDMI2", 0x24: "HDMI2_PC", 0x25: "DP",
          0x31: "HDMI3", 0x32: "HDMI3_PC", 0x33: "HDMI4", 0x34: "HDMI4_PC", 0x60: "MAGICINFO_S"}
INPUT_CODES = {v: k for k, v in INPUTS.items()}
# display status (0x0D) bytes: lamp, temperature, brightness sensor, no sync, current
# temperature (deg C), fan; 0 = normal
DISPLAY_FLAGS = ("lamp", "temperature", "brightness_sensor", "no_sync", None, "fan")
