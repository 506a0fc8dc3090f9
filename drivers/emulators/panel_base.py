"""Shared machinery of the panel emulators: serving a protocol on a pty or TCP, and the
misbehaviour switches tests (and people at the CLI) use to make a device go bad.

A concrete emulator implements ``serve(reader, conn)``: read requests, call
``await self.reply(conn, bytes)``. ``reply`` applies the switches, so every protocol
misbehaves the same way:

- ``garbage``: answer with random non-protocol bytes instead of the reply
- ``noise``: put random bytes before each reply (a healthy driver copes)
- ``fragment``: deliver replies a few bytes at a time (a healthy driver copes)
- ``partial``: send only the first half of each reply, then nothing
- ``silent``: answer nothing
- ``drop``: on the next request send half a reply and close the connection (TCP); on a
  pty, where nothing can be closed, this behaves like ``partial``
- ``delay_s``: answer this late (a slow device)
- ``wrong_password``: PJLink only, reject every password

``unplug()`` / ``replug()`` take the device away: a pty disappears (its stable symlink is
removed, like a USB adapter's /dev/serial/by-id link), a TCP port refuses connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pty
import random
import tempfile
import threading
import tty
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from drivers.panel.codecs import Junk

log = logging.getLogger(__name__)


@dataclass
class Misbehaviour:
    garbage: bool = False
    noise: bool = False
    fragment: bool = False
    partial: bool = False
    silent: bool = False
    drop: bool = False
    delay_s: float = 0.0
    wrong_password: bool = False

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, f.default)

    def set(self, name: str, value: Any) -> None:
        if name not in {f.name for f in fields(self)}:
            raise KeyError(f"unknown misbehaviour {name!r}")
        current = getattr(self, name)
        setattr(self, name, float(value) if isinstance(current, float) else bool(value))


def junk(n: int) -> bytes:
    """Bytes that are no panel protocol: high bytes, never 0xAA (MDC header) nor ASCII."""
    return bytes(random.randrange(0x80, 0xA0) for _ in range(n))


class Conn:
    """One controller connection (a TCP client, or the far end of the pty)."""

    def __init__(self, writer: asyncio.StreamWriter, closable: bool) -> None:
        self.writer = writer
        self.closable = closable
        self.closed = False
        self.peer: str | None = None
        self.state: dict[str, Any] = {}  # per-connection protocol state (PJLink auth)

    async def write(self, data: bytes) -> None:
        if self.closed or not data:
            return
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError):
            self.closed = True

    def close(self) -> None:
        if self.closable and not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.writer.close()


class PanelEmulator:
    protocol: ClassVar[str] = "base"
    default_port: ClassVar[int] = 0
    transports: ClassVar[tuple[str, ...]] = ("serial", "tcp")

    def __init__(self) -> None:
        self.mis = Misbehaviour()
        self.conns: set[Conn] = set()
        self.requests = 0  # requests seen (for tests and the CLI)
        self.path: str | None = None  # pty: the path a driver opens
        self.port: int | None = None  # tcp: the bound port
        self.host = "127.0.0.1"
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pty: dict[str, Any] | None = None
        self._mode: str | None = None
        self._link_dir: tempfile.TemporaryDirectory[str] | None = None
        self._requested_link: str | None = None

    # ------------------------------------------------------------ protocol hooks

    async def serve(self, reader: asyncio.StreamReader, conn: Conn) -> None:
        raise NotImplementedError

    @staticmethod
    async def frames(
        reader: asyncio.StreamReader, conn: Conn, decoder: Any
    ) -> AsyncIterator[Any]:
        """What a controller sends, cut into frames; junk is dropped as real devices do."""
        while not conn.closed:
            data = await reader.read(1024)
            if not data:
                return
            for frame in decoder.feed(data):
                if not isinstance(frame, Junk):
                    yield frame

    async def on_connect(self, conn: Conn) -> None:
        """Called when a controller connects (TCP) or the pty comes up."""

    # ------------------------------------------------------------ replies

    async def reply(self, conn: Conn, data: bytes) -> None:
        m = self.mis
        if m.silent or conn.closed:
            return
        if m.delay_s > 0:
            await asyncio.sleep(m.delay_s)
        if m.garbage:
            data = junk(max(4, len(data)))
        if m.noise:
            data = junk(random.randint(2, 8)) + data
        if m.drop and conn.closable:
            await conn.write(data[: max(1, len(data) // 2)])
            conn.close()
            return
        if m.partial or m.drop:
            data = data[: max(1, len(data) // 2)]
        if m.fragment:
            for i in range(0, len(data), 2):
                await conn.write(data[i : i + 2])
                await asyncio.sleep(0.005)
            return
        await conn.write(data)

    async def push(self, data: bytes) -> None:
        """Unsolicited bytes to every connected controller (events, boot noise)."""
        for conn in list(self.conns):
            if not self.mis.silent:
                await conn.write(data)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------ TCP

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on ``host:port`` (0 = a free port); returns the port."""
        self._mode, self.host = "tcp", host
        self._server = await asyncio.start_server(self._tcp_client, host, port or self.port or 0)
        self.port = self._server.sockets[0].getsockname()[1]
        await self.on_started()
        return self.port

    async def on_started(self) -> None:
        """Hook: extra listeners (PJLink UDP)."""

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(writer, closable=True)
        peer = writer.get_extra_info("peername")
        conn.peer = peer[0] if peer else None
        self.conns.add(conn)
        try:
            await self.on_connect(conn)
            await self.serve(reader, conn)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        except Exception:  # an emulator bug must not kill the server
            log.exception("%s emulator session failed", self.protocol)
        finally:
            self.conns.discard(conn)
            conn.close()

    # ------------------------------------------------------------ pty

    async def start_pty(self, link: str | None = None) -> str:
        """Serve on a new pty; returns the path a driver opens: ``link`` (a symlink to the
        /dev/pts node, re-pointed on replug) or, by default, a symlink in a temp dir."""
        self._mode = "pty"
        if link is None:
            self._link_dir = tempfile.TemporaryDirectory(prefix=f"panel-{self.protocol}-")
            link = os.path.join(self._link_dir.name, "tty")
        self._requested_link = link
        await self._open_pty()
        await self.on_started()
        return link

    async def _open_pty(self) -> None:
        loop = asyncio.get_running_loop()
        master, slave = pty.openpty()
        tty.setraw(slave)  # no echo, no line editing: a plain null-modem cable
        os.set_blocking(master, False)
        name = os.ttyname(slave)
        reader = asyncio.StreamReader()
        rfile = os.fdopen(master, "rb", buffering=0, closefd=False)
        rtrans, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), rfile
        )
        wfd = os.dup(master)
        wfile = os.fdopen(wfd, "wb", buffering=0)
        wtrans, wproto = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, wfile
        )
        writer = asyncio.StreamWriter(wtrans, wproto, reader, loop)
        conn = Conn(writer, closable=False)
        self._pty = {"master": master, "slave": slave, "name": name, "rtrans": rtrans,
                     "wtrans": wtrans, "conn": conn}
        assert self._requested_link is not None
        tmp = self._requested_link + ".new"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(name, tmp)
        os.replace(tmp, self._requested_link)
        self.path = self._requested_link
        self.conns.add(conn)
        self._pty["task"] = self.spawn(self._pty_session(reader, conn))
        await self.on_connect(conn)

    async def _pty_session(self, reader: asyncio.StreamReader, conn: Conn) -> None:
        try:
            await self.serve(reader, conn)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s emulator pty session failed", self.protocol)

    async def _close_pty(self) -> None:
        p, self._pty = self._pty, None
        if not p:
            return
        self.conns.discard(p["conn"])
        p["conn"].closed = True
        p["task"].cancel()
        with contextlib.suppress(BaseException):
            await p["task"]
        p["rtrans"].close()
        p["wtrans"].close()
        await asyncio.sleep(0)
        for fd in (p["master"], p["slave"]):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._requested_link:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._requested_link)  # the adapter's by-id link disappears

    # ------------------------------------------------------------ plugging

    def disconnect_all(self) -> None:
        """Close every open TCP connection (a device reboot / network blip); the server
        keeps listening. Switches like ``wrong_password`` apply to new connections."""
        for conn in list(self.conns):
            conn.close()

    async def unplug(self) -> None:
        """The device goes away: pty removed / TCP refuses and open connections drop."""
        if self._mode == "pty":
            await self._close_pty()
        elif self._server is not None:
            self._server.close()
            for conn in list(self.conns):
                conn.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()
            self._server = None

    async def replug(self) -> None:
        if self._mode == "pty" and self._pty is None:
            await self._open_pty()
        elif self._mode == "tcp" and self._server is None:
            await self.start_tcp(self.host, self.port or 0)

    async def stop(self) -> None:
        await self.unplug()
        await self.on_stop()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._link_dir is not None:
            self._link_dir.cleanup()
            self._link_dir = None

    async def on_stop(self) -> None:
        """Hook: close extra listeners."""

    def describe(self) -> str:
        if self._mode == "pty":
            node = self._pty["name"] if self._pty else "(unplugged)"
            return f"{self.protocol} panel emulator on {self.path} -> {node}"
        return f"{self.protocol} panel emulator on tcp {self.host}:{self.port}"


class EmulatorThread:
    """Runs an emulator on its own event loop in a daemon thread (for the demo, which may
    build its config before the agent's loop exists). ``call(fn)`` runs ``fn(emulator)``
    (sync or async) on the emulator's loop and returns its result."""

    def __init__(self, emulator: PanelEmulator) -> None:
        self.emulator = emulator
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name=f"emulator-{emulator.protocol}")
        self._thread.start()

    def call(self, fn: Any, timeout: float = 10.0) -> Any:
        async def run() -> Any:
            result = fn(self.emulator)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def stop(self) -> None:
        if not self.loop.is_running():
            return
        with contextlib.suppress(Exception):
            self.call(lambda e: e.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()
