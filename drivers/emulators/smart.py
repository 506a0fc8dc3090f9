"""A SMART Board MX panel on RS-232 (pty) or a serial-to-TCP adapter.

Answers ``get``/``set`` lines with ``key=value`` and a ``>`` prompt, reports changes made
at the panel as ``#key=value``, prints junk when it boots, and after ``power_saving_after_s``
in standby goes silent (power-saving) until ``wake()`` (the remote's power button)."""

from __future__ import annotations

import asyncio
import random

from drivers.emulators.panel_base import Conn, PanelEmulator, junk
from drivers.panel.codecs import Junk
from drivers.panel.codecs import smart as c


class SmartEmulator(PanelEmulator):
    protocol = "smart"
    default_port = 0

    def __init__(self, power_saving_after_s: float | None = None, boot_junk: bool = True) -> None:
        super().__init__()
        self.values = {"powerstate": "on", "input": "hdmi1", "volume": "30", "mute": "off",
                       "brightness": "80", "videofreeze": "off",
                       "modelnum": "SBID-MX275-V2", "serialnum": "SN-MX275-0042"}
        self.power_saving_after_s = power_saving_after_s
        self.asleep = False
        self.boot_junk = boot_junk
        self._sleep_timer: asyncio.TimerHandle | None = None

    async def on_connect(self, conn: Conn) -> None:
        if self.boot_junk:
            await conn.write(_boot_noise())
        await conn.write(b">")

    async def serve(self, reader: asyncio.StreamReader, conn: Conn) -> None:
        decoder = c.ControllerDecoder()
        while not conn.closed:
            data = await reader.read(1024)
            if not data:
                return
            if self.asleep:
                continue  # power-saving: RS-232 is dead
            for cmd in decoder.feed(data):
                if isinstance(cmd, Junk):
                    continue
                self.requests += 1
                await self.reply(conn, self.answer(cmd))

    def answer(self, cmd: c.Command) -> bytes:
        if cmd.verb == "":
            return b">"
        line = f"{cmd.verb} {cmd.key}" + (f"={cmd.value}" if cmd.value is not None else "")
        if cmd.key not in self.values:
            return f"invalid cmd={line}\r\n>".encode()
        if cmd.verb == "set":
            err = self._apply(cmd.key, cmd.value or "")
            if err:
                return f"invalid cmd={line}\r\n>".encode()
        return f"{cmd.key}={self.values[cmd.key]}\r\n>".encode()

    def _apply(self, key: str, value: str) -> str | None:
        if key == "powerstate":
            if value not in ("on", "standby", "ready"):
                return "bad value"
            self._power("on" if value == "on" else "ready")
        elif key == "input":
            if value not in c.INPUTS:
                return "bad value"
            self.values["input"] = value
        elif key in ("volume", "brightness"):
            if not value.isdigit() or not 0 <= int(value) <= 100:
                return "bad value"
            self.values[key] = str(int(value))
        elif key in ("mute", "videofreeze"):
            if value not in ("on", "off"):
                return "bad value"
            self.values[key] = value
        else:
            return "read only"
        return None

    def _power(self, state: str) -> None:
        self.values["powerstate"] = state
        if self._sleep_timer:
            self._sleep_timer.cancel()
            self._sleep_timer = None
        if state == "ready" and self.power_saving_after_s is not None:
            self._sleep_timer = asyncio.get_running_loop().call_later(
                self.power_saving_after_s, self._fall_asleep)

    def _fall_asleep(self) -> None:
        self.asleep = True

    # ------------------------------------------------------------ at the panel

    async def local(self, key: str, value: str) -> None:
        """A change made with the remote / front buttons: state + ``#key=value``."""
        if self.asleep:
            return
        if key == "powerstate":
            self._power(value)
        else:
            self.values[key] = value
        await self.push(f"#{key}={self.values[key]}\r\n".encode())

    async def wake(self) -> None:
        """Power button while in power-saving: boots (junk), prompt, reports power on."""
        self.asleep = False
        self._power("on")
        await self.push(_boot_noise() + b">" + b"#powerstate=on\r\n")

    async def reboot(self) -> None:
        await self.push(_boot_noise() + b">")


def _boot_noise() -> bytes:
    return junk(random.randint(8, 24)) + b"\r\nMX boot v2.1\r\n" + junk(4) + b"\r\n"
