"""A PJLink Class 1 + 2 projector on TCP (default 4352) with MD5 auth and UDP
notifications / search, speaking the real wire format including ERR1..ERR4 and ERRA."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from typing import Any

from drivers.emulators.panel_base import Conn, PanelEmulator
from drivers.panel.codecs import pjlink as c

_CLASS1 = {"POWR", "INPT", "AVMT", "ERST", "LAMP", "INST", "NAME", "INF1", "INF2", "INFO",
           "CLSS"}
_CLASS2 = {"SNUM", "SVER", "INNM", "IRES", "RRES", "FILT", "RLMP", "RFIL", "SVOL", "MVOL",
           "FREZ"}


class PjlinkEmulator(PanelEmulator):
    protocol = "pjlink"
    default_port = 4352
    transports = ("tcp",)

    def __init__(
        self,
        password: str | None = None,
        pjlink_class: str = "2",
        warm_s: float = 0.0,
        cool_s: float = 0.0,
        notify_to: tuple[str, int] | None = None,
        mac: str = "00:11:22:aa:bb:cc",
    ) -> None:
        super().__init__()
        self.password = password
        self.pjlink_class = pjlink_class
        self.warm_s, self.cool_s = warm_s, cool_s
        # where Class 2 notifications go; default: the last controller's IP, UDP 4352
        self.notify_to = notify_to
        self._last_peer: str | None = None
        self.mac = mac
        self.power = "0"
        self.input = "31"
        self.inputs = ["11", "31", "32", "33", "51"]
        self.input_names = {"11": "Computer", "31": "HDMI 1", "32": "HDMI 2", "33": "OPS",
                            "51": "HDBaseT"}
        self.avmt = "30"
        self.errors: dict[str, str] = {}
        self.lamp_hours = 1200
        self.name, self.maker, self.product = "Room projector", "ACME", "PJ-5000"
        self.serial, self.version = "PJ5K-000123", "1.04"
        self.auth_failures = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._transition: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------ device behaviour

    def set_power(self, on: bool) -> None:
        if self._transition:
            self._transition.cancel()
        target, mid, delay = ("1", "3", self.warm_s) if on else ("0", "2", self.cool_s)
        if delay > 0:
            self._set("power", mid)
            self._transition = asyncio.get_running_loop().call_later(
                delay, lambda: self._set("power", target))
        else:
            self._set("power", target)

    def set_error(self, name: str, level: str = "error") -> None:
        errs = dict(self.errors)
        if level == "ok":
            errs.pop(name, None)
        else:
            errs[name] = level
        self._set("errors", errs)

    def select(self, code: str) -> None:
        self._set("input", code)

    def _set(self, what: str, value: Any) -> None:
        if getattr(self, what) == value:
            return
        setattr(self, what, value)
        wires: dict[str, tuple[str, Callable[[Any], str]]] = {
            "power": ("POWR", str), "input": ("INPT", str), "errors": ("ERST", c.encode_erst)}
        cmd, wire = wires[what]
        self.notify(cmd, wire(value))

    def notify(self, cmd: str, value: str) -> None:
        """Send a Class 2 status notification datagram."""
        if self.pjlink_class != "2" or self._udp is None or self.mis.silent:
            return
        dest = self.notify_to or ((self._last_peer, 4352) if self._last_peer else None)
        if dest is None:
            return
        with contextlib.suppress(OSError):
            self._udp.sendto(c.encode_response(cmd, value, cls="2"), dest)

    def link_up(self) -> None:
        """``%2LKUP=<mac>``: what a projector sends when its network comes up."""
        self.notify("LKUP", self.mac)

    # ------------------------------------------------------------ TCP sessions

    async def on_connect(self, conn: Conn) -> None:
        self._last_peer = conn.peer or self._last_peer
        salt = None
        if self.password is not None or self.mis.wrong_password:
            salt = secrets.token_hex(4)
        conn.state["salt"] = salt
        conn.state["authed"] = salt is None
        await conn.write(c.encode_greeting(salt))

    async def serve(self, reader: asyncio.StreamReader, conn: Conn) -> None:
        async for req in self.frames(reader, conn, c.controller_decoder()):
            self.requests += 1
            if not conn.state["authed"]:
                expected = c.auth_digest(conn.state["salt"], self.password or "")
                given = (req.digest or "").lower()
                if self.mis.wrong_password or given != expected:
                    self.auth_failures += 1
                    await self.reply(conn, b"PJLINK ERRA\r")
                    conn.close()
                    return
                conn.state["authed"] = True
            await self.reply(conn, c.encode_response(req.cmd, self.answer(req), req.cls))

    def answer(self, req: c.Request) -> str:
        cmd, p = req.cmd, req.param
        known = _CLASS1 | (_CLASS2 if self.pjlink_class == "2" else set())
        if cmd not in known or (req.cls == "2" and self.pjlink_class != "2"):
            return "ERR1"
        if cmd in _CLASS2 and req.cls != "2":
            return "ERR1"
        if p == "?":
            return self._query(cmd)
        return self._command(cmd, p)

    def _query(self, cmd: str) -> str:
        on = self.power == "1"
        return {
            "POWR": self.power,
            "INPT": self.input if on else "ERR3",
            "AVMT": self.avmt,
            "ERST": c.encode_erst(self.errors),
            "LAMP": f"{self.lamp_hours} {1 if on else 0}",
            "INST": " ".join(self.inputs),
            "NAME": self.name, "INF1": self.maker, "INF2": self.product, "INFO": "",
            "CLSS": self.pjlink_class,
            "SNUM": self.serial, "SVER": self.version,
            "IRES": "1920x1080" if on else "-", "RRES": "1920x1080",
            "FILT": "310", "RLMP": "LMP-1", "RFIL": "FLT-1", "FREZ": "0",
        }.get(cmd, "ERR2")

    def _command(self, cmd: str, p: str) -> str:
        if cmd == "POWR":
            if p not in ("0", "1"):
                return "ERR2"
            if self.power in ("2", "3"):
                return "ERR3"  # busy warming up / cooling down
            self.set_power(p == "1")
            return "OK"
        if cmd == "INPT":
            if p not in self.inputs:
                return "ERR2"
            if self.power != "1":
                return "ERR3"
            self.select(p)
            return "OK"
        if cmd == "AVMT":
            if p not in ("10", "11", "20", "21", "30", "31"):
                return "ERR2"
            if self.power != "1":
                return "ERR3"
            self.avmt = p
            return "OK"
        if cmd == "INNM" and p.startswith("?"):
            return self.input_names.get(p[1:], "ERR2")
        if cmd in ("SVOL", "MVOL", "FREZ"):
            return "OK" if p in ("0", "1") else "ERR2"
        return "ERR2"

    # ------------------------------------------------------------ UDP (search, notify)

    async def on_started(self) -> None:
        if self._udp is not None:
            return
        loop = asyncio.get_running_loop()
        emu = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport: Any) -> None:
                self.t = transport

            def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
                if data.strip() == b"%2SRCH" and emu.pjlink_class == "2" and not emu.mis.silent:
                    self.t.sendto(c.encode_response("ACKN", emu.mac, cls="2"), addr)

        try:
            # bound to the TCP port number (PJLink uses 4352 for both)
            self._udp, _ = await loop.create_datagram_endpoint(
                Udp, local_addr=(self.host, self.port or 0))
        except OSError:
            self._udp, _ = await loop.create_datagram_endpoint(Udp, local_addr=(self.host, 0))

    async def on_stop(self) -> None:
        if self._transition:
            self._transition.cancel()
        if self._udp is not None:
            self._udp.close()
            self._udp = None
