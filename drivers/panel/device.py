"""One display device: connect, poll, follow unsolicited changes, reconnect, take commands.

``PanelDevice.run()`` runs until cancelled and never raises: every failure becomes a
``status`` (``online`` / ``offline`` / ``fault``) with a ``reason`` ("refused: connection
refused by 10.0.0.5:4352") and a reconnect after an exponential backoff with jitter.
Listeners registered with ``add_listener`` are called (synchronously, on the event loop)
whenever the status, the reason or any state field changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from drivers.backoff import Backoff
from drivers.panel import notify
from drivers.panel.codecs import pjlink as pjlink_codec
from drivers.panel.errors import DeviceRefused, PanelFault, PanelUnavailable
from drivers.panel.link import Link
from drivers.panel.protocols import protocol_class
from drivers.panel.protocols.base import PanelProtocol, ProtocolOptions
from drivers.panel.protocols.pjlink import PjlinkProtocol
from drivers.panel.state import PanelState
from drivers.panel.transport import Target, open_target

log = logging.getLogger(__name__)


@dataclass
class PanelSpec:
    """Everything the driver needs to reach one device (no agent config types here)."""

    id: str
    protocol: str
    target: Target
    options: ProtocolOptions = field(default_factory=ProtocolOptions)
    poll_s: float = 5.0
    connect_timeout_s: float = 5.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    # PJLink Class 2 notifications: (bind address, UDP port); None = off
    notify: tuple[str, int] | None = None


Listener = Callable[["PanelDevice"], None]
StatHook = Callable[[str, str, int], None]  # (stat name, label, increment)
Status = Literal["online", "offline", "fault"]


class PanelDevice:
    def __init__(self, spec: PanelSpec, on_stat: StatHook | None = None) -> None:
        self.spec = spec
        self.proto_cls = protocol_class(spec.protocol)
        self.state = PanelState()
        self.status: Status = "offline"
        self.reason = "starting: not connected yet"
        self.last_seen: datetime | None = None
        self.stats: dict[str, int] = {"polls": 0, "reconnects": 0, "junk_bytes": 0,
                                      "unsolicited": 0, "notifications": 0}
        self.fault_counts: dict[str, int] = {}
        self._on_stat = on_stat or (lambda name, label, n: None)
        self._listeners: list[Listener] = []
        self._proto: PanelProtocol | None = None
        self._link: Link | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._session_polled = False

    # ----------------------------------------------------------- observers

    def add_listener(self, fn: Listener) -> Callable[[], None]:
        self._listeners.append(fn)
        return lambda: self._listeners.remove(fn) if fn in self._listeners else None

    def _changed(self) -> None:
        for fn in list(self._listeners):
            try:
                fn(self)
            except Exception:  # an observer bug must not stop the driver
                log.exception("panel %s listener failed", self.spec.id)

    def _stat(self, name: str, label: str = "", n: int = 1) -> None:
        self.stats[name] = self.stats.get(name, 0) + n
        self._on_stat(name, label, n)

    def _merge(self, updates: dict[str, Any]) -> None:
        updates = {k: v for k, v in updates.items() if not k.startswith("_")}
        if self.state.apply(updates):
            self._changed()

    def _set_status(self, status: Status, reason: str) -> None:
        if (status, reason) != (self.status, self.reason):
            self.status, self.reason = status, reason
            self._changed()

    @property
    def connected(self) -> bool:
        return self._proto is not None and self._link is not None and self._link.alive

    # ----------------------------------------------------------- main loop

    async def run(self) -> None:
        """Connect, poll and reconnect until cancelled. Never raises otherwise."""
        sub = await self._start_notify()
        backoff = Backoff(self.spec.reconnect_min_s, self.spec.reconnect_max_s)
        quick_retry_used = False
        try:
            while True:
                self._session_polled = False
                try:
                    await self._session()
                    fault = PanelFault("internal", "session ended unexpectedly")
                except PanelFault as f:
                    fault = f
                except (OSError, EOFError) as e:
                    fault = PanelFault("unreachable", f"{type(e).__name__}: {e}")
                except Exception as e:  # a driver bug: keep running, say so
                    log.exception("panel %s: driver error", self.spec.id)
                    fault = PanelFault("internal", f"{type(e).__name__}: {e}")
                finally:
                    await self._drop_link()
                if self._session_polled:
                    backoff.reset()
                    # devices close idle connections (PJLink after ~30 s): one silent retry
                    if fault.code == "closed" and not quick_retry_used:
                        quick_retry_used = True
                        continue
                quick_retry_used = False
                self._record_fault(fault)
                self._stat("reconnects")
                await self._sleep_or_wake(backoff.next())
        finally:
            await self._drop_link()
            if sub is not None:
                sub.close()
            self._set_status("offline", "stopped")

    def _record_fault(self, f: PanelFault) -> None:
        status: Status = f.status
        reason = f.reason
        if f.code == "timeout" and self.proto_cls.silent_when_off and self.state.power in (
            "off", None
        ):
            # SMART in power-saving answers nothing: expected while it is off
            status = "offline"
            reason = ("asleep: no reply; the panel is in power-saving (it ignores RS-232 "
                      "until woken by its remote or power button)" if self.state.power == "off"
                      else "asleep: no reply (panel in power-saving, or cable/baud rate wrong)")
            changed = False
        else:
            changed = self.state.forget_live()
        self.fault_counts[f.code] = self.fault_counts.get(f.code, 0) + 1
        self._stat("faults", f.code)
        if (status, reason) != (self.status, self.reason):
            log.warning("panel %s %s: %s", self.spec.id, status, reason)
            self.status, self.reason = status, reason
            changed = True
        if changed:
            self._changed()

    async def _sleep_or_wake(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    def wake(self) -> None:
        """Poll (or reconnect) now instead of at the next interval."""
        self._wake.set()

    async def _session(self) -> None:
        reader, writer = await open_target(self.spec.target, self.spec.connect_timeout_s)
        link = Link(
            reader, writer, self.proto_cls.decoder(), self.spec.target,
            is_unsolicited=self.proto_cls.is_unsolicited,
            on_unsolicited=self._on_unsolicited,
            on_junk=lambda b: self._stat("junk_bytes", "", len(b)),
        )
        self._link = link
        proto = self.proto_cls(link, self.spec.options)
        async with self._lock:
            ident = await proto.handshake()
            updates = await self._poll(proto)
        self._proto = proto
        self._merge(ident)
        self._after_poll(updates)
        self._session_polled = True
        while True:
            await self._sleep_or_wake(self.spec.poll_s)
            async with self._lock:
                updates = await self._poll(proto)
            self._after_poll(updates)

    async def _poll(self, proto: PanelProtocol) -> dict[str, Any]:
        try:
            return await proto.poll()
        except DeviceRefused as e:
            raise PanelFault("device_error", f"device refused a status query: {e}") from None

    def _after_poll(self, updates: dict[str, Any]) -> None:
        self._stat("polls")
        self.last_seen = datetime.now(UTC)
        self._merge(updates)
        failing = sorted(k for k, v in self.state.errors.items() if v == "error")
        if failing:
            self._set_status("fault", f"device_error: {', '.join(failing)} error reported "
                                      "by the device")
        else:
            self._set_status("online", "")

    def _on_unsolicited(self, frame: Any) -> None:
        self._stat("unsolicited")
        self.last_seen = datetime.now(UTC)
        self._merge(self.proto_cls.unsolicited_updates(frame))

    async def _drop_link(self) -> None:
        self._proto = None
        link, self._link = self._link, None
        if link is not None:
            await link.close()

    # ----------------------------------------------------------- PJLink Class 2

    async def _start_notify(self) -> notify.Subscription | None:
        if self.spec.notify is None or self.spec.protocol != "pjlink":
            return None
        host = getattr(self.spec.target, "host", None)
        if host is None:
            return None
        bind, port = self.spec.notify
        try:
            return await notify.subscribe(bind, port, host, self._on_datagram)
        except OSError as e:
            log.warning("panel %s: cannot listen for PJLink notifications on %s:%s (%s); "
                        "polling only", self.spec.id, bind, port, e)
            return None

    def _on_datagram(self, data: bytes) -> None:
        for frame in pjlink_codec.device_decoder().feed(data + b"\r"):
            updates = PjlinkProtocol.notification_updates(frame)
            if updates is None:
                self._stat("junk_bytes", "", len(data))
                continue
            self._stat("notifications")
            if "_linkup" in updates:
                # the projector (re)joined the network: reconnect/poll right away
                self._merge({"mac": updates["_linkup"]})
                self.wake()
                continue
            if self.connected:
                self.last_seen = datetime.now(UTC)
            self._merge(updates)

    # ----------------------------------------------------------- commands

    def _require(self) -> PanelProtocol:
        if not self.connected or self._proto is None:
            raise PanelUnavailable(f"panel {self.spec.id} is {self.status}: {self.reason}")
        return self._proto

    async def power(self, on: bool) -> None:
        """Switch on or off. Raises PanelUnavailable (not connected) or DeviceRefused."""
        proto = self._require()
        async with self._lock:
            try:
                await proto.set_power(on)
            except PanelFault as f:
                self.wake()
                raise PanelUnavailable(f.reason) from None
        await self.refresh()

    def input_code(self, name: str) -> str | None:
        return self.proto_cls.input_code(name)

    def known_inputs(self) -> list[str]:
        return self.proto_cls.known_inputs()

    async def select_input(self, name: str) -> None:
        """Select an input by name ("HDMI1", "DIGITAL1", "hdmi2" ... as the protocol
        calls it). Raises DeviceRefused for unknown names or refusals."""
        code = self.input_code(name)
        if code is None:
            raise DeviceRefused("bad_value", f"unknown input {name!r} for {self.spec.protocol}; "
                                f"known: {', '.join(self.known_inputs())}")
        proto = self._require()
        async with self._lock:
            try:
                await proto.set_input(code)
            except PanelFault as f:
                self.wake()
                raise PanelUnavailable(f.reason) from None
        await self.refresh()

    async def refresh(self) -> None:
        """Poll now (best effort; a failure is left to the session loop to report)."""
        proto = self._proto
        if proto is None:
            return
        try:
            async with self._lock:
                updates = await self._poll(proto)
        except PanelFault:
            self.wake()
            return
        self._after_poll(updates)
