"""SMART Board MX (V2-V5) RS-232 ASCII command set, 19200 8N1.

Controller sends ``get <key>\\r`` or ``set <key>=<value>\\r``; the panel answers
``<key>=<value>`` then a ``>`` prompt (no line end after the prompt). Changes made at the
panel (remote, front buttons) arrive unsolicited as ``#<key>=<value>`` lines. An unknown
command gets ``invalid cmd=<what was sent>``. At boot the panel prints junk before its
first prompt; in power-saving it does not answer at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drivers.panel.codecs import MAX_PENDING, BufferedDecoder, Junk, printable


@dataclass(frozen=True)
class Prompt:
    pass


@dataclass(frozen=True)
class Reply:
    key: str
    value: str


@dataclass(frozen=True)
class Event:
    """``#key=value``: a change made at the panel."""

    key: str
    value: str


@dataclass(frozen=True)
class Invalid:
    command: str


@dataclass(frozen=True)
class Command:
    """A request as the panel (emulator) sees it."""

    verb: str  # "get" | "set"
    key: str
    value: str | None = None


def encode_get(key: str) -> bytes:
    return f"get {key}\r".encode("ascii")


def encode_set(key: str, value: str) -> bytes:
    return f"set {key}={value}\r".encode("ascii")


def _split_kv(text: str) -> tuple[str, str] | None:
    key, sep, value = text.partition("=")
    key = key.strip().lower()
    if not sep or not key or " " in key:
        return None
    return key, value.strip()


class _Lines(BufferedDecoder):
    """Line cutter shared by both directions; ``>`` at a line start is the prompt.

    Bytes that cannot be in a line (not printable ASCII, not CR/LF) make the current line
    Junk at once: boot noise is reported as noise, not as a half-received reply."""

    def __init__(self, prompt: bool) -> None:
        super().__init__()
        self._prompt = prompt

    def _cut(self, data: bytes) -> list[bytes | Prompt | Junk]:
        out: list[bytes | Prompt | Junk] = []
        for b in data:
            if b in (0x0D, 0x0A):
                if self._buf:
                    out.append(bytes(self._buf))
                    self._buf.clear()
                elif b == 0x0D and not self._prompt:
                    out.append(b"")  # a bare CR asks the panel for its prompt
            elif 32 <= b < 127:
                if self._prompt and b == 0x3E and not self._buf:
                    out.append(Prompt())
                elif b == 0x20 and not self._buf:
                    continue  # the space after a prompt
                else:
                    self._buf.append(b)
                    if len(self._buf) > MAX_PENDING:
                        out.append(Junk(bytes(self._buf)))
                        self._buf.clear()
            else:
                if out and isinstance(out[-1], Junk):
                    out[-1] = Junk(out[-1].data + bytes(self._buf) + bytes([b]))
                else:
                    out.append(Junk(bytes(self._buf) + bytes([b])))
                self._buf.clear()
        return out


class PanelDecoder(_Lines):
    """Decodes what the panel sends."""

    def __init__(self) -> None:
        super().__init__(prompt=True)

    def feed(self, data: bytes) -> list[Any]:
        return [parse_panel_line(i) if isinstance(i, bytes) else i for i in self._cut(data)]


def parse_panel_line(line: bytes) -> Reply | Event | Invalid | Junk:
    if not line or not printable(line) or len(line) > 200:
        return Junk(line)
    text = line.decode("ascii")
    if text.lower().startswith("invalid cmd"):
        return Invalid(text.partition("=")[2].strip())
    unsolicited = text.startswith("#")
    kv = _split_kv(text[1:] if unsolicited else text)
    if kv is None:
        return Junk(line)
    return Event(*kv) if unsolicited else Reply(*kv)


class ControllerDecoder(_Lines):
    """Decodes what a controller sends (the emulator's side)."""

    def __init__(self) -> None:
        super().__init__(prompt=False)

    def feed(self, data: bytes) -> list[Any]:
        out: list[Any] = []
        for item in self._cut(data):
            if isinstance(item, bytes):
                out.append(parse_controller_line(item))
            elif isinstance(item, Junk):
                out.append(item)
        return out


def parse_controller_line(line: bytes) -> Command | Junk:
    if not line:
        return Command("", "")
    if not printable(line):
        return Junk(line)
    verb, _, rest = line.decode("ascii").strip().partition(" ")
    verb = verb.lower()
    if verb == "get" and rest and " " not in rest.strip() and "=" not in rest:
        return Command("get", rest.strip().lower())
    if verb == "set":
        kv = _split_kv(rest)
        if kv:
            return Command("set", kv[0], kv[1].lower())
    return Junk(line)


# ----------------------------------------------------------------- values

# powerstate values: "update*" are the same states while a firmware update is pending
POWER = {"on": "on", "updateon": "on", "ready": "off", "updateready": "off", "standby": "off"}
INPUTS = ("hdmi1", "hdmi2", "hdmi3", "dp1", "vga1", "ops1", "usbc", "android")


def parse_volume(value: str) -> int | None:
    return int(value) if value.isdigit() and 0 <= int(value) <= 100 else None


def parse_onoff(value: str) -> bool | None:
    return {"on": True, "off": False}.get(value.lower())
