"""A Samsung MDC display: binary frames on TCP 1515 or RS-232 (pty), ACK/NAK replies."""

from __future__ import annotations

import asyncio

from drivers.emulators.panel_base import Conn, PanelEmulator
from drivers.panel.codecs import mdc as c


class MdcEmulator(PanelEmulator):
    protocol = "mdc"
    default_port = 1515

    def __init__(self, display_id: int = 1) -> None:
        super().__init__()
        self.display_id = display_id
        self.power = 1
        self.volume = 20
        self.mute = 0
        self.input = 0x21
        self.model = "QB65R"
        self.serial = "0LB3HCNM900123A"
        # lamp, temperature, brightness sensor, no sync, current temperature, fan
        self.display_status = [0, 0, 0, 0, 41, 0]

    async def serve(self, reader: asyncio.StreamReader, conn: Conn) -> None:
        async for frame in self.frames(reader, conn, c.Decoder()):
            if frame.cmd == c.REPLY:
                continue
            self.requests += 1
            if frame.display_id not in (self.display_id, 0xFE):
                continue
            await self.reply(conn, self.answer(frame))

    def answer(self, f: c.Frame) -> bytes:
        ident, d = self.display_id, f.data

        def ack(values: bytes = b"") -> bytes:
            return c.encode_ack(ident, f.cmd, values)

        nak = c.encode_nak(ident, f.cmd, 1)
        if f.cmd == c.STATUS and not d:
            return ack(bytes([self.power, self.volume, self.mute, self.input, 0x10, 0, 0]))
        if f.cmd == c.POWER:
            if d:
                if d[0] not in (0, 1):
                    return nak
                self.power = d[0]
            return ack(bytes([self.power]))
        if f.cmd == c.VOLUME:
            if d:
                if d[0] > 100:
                    return nak
                self.volume = d[0]
            return ack(bytes([self.volume]))
        if f.cmd == c.MUTE:
            if d:
                if d[0] not in (0, 1):
                    return nak
                self.mute = d[0]
            return ack(bytes([self.mute]))
        if f.cmd == c.INPUT:
            if d:
                if d[0] not in c.INPUTS or not self.power:
                    return nak
                self.input = d[0]
            return ack(bytes([self.input]))
        if f.cmd == c.MODEL_NAME and not d:
            return ack(self.model.encode())
        if f.cmd == c.SERIAL and not d:
            return ack(self.serial.encode().ljust(18, b"\x00"))
        if f.cmd == c.DISPLAY_STATUS and not d:
            return ack(bytes(self.display_status))
        return nak
