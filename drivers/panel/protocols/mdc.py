"""Samsung MDC over TCP 1515 or RS-232 (plain protocol; not the TLS "secured" variant)."""

from __future__ import annotations

from drivers.panel.codecs import mdc as c
from drivers.panel.errors import DeviceRefused, PanelFault
from drivers.panel.protocols.base import PanelProtocol, Updates


class MdcProtocol(PanelProtocol):
    name = "mdc"
    default_port = 1515
    default_baud = 9600

    @staticmethod
    def decoder() -> c.Decoder:
        return c.Decoder()

    async def _cmd(self, cmd: int, data: bytes = b"", optional: bool = False) -> bytes | None:
        if cmd in self.unsupported:
            return None
        ident = self.options.display_id
        reply = await self.ask(
            c.encode(cmd, ident, data),
            lambda f: isinstance(f, c.Frame) and f.is_reply and f.rcmd == cmd
            and f.display_id == ident,
            f"MDC 0x{cmd:02X} reply",
        )
        if not reply.ack:
            err = reply.values[0] if reply.values else 0
            if optional:
                self.unsupported.add(cmd)
                return None
            raise DeviceRefused("bad_value" if data else "unsupported",
                                f"display NAK for 0x{cmd:02X} (error {err})")
        values: bytes = reply.values
        return values

    async def handshake(self) -> Updates:
        ident: Updates = {}
        for cmd, field in ((c.MODEL_NAME, "model"), (c.SERIAL, "serial")):
            raw = await self._cmd(cmd, optional=True)
            if raw:
                text = raw.rstrip(b"\x00 ").decode("ascii", "replace")
                if text:
                    ident[field] = text
        return ident

    async def poll(self) -> Updates:
        status = await self._cmd(c.STATUS)
        if status is None or len(status) < 4:
            raise PanelFault("garbage", f"short MDC status reply ({len(status or b'')} bytes)")
        out: Updates = {
            "power": "on" if status[0] else "off",
            "volume": status[1] if status[1] <= 100 else None,
            "mute": bool(status[2]),
            "input": c.INPUTS.get(status[3], f"0x{status[3]:02X}"),
        }
        flags = await self._cmd(c.DISPLAY_STATUS, optional=True)
        if flags is not None:
            errors = {}
            for name, value in zip(c.DISPLAY_FLAGS, flags, strict=False):
                if name and value and name != "no_sync":
                    errors[name] = "error"
            out["errors"] = errors
            if len(flags) > 3:
                out["no_signal"] = bool(flags[3])
        return out

    async def set_power(self, on: bool) -> None:
        await self._cmd(c.POWER, bytes([1 if on else 0]))

    async def set_input(self, code: str) -> None:
        await self._cmd(c.INPUT, bytes([int(code, 16)]))

    @classmethod
    def input_code(cls, name: str) -> str | None:
        n = name.strip().upper()
        if n in c.INPUT_CODES:
            return f"{c.INPUT_CODES[n]:02X}"
        if n.startswith("0X") and len(n) == 4:
            try:
                int(n[2:], 16)
            except ValueError:
                return None
            return n[2:]
        return None

    @classmethod
    def known_inputs(cls) -> list[str]:
        return list(c.INPUT_CODES)
