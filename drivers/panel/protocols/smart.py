"""SMART Board MX RS-232 session: prompt handling, ``#`` events, power-saving silence."""

from __future__ import annotations

from typing import Any

from drivers.panel.codecs import smart as c
from drivers.panel.errors import DeviceRefused, PanelFault
from drivers.panel.protocols.base import PanelProtocol, Updates


class SmartProtocol(PanelProtocol):
    name = "smart"
    transports = ("serial", "tcp")  # tcp: a serial-to-Ethernet adapter
    default_baud = 19200
    silent_when_off = True

    @staticmethod
    def decoder() -> c.PanelDecoder:
        return c.PanelDecoder()

    @staticmethod
    def is_unsolicited(frame: Any) -> bool:
        return isinstance(frame, c.Event)

    @staticmethod
    def unsolicited_updates(frame: Any) -> Updates:
        return _updates(frame.key, frame.value) if isinstance(frame, c.Event) else {}

    async def handshake(self) -> Updates:
        # a bare CR makes an awake panel print its prompt; boot junk before it is skipped
        await self.ask(b"\r", lambda f: isinstance(f, c.Prompt), "prompt")
        ident: Updates = {}
        for key, field in (("modelnum", "model"), ("serialnum", "serial")):
            value = await self._get(key, optional=True)
            if value:
                ident[field] = value
        return ident

    async def _get(self, key: str, optional: bool = False) -> str | None:
        if key in self.unsupported:
            return None
        reply = await self.ask(
            c.encode_get(key),
            lambda f: isinstance(f, c.Invalid) or (isinstance(f, c.Reply) and f.key == key),
            f"'{key}' reply",
        )
        if isinstance(reply, c.Invalid):
            if optional:
                self.unsupported.add(key)
                return None
            raise DeviceRefused("unsupported", f"panel says invalid cmd for get {key}")
        value: str = reply.value
        return value

    async def _set(self, key: str, value: str) -> None:
        reply = await self.ask(
            c.encode_set(key, value),
            lambda f: isinstance(f, c.Invalid) or (isinstance(f, c.Reply) and f.key == key),
            f"'{key}' reply",
        )
        if isinstance(reply, c.Invalid):
            raise DeviceRefused("bad_value", f"panel refused set {key}={value}")
        if reply.value.lower() != value.lower() and key != "powerstate":
            raise DeviceRefused("busy", f"panel kept {key}={reply.value} after set to {value}")

    async def poll(self) -> Updates:
        out: Updates = {}
        for key in ("powerstate", "input", "volume", "mute"):
            value = await self._get(key, optional=key != "powerstate")
            if value is not None:
                out.update(_updates(key, value))
        if "power" not in out:
            raise PanelFault("garbage", "unknown powerstate value from panel")
        return out

    async def set_power(self, on: bool) -> None:
        await self._set("powerstate", "on" if on else "standby")

    async def set_input(self, code: str) -> None:
        await self._set("input", code)

    @classmethod
    def input_code(cls, name: str) -> str | None:
        n = name.strip().lower()
        return n if n in c.INPUTS else None

    @classmethod
    def known_inputs(cls) -> list[str]:
        return list(c.INPUTS)


def _updates(key: str, value: str) -> Updates:
    v = value.lower()
    if key == "powerstate":
        return {"power": c.POWER[v], "power_detail": v} if v in c.POWER else {}
    if key == "input":
        return {"input": v} if v and v != "none" else {"input": None}
    if key == "volume":
        vol = c.parse_volume(v)
        return {"volume": vol} if vol is not None else {}
    if key == "mute":
        m = c.parse_onoff(v)
        return {"mute": m} if m is not None else {}
    return {}
