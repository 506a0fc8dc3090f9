"""PJLink Class 1 over TCP 4352 (MD5 auth), plus Class 2 identity and notifications."""

from __future__ import annotations

from typing import Any

from drivers.panel.codecs import pjlink as c
from drivers.panel.errors import DeviceRefused, PanelFault
from drivers.panel.protocols.base import PanelProtocol, Updates

_REFUSAL = {"ERR1": ("unsupported", "undefined command"),
            "ERR2": ("bad_value", "out of parameter"),
            "ERR3": ("busy", "unavailable in the current state (warming up / standby?)"),
            "ERR4": ("device_failure", "projector/display failure")}


class PjlinkProtocol(PanelProtocol):
    name = "pjlink"
    transports = ("tcp",)
    default_port = 4352

    def __init__(self, *a: Any, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.pjlink_class = "1"
        self._digest: str | None = None  # sent with the first command only

    @staticmethod
    def decoder() -> c.LineDecoder:
        return c.device_decoder()

    @staticmethod
    def notification_updates(frame: Any) -> Updates | None:
        """Class 2 UDP notification -> state updates; ``{"_linkup": mac}`` for LKUP.
        None when the datagram is not a notification."""
        if not isinstance(frame, c.Response) or frame.cls != "2":
            return None
        if frame.cmd == "POWR" and frame.value in c.POWER:
            return {"power": c.POWER[frame.value]}
        if frame.cmd == "INPT" and (name := c.input_name(frame.value)):
            return {"input": name}
        if frame.cmd == "ERST" and (errs := c.parse_erst(frame.value)) is not None:
            return {"errors": errs}
        if frame.cmd == "LKUP" and (mac := c.normalise_mac(frame.value)):
            return {"_linkup": mac}
        return None

    async def handshake(self) -> Updates:
        greeting = await self.link.request(
            None, lambda f: isinstance(f, c.Greeting), self.options.timeout_s, "PJLink greeting"
        )
        if greeting.auth:
            if not self.options.password:
                raise PanelFault("auth_required", "device asks for a PJLink password; "
                                 "set password or password_file")
            self._digest = c.auth_digest(greeting.salt or "", self.options.password)
        cls = await self._query("CLSS")
        self.pjlink_class = "2" if cls == "2" else "1"
        ident: Updates = {"pjlink_class": self.pjlink_class}
        maker, product = await self._query("INF1"), await self._query("INF2")
        model = " ".join(p for p in (maker, product) if p)
        if model:
            ident["model"] = model
        if (name := await self._query("NAME")) is not None:
            ident["name"] = name
        if self.pjlink_class == "2":
            if (serial := await self._query("SNUM", cls="2")) is not None:
                ident["serial"] = serial
            if (version := await self._query("SVER", cls="2")) is not None:
                ident["firmware"] = version
        return ident

    async def _exchange(self, cmd: str, param: str, cls: str = "1") -> c.Response:
        data = c.encode_command(cmd, param, cls, self._digest)
        reply = await self.ask(
            data, lambda f: isinstance(f, c.AuthError) or (
                isinstance(f, c.Response) and f.cmd == cmd), f"{cmd} reply")
        if isinstance(reply, c.AuthError):
            raise PanelFault("auth_failed", "PJLink password rejected by the device (PJLINK ERRA)")
        self._digest = None
        response: c.Response = reply
        return response

    async def _query(self, cmd: str, cls: str = "1") -> str | None:
        """A ``?`` query; None when the device does not support it (asked once only)."""
        if cmd in self.unsupported:
            return None
        reply = await self._exchange(cmd, "?", cls)
        if reply.error:
            if reply.error in ("ERR1", "ERR2"):
                self.unsupported.add(cmd)
            return None
        return reply.value

    async def _set(self, cmd: str, param: str) -> None:
        reply = await self._exchange(cmd, param)
        if reply.error:
            code, text = _REFUSAL[reply.error]
            raise DeviceRefused(code, f"{cmd} {param}: {text}")
        if reply.value.upper() != "OK":
            raise PanelFault("garbage", f"unexpected answer to {cmd} {param}: {reply.value!r}")

    async def poll(self) -> Updates:
        out: Updates = {}
        power = await self._query("POWR")
        if power in c.POWER:
            out["power"] = c.POWER[power]
        inpt = await self._query("INPT")
        if inpt and (name := c.input_name(inpt)):
            out["input"] = name
        avmt = await self._query("AVMT")
        if avmt and (mute := c.parse_avmt(avmt)):
            out["video_mute"], out["mute"] = mute
        erst = await self._query("ERST")
        if erst is not None and (errs := c.parse_erst(erst)) is not None:
            out["errors"] = errs
        lamp = await self._query("LAMP")
        if lamp and (lamps := c.parse_lamp(lamp)):
            out["lamp_hours"] = lamps[0][0]
        return out

    async def set_power(self, on: bool) -> None:
        await self._set("POWR", "1" if on else "0")

    async def set_input(self, code: str) -> None:
        await self._set("INPT", code)

    @classmethod
    def input_code(cls, name: str) -> str | None:
        return c.input_code(name)

    @classmethod
    def known_inputs(cls) -> list[str]:
        return ["RGB1", "RGB2", "VIDEO1", "DIGITAL1", "DIGITAL2", "DIGITAL3", "STORAGE1",
                "NETWORK1"]
