"""PJLink (JBMIA) Class 1 and 2 wire format: CR-terminated ASCII lines.

Device greets ``PJLINK 0`` (no auth) or ``PJLINK 1 <salt>``; with auth the controller
prefixes its *first* command with hex ``md5(salt + password)`` (no separator). Commands
``%<class><CMD4> <param>\\r``, responses ``%<class><CMD4>=<value>\\r``, errors ``ERR1..4``,
bad password ``PJLINK ERRA``. Class 2 adds UDP ``%2SRCH``/``%2ACKN=<mac>`` and unsolicited
``%2LKUP=<mac>``, ``%2POWR=``, ``%2INPT=``, ``%2ERST=`` notifications.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drivers.panel.codecs import MAX_PENDING, BufferedDecoder, Junk, printable

CR = b"\r"


@dataclass(frozen=True)
class Greeting:
    auth: bool
    salt: str | None = None


@dataclass(frozen=True)
class AuthError:
    """``PJLINK ERRA``: the password digest was wrong (or missing)."""


@dataclass(frozen=True)
class Response:
    cls: str  # "1" or "2"
    cmd: str  # "POWR"
    value: str  # "1", "OK", "ERR3" ...

    @property
    def error(self) -> str | None:
        v = self.value.upper()
        return v if v in ("ERR1", "ERR2", "ERR3", "ERR4") else None


@dataclass(frozen=True)
class Request:
    """A command as the device (emulator) sees it."""

    cls: str
    cmd: str
    param: str
    digest: str | None = None


_RESP = re.compile(r"%([12])([A-Za-z0-9]{4})=(.*)")
_REQ = re.compile(r"([0-9a-fA-F]{32})?%([12])([A-Za-z0-9]{4})[ ](.*)")


def auth_digest(salt: str, password: str) -> str:
    return hashlib.md5((salt + password).encode("utf-8")).hexdigest()


def encode_command(cmd: str, param: str = "?", cls: str = "1", digest: str | None = None) -> bytes:
    if len(cmd) != 4 or not cmd.isalnum():
        raise ValueError(f"PJLink command must be 4 letters/digits, got {cmd!r}")
    if len(param) > 128 or "\r" in param:
        raise ValueError("PJLink parameter too long or contains CR")
    return f"{digest or ''}%{cls}{cmd.upper()} {param}\r".encode("ascii")


def encode_response(cmd: str, value: str, cls: str = "1") -> bytes:
    return f"%{cls}{cmd.upper()}={value}\r".encode("ascii")


def encode_greeting(salt: str | None) -> bytes:
    return b"PJLINK 0\r" if salt is None else f"PJLINK 1 {salt}\r".encode("ascii")


class LineDecoder(BufferedDecoder):
    """Cuts CR-terminated ASCII lines; ``parse`` turns each into a frame or Junk.

    A byte that can never be part of a line (not printable ASCII, not CR/LF) turns the
    line it is in into Junk at once, so noise is reported as noise, not as a half frame."""

    def __init__(self, parse: Callable[[bytes], Any], max_line: int = MAX_PENDING) -> None:
        super().__init__()
        self._parse = parse
        self._max = max_line

    def feed(self, data: bytes) -> list[Any]:
        out: list[Any] = []
        for b in data:
            if b == 0x0D:
                if self._buf:
                    out.append(self._parse(bytes(self._buf)))
                    self._buf.clear()
            elif b == 0x0A:
                continue  # CR LF line ends: LF is only a separator
            elif 32 <= b < 127:
                self._buf.append(b)
                if len(self._buf) > self._max:
                    out.append(Junk(bytes(self._buf)))
                    self._buf.clear()
            else:
                out.append(Junk(bytes(self._buf) + bytes([b])))
                self._buf.clear()
        return _merge_junk(out)


def _merge_junk(items: list[Any]) -> list[Any]:
    merged: list[Any] = []
    for item in items:
        if isinstance(item, Junk) and merged and isinstance(merged[-1], Junk):
            merged[-1] = Junk(merged[-1].data + item.data)
        else:
            merged.append(item)
    return merged


def parse_device_line(line: bytes) -> Greeting | AuthError | Response | Junk:
    """Parse one line sent by a device."""
    if not printable(line):
        return Junk(line + CR)
    text = line.decode("ascii")
    if text.upper() == "PJLINK ERRA":
        return AuthError()
    if text.upper().startswith("PJLINK "):
        rest = text[7:]
        if rest == "0":
            return Greeting(auth=False)
        if rest.startswith("1 ") and 1 <= len(rest[2:]) <= 32:
            return Greeting(auth=True, salt=rest[2:])
        return Junk(line + CR)
    m = _RESP.fullmatch(text)
    if m:
        return Response(m.group(1), m.group(2).upper(), m.group(3))
    return Junk(line + CR)


def parse_controller_line(line: bytes) -> Request | Junk:
    """Parse one line sent by a controller (the emulator's side)."""
    if not printable(line):
        return Junk(line + CR)
    m = _REQ.fullmatch(line.decode("ascii"))
    if not m:
        return Junk(line + CR)
    return Request(m.group(2), m.group(3).upper(), m.group(4), m.group(1))


def device_decoder() -> LineDecoder:
    return LineDecoder(parse_device_line)


def controller_decoder() -> LineDecoder:
    return LineDecoder(parse_controller_line)


# ----------------------------------------------------------------- values

POWER = {"0": "off", "1": "on", "2": "cooling", "3": "warming"}
INPUT_TYPES = {"1": "RGB", "2": "VIDEO", "3": "DIGITAL", "4": "STORAGE", "5": "NETWORK",
               "6": "INTERNAL"}
_TYPE_CODES = {v: k for k, v in INPUT_TYPES.items()}
ERST_FIELDS = ("fan", "lamp", "temperature", "cover", "filter", "other")
ERST_LEVELS = {"0": "ok", "1": "warning", "2": "error"}


def input_name(code: str) -> str | None:
    """``"31"`` -> ``"DIGITAL1"``; None when not a PJLink input code."""
    if len(code) == 2 and code[0] in INPUT_TYPES and code[1].isalnum():
        return f"{INPUT_TYPES[code[0]]}{code[1].upper()}"
    return None


def input_code(name: str) -> str | None:
    """``"DIGITAL1"`` or ``"31"`` -> ``"31"``; None when not a PJLink input."""
    n = name.strip().upper()
    if input_name(n):
        return n
    for tname, digit in _TYPE_CODES.items():
        if n.startswith(tname) and len(n) == len(tname) + 1 and n[-1].isalnum():
            return digit + n[-1]
    return None


def parse_erst(value: str) -> dict[str, str] | None:
    """``"000200"`` -> ``{"temperature": "error"}`` (only flags that are not OK)."""
    if len(value) != 6 or any(c not in ERST_LEVELS for c in value):
        return None
    return {f: ERST_LEVELS[c] for f, c in zip(ERST_FIELDS, value, strict=True) if c != "0"}


def encode_erst(errors: dict[str, str]) -> str:
    rev = {v: k for k, v in ERST_LEVELS.items()}
    return "".join(rev.get(errors.get(f, "ok"), "0") for f in ERST_FIELDS)


def parse_avmt(value: str) -> tuple[bool, bool] | None:
    """AV mute ``"31"`` -> (video muted, audio muted)."""
    return {"10": (False, False), "11": (True, False), "20": (False, False),
            "21": (False, True), "30": (False, False), "31": (True, True)}.get(value)


def parse_lamp(value: str) -> list[tuple[int, bool]] | None:
    parts = value.split()
    if not parts or len(parts) % 2:
        return None
    try:
        return [(int(parts[i]), parts[i + 1] == "1") for i in range(0, len(parts), 2)]
    except ValueError:
        return None


def normalise_mac(value: str) -> str | None:
    hexes = re.sub(r"[^0-9A-Fa-f]", "", value)
    if len(hexes) != 12:
        return None
    return ":".join(hexes[i : i + 2] for i in range(0, 12, 2)).lower()
