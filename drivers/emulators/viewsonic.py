"""A ViewSonic ViewBoard-style display: 9-byte ASCII frames on RS-232 (pty) or TCP 5000."""

from __future__ import annotations

import asyncio

from drivers.emulators.panel_base import Conn, PanelEmulator
from drivers.panel.codecs import viewsonic as c


class ViewSonicEmulator(PanelEmulator):
    protocol = "viewsonic"
    default_port = 5000

    def __init__(self, display_id: int = 1) -> None:
        super().__init__()
        self.display_id = display_id
        self.power = "001"
        self.input = "004"
        self.volume = 30
        self.mute = "000"

    async def serve(self, reader: asyncio.StreamReader, conn: Conn) -> None:
        async for frame in self.frames(reader, conn, c.Decoder()):
            if frame.type not in "sg":
                continue
            self.requests += 1
            everyone = frame.display_id == 99
            if frame.display_id != self.display_id and not everyone:
                continue  # another display on the chain
            out = self.answer(frame)
            if everyone and self.display_id != 1:
                continue  # with ID 99 only display 1 answers
            await self.reply(conn, out)

    def answer(self, f: c.Frame) -> bytes:
        ok = c.Frame(self.display_id, "+").encode()
        no = c.Frame(self.display_id, "-").encode()
        v = (f.value or "").upper()
        if f.type == "s":
            if f.cmd == c.SET_POWER and v in ("000", "001"):
                self.power = v
                return ok
            if f.cmd == c.SET_INPUT and v in c.INPUTS and self.power == "001":
                self.input = v
                return ok
            if f.cmd == c.SET_VOLUME and v.isdigit() and int(v) <= 100:
                self.volume = int(v)
                return ok
            if f.cmd == c.SET_MUTE and v in ("000", "001"):
                self.mute = v
                return ok
            return no
        value = {c.GET_POWER: self.power, c.GET_INPUT: self.input,
                 c.GET_VOLUME: f"{self.volume:03d}", c.GET_MUTE: self.mute}.get(f.cmd or "")
        if value is None:
            return no
        return c.Frame(self.display_id, "r", f.cmd, value).encode()
