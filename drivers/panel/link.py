"""One open connection to a device: reads in the background, cuts frames, matches replies.

The reader task feeds every received byte to the protocol's decoder. Frames the protocol
calls unsolicited (SMART ``#`` lines) go to a callback at once; the rest wait in a queue
for ``request`` to match them to the question just asked. Junk is counted and remembered
so that a failed request can say *why* it failed (garbage vs silence vs a cut-off reply).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from drivers.panel.codecs import Junk
from drivers.panel.errors import PanelFault
from drivers.panel.transport import Target, loss_fault

log = logging.getLogger(__name__)


class Decoder(Protocol):
    def feed(self, data: bytes) -> list[Any]: ...

    @property
    def pending(self) -> int: ...

    def reset(self) -> None: ...


class Link:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        decoder: Decoder,
        target: Target,
        *,
        is_unsolicited: Callable[[Any], bool] = lambda f: False,
        on_unsolicited: Callable[[Any], None] = lambda f: None,
        on_junk: Callable[[bytes], None] = lambda b: None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._decoder = decoder
        self.target = target
        self._is_unsolicited = is_unsolicited
        self._on_unsolicited = on_unsolicited
        self._on_junk = on_junk
        self._frames: list[Any] = []
        self._arrived = asyncio.Event()
        self._junk_since_request = b""
        self._lost: BaseException | None = None
        self._closed = False
        self._in_request = False
        self._task = asyncio.get_running_loop().create_task(self._read_loop(), name="panel-link")

    @property
    def alive(self) -> bool:
        return not self._closed and self._lost is None

    async def _read_loop(self) -> None:
        try:
            while True:
                data = await self._reader.read(4096)
                if not data:
                    self._lost = EOFError("end of stream")
                    break
                self._take(data)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # serial read errors arrive here (EIO on unplug)
            self._lost = e
        finally:
            self._arrived.set()

    def _take(self, data: bytes) -> None:
        for item in self._decoder.feed(data):
            if isinstance(item, Junk):
                self._junk_since_request = (self._junk_since_request + item.data)[-256:]
                self._on_junk(item.data)
            elif self._is_unsolicited(item):
                try:
                    self._on_unsolicited(item)
                except Exception:  # a state-merge bug must not kill the reader
                    log.exception("unsolicited frame handler failed")
            else:
                self._frames.append(item)
                del self._frames[:-32]  # replies nobody waits for must not pile up
        self._arrived.set()

    def discard(self) -> None:
        """Forget queued frames, recent junk and a half frame (before a retry)."""
        self._frames.clear()
        self._junk_since_request = b""
        self._decoder.reset()

    async def send(self, data: bytes) -> None:
        self._check_alive(mid_reply=False)
        try:
            self._writer.write(data)
            async with asyncio.timeout(5.0):
                await self._writer.drain()
        except (ConnectionError, OSError, TimeoutError) as e:
            self._lost = self._lost or e
            self._check_alive(mid_reply=False)
            raise loss_fault(self.target, e, mid_reply=False) from None

    def _check_alive(self, mid_reply: bool) -> None:
        if self._closed:
            raise PanelFault("closed", "link closed by the driver")
        if self._lost is not None:
            exc = None if isinstance(self._lost, EOFError) else self._lost
            raise loss_fault(self.target, exc, mid_reply=mid_reply)

    async def request(
        self,
        data: bytes | None,
        match: Callable[[Any], bool],
        timeout_s: float,
        what: str = "reply",
    ) -> Any:
        """Send ``data`` (if any) and return the first queued frame ``match`` accepts.

        Frames that do not match (late answers to an earlier question) are dropped."""
        self._frames.clear()
        self._junk_since_request = b""
        if data is not None:
            await self.send(data)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            while self._frames:
                frame = self._frames.pop(0)
                if match(frame):
                    return frame
            self._check_alive(mid_reply=True)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._timeout_fault(timeout_s, what)
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()

    def _timeout_fault(self, timeout_s: float, what: str) -> PanelFault:
        if self._junk_since_request:
            shown = self._junk_since_request[:24]
            return PanelFault(
                "garbage",
                f"unreadable {what} ({len(self._junk_since_request)} bytes, e.g. {shown!r}); "
                "check baud rate and protocol",
            )
        if self._decoder.pending:
            return PanelFault(
                "partial", f"incomplete {what} ({self._decoder.pending} bytes, then silence)"
            )
        return PanelFault("timeout", f"no {what} within {timeout_s:g} s")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        with contextlib.suppress(Exception):
            self._writer.close()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            async with asyncio.timeout(1.0):
                await self._writer.wait_closed()
