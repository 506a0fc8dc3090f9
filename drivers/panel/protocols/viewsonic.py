"""ViewSonic ViewBoard / BenQ-style 9-byte frames over RS-232 or TCP 5000."""

from __future__ import annotations

from drivers.panel.codecs import viewsonic as c
from drivers.panel.errors import DeviceRefused
from drivers.panel.protocols.base import PanelProtocol, Updates


class ViewSonicProtocol(PanelProtocol):
    name = "viewsonic"
    default_port = 5000
    default_baud = 9600

    @staticmethod
    def decoder() -> c.Decoder:
        return c.Decoder()

    def _mine(self, f: object) -> bool:
        return isinstance(f, c.Frame) and f.display_id == self.options.display_id

    async def _get(self, cmd: str) -> str | None:
        if cmd in self.unsupported:
            return None
        reply = await self.ask(
            c.encode_get(self.options.display_id, cmd),
            lambda f: self._mine(f) and (f.type == "-" or (f.type == "r" and f.cmd == cmd)),
            f"get '{cmd}' reply",
        )
        if reply.type == "-":
            self.unsupported.add(cmd)
            return None
        value: str = reply.value
        return value

    async def _set(self, cmd: str, value: str) -> None:
        reply = await self.ask(
            c.encode_set(self.options.display_id, cmd, value),
            lambda f: self._mine(f) and f.type in "+-",
            f"set '{cmd}' reply",
        )
        if reply.type == "-":
            raise DeviceRefused("bad_value", f"display refused set {cmd!r} {value}")

    async def handshake(self) -> Updates:
        await self._get(c.GET_POWER)  # proves the display answers on this ID
        return {}

    async def poll(self) -> Updates:
        out: Updates = {}
        power = await self._get(c.GET_POWER)
        if power in c.POWER:
            out["power"] = c.POWER[power]
        inpt = await self._get(c.GET_INPUT)
        if inpt is not None:
            out["input"] = c.INPUTS.get(inpt.upper(), f"CODE{inpt}")
        vol = await self._get(c.GET_VOLUME)
        if vol is not None and vol.isdigit():
            out["volume"] = int(vol)
        mute = await self._get(c.GET_MUTE)
        if mute in ("000", "001"):
            out["mute"] = mute == "001"
        return out

    async def set_power(self, on: bool) -> None:
        await self._set(c.SET_POWER, "001" if on else "000")

    async def set_input(self, code: str) -> None:
        await self._set(c.SET_INPUT, code)

    @classmethod
    def input_code(cls, name: str) -> str | None:
        n = name.strip().upper()
        if n in c.INPUT_CODES:
            return c.INPUT_CODES[n]
        if n.startswith("CODE") and len(n) == 7:
            return n[4:]
        return None

    @classmethod
    def known_inputs(cls) -> list[str]:
        return list(c.INPUT_CODES)
