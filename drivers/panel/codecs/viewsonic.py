"""ViewSonic ViewBoard / BenQ-style LFD serial protocol: fixed ASCII frames, RS-232 9600 8N1
or TCP 5000.

``Length ID(2) Type Cmd V1 V2 V3 CR`` where Length is the ASCII count of bytes before CR:
set ``8 01 s ! 001 \\r`` -> ``4 01 + \\r`` (or ``-`` when refused); get ``8 01 g l 000 \\r``
-> ``8 01 r l 001 \\r``. ID 99 addresses every display on a daisy chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers.panel.codecs import BufferedDecoder, Junk

CR = 0x0D


@dataclass(frozen=True)
class Frame:
    display_id: int
    type: str  # s g r + -
    cmd: str | None = None
    value: str | None = None

    def encode(self) -> bytes:
        body = f"{self.display_id:02d}{self.type}"
        if self.cmd is not None:
            body += f"{self.cmd}{self.value or '000'}"
        return f"{len(body) + 1}{body}\r".encode("ascii")


def encode_set(display_id: int, cmd: str, value: str | int) -> bytes:
    return Frame(display_id, "s", cmd, _value(value)).encode()


def encode_get(display_id: int, cmd: str) -> bytes:
    return Frame(display_id, "g", cmd, "000").encode()


def _value(value: str | int) -> str:
    v = f"{value:03d}" if isinstance(value, int) else value
    if len(v) != 3:
        raise ValueError(f"ViewSonic value must be 3 characters, got {v!r}")
    return v


class Decoder(BufferedDecoder):
    """Cuts frames ``'4'|'8' ID ID type [cmd v v v] CR``; anything else is junk."""

    def feed(self, data: bytes) -> list[Any]:
        self._buf += data
        out: list[Any] = []
        junk = bytearray()
        while self._buf:
            n = self._buf[0] - 0x30
            if n not in (4, 8):
                junk.append(self._buf.pop(0))
                continue
            if len(self._buf) < n + 1:
                break  # wait for the rest of the frame
            frame = _parse(bytes(self._buf[: n + 1]))
            if frame is None:
                junk.append(self._buf.pop(0))
                continue
            if junk:
                out.append(Junk(bytes(junk)))
                junk.clear()
            out.append(frame)
            del self._buf[: n + 1]
        if junk:
            out.append(Junk(bytes(junk)))
        return out


def _parse(raw: bytes) -> Frame | None:
    if raw[-1] != CR or not all(32 <= b < 127 for b in raw[:-1]):
        return None
    text = raw[:-1].decode("ascii")
    ident, ftype = text[1:3], text[3]
    if not ident.isdigit():
        return None
    if len(text) == 4:
        return Frame(int(ident), ftype) if ftype in "+-" else None
    if ftype not in "sgr":
        return None
    return Frame(int(ident), ftype, text[4], text[5:8])


# ----------------------------------------------------------------- commands and values

SET_POWER, SET_INPUT, SET_VOLUME, SET_MUTE = "!", '"', "5", "6"
GET_POWER, GET_INPUT, GET_VOLUME, GET_MUTE = "l", "j", "f", "g"
POWER = {"000": "off", "001": "on"}
INPUTS = {"004": "HDMI1", "014": "HDMI2", "024": "HDMI3", "009": "DP", "006": "VGA",
          "007": "OPS", "00A": "EMBEDDED", "00C": "USBC"}
INPUT_CODES = {v: k for k, v in INPUTS.items()}
