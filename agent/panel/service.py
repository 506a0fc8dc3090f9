"""The panels service: drivers/panel devices on the agent's bus, commands and automation.

For each ``[[panels]]`` entry it runs one ``PanelDevice`` and

- publishes ``DeviceState`` (kind ``"panel"``, attrs power / input / volume / mute /
  errors / model / serial + protocol extras) whenever anything changes -> retained
  ``devices/{id}``; a ``DeviceFault`` when a panel goes to ``fault`` or ``offline``;
- keeps usage accounting (``agent.panel.usage``) and shows today's figures in status();
- registers the commands ``panel/power`` (``{"power": "on"|"off", "panel": id?}``) and
  ``panel/input`` (``{"input": "HDMI1", "panel": id?}``);
- runs the automation rules (``agent.panel.automation``).

API for the lessons service (call on the event loop)::

    svc = ctx.service(PanelService)           # None when the room has no panel
    svc.usage(t0, t1)                         # main (first) panel, datetimes or epoch s
      -> {"on_s": 2400.0, "off_s": 300.0, "unknown_s": 0.0,
          "by_input": {"HDMI1": 1800.0, "ops1": 600.0}}
    svc.usage(t0, t1, panel="p2")             # one panel by id
    svc.usage_all(t0, t1) -> {"p1": {...}, "p2": {...}}
    svc.usage_day(date)   -> {"day": "2026-03-02", "on_s": ..., ...}  (room's local day)
    svc.on_lesson_start()                     # power on (+ lesson_input) where configured
    svc.on_lesson_start(switch_on=False)      # ad-hoc / resumed lesson: no "off" meanwhile
    svc.on_lesson_end(last=True)              # last lesson of the day: off after the grace

``by_input`` keys are the reported input names (after ``input_names`` renaming), the same
strings as ``DeviceState.attrs["input"]``. Intervals reaching into the future are cut at
now; time the panel was offline, in fault or the agent was not running is ``unknown_s``.
``on_lesson_start`` / ``on_lesson_end`` return at once; the device commands run in the
background (a panel still warming up gets its input selected when it accepts it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import msgspec

from agent.commands import CommandError
from agent.config import PanelConfig, read_secret
from agent.events import DeviceFault, DeviceState
from agent.interfaces import PanelHooks
from agent.panel.automation import AutomationPolicy
from agent.panel.usage import UsageTracker
from agent.runtime.service import AgentContext, Service
from drivers.panel import (
    DeviceRefused,
    PanelDevice,
    PanelSpec,
    PanelUnavailable,
    ProtocolOptions,
    SerialTarget,
    TcpTarget,
)
from drivers.panel.protocols import protocol_class

log = logging.getLogger(__name__)


class PowerArgs(msgspec.Struct, forbid_unknown_fields=True):
    power: Literal["on", "off"]
    panel: str | None = None


class InputArgs(msgspec.Struct, forbid_unknown_fields=True):
    input: str
    panel: str | None = None


def spec_from_config(pc: PanelConfig) -> PanelSpec:
    cls = protocol_class(pc.protocol)
    if pc.serial:
        target: SerialTarget | TcpTarget = SerialTarget(pc.serial, pc.baud or cls.default_baud)
    else:
        target = TcpTarget(pc.host or "", pc.port or cls.default_port or 0)
    options = ProtocolOptions(
        timeout_s=pc.timeout_s, retries=pc.retries,
        password=read_secret(pc.password, pc.password_file), display_id=pc.display_id,
    )
    return PanelSpec(
        id=pc.id, protocol=pc.protocol, target=target, options=options, poll_s=pc.poll_s,
        connect_timeout_s=pc.connect_timeout_s, reconnect_min_s=pc.reconnect_min_s,
        reconnect_max_s=pc.reconnect_max_s,
        notify=(pc.notify_bind, pc.notify_port) if pc.notify_port else None,
    )


@dataclass
class _Panel:
    cfg: PanelConfig
    device: PanelDevice
    usage: UsageTracker
    policy: AutomationPolicy
    published: tuple[str, str, dict[str, Any]] | None = None

    def shown_input(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        return self.cfg.input_names.get(raw, raw)

    def raw_input(self, shown: str) -> str:
        for raw, name in self.cfg.input_names.items():
            if name.lower() == shown.lower():
                return raw
        return shown

    def attrs(self) -> dict[str, Any]:
        a = self.device.state.attrs()
        raw = a.get("input")
        a["input"] = self.shown_input(raw)
        if raw is not None and a["input"] != raw:
            a["input_raw"] = raw
        a["protocol"] = self.cfg.protocol
        return a


class PanelService(Service, PanelHooks):
    name = "panels"
    capabilities = ("panel",)

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self.panels: dict[str, _Panel] = {}
        self.tz = ZoneInfo(ctx.config.site.timezone)
        self._kick = asyncio.Event()
        self._dirty: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        m = ctx.metrics
        self._m_up = m.gauge("classroom_panel_up", "1 when the panel is online", ["panel"])
        self._m_faults = m.counter("classroom_panel_faults_total",
                                   "Panel connection faults, by reason code", ["panel", "code"])
        self._m_junk = m.counter("classroom_panel_junk_bytes_total",
                                 "Bytes from a panel that were not its protocol", ["panel"])
        self._m_polls = m.counter("classroom_panel_polls_total", "Successful polls", ["panel"])
        self._m_auto = m.counter("classroom_panel_automation_total",
                                 "Automation actions, by action and outcome",
                                 ["panel", "action", "outcome"])
        self.tick_s = 5.0

    @classmethod
    def create(cls, ctx: AgentContext) -> PanelService | None:
        return cls(ctx) if ctx.config.panels else None

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        now = self.ctx.clock.now().timestamp()
        data = Path(self.ctx.config.storage.data_dir) / "panels"
        smallest = 5.0
        for pc in self.ctx.config.panels:
            device = PanelDevice(spec_from_config(pc), on_stat=self._stat_hook(pc.id))
            tracker = UsageTracker(data / f"{pc.id}.usage.jsonl", now=now)
            tracker.observe(now, None, None)  # unknown until the first contact
            p = _Panel(pc, device, tracker, AutomationPolicy(pc.automation, started=now))
            self.panels[pc.id] = p

            def listener(_device: object, pid: str = pc.id) -> None:
                self._on_change(pid)

            device.add_listener(listener)
            a = pc.automation
            for minutes in (a.idle_off_min, a.after_last_lesson_min):
                if minutes > 0:
                    smallest = min(smallest, minutes * 60 / 10)
        self.tick_s = max(0.05, smallest)
        self.ctx.commands.register("panel/power", self._cmd_power, PowerArgs,
                                   "Switch a panel on or off: {power: on|off, panel?: id}")
        self.ctx.commands.register("panel/input", self._cmd_input, InputArgs,
                                   "Select a panel input: {input: name, panel?: id}")
        for p in self.panels.values():
            self._on_change(p.cfg.id)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for p in self.panels.values():
                tg.create_task(p.device.run(), name=f"panel-{p.cfg.id}")
            tg.create_task(self._publisher(), name="panel-publisher")
            tg.create_task(self._automation(), name="panel-automation")

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        await self._flush()
        now = self.ctx.clock.now().timestamp()
        for p in self.panels.values():
            p.usage.close(now)

    # ------------------------------------------------------------- state -> bus

    def _stat_hook(self, pid: str) -> Callable[[str, str, int], None]:
        def hook(name: str, label: str, n: int) -> None:
            if name == "faults":
                self._m_faults.labels(pid, label).inc(n)
            elif name == "junk_bytes":
                self._m_junk.labels(pid).inc(n)
            elif name == "polls":
                self._m_polls.labels(pid).inc(n)
        return hook

    def _on_change(self, pid: str) -> None:
        p = self.panels[pid]
        now = self.ctx.clock.now().timestamp()
        on = p.device.state.is_on
        p.usage.observe(now, on, p.shown_input(p.device.state.input))
        p.policy.power_seen(now, on)
        self._m_up.labels(pid).set(1 if p.device.status == "online" else 0)
        self._dirty.add(pid)
        self._kick.set()

    async def _publisher(self) -> None:
        while True:
            await self._kick.wait()
            self._kick.clear()
            await self._flush()

    async def _flush(self) -> None:
        while self._dirty:
            pid = self._dirty.pop()
            p = self.panels[pid]
            d = p.device
            attrs = p.attrs()
            current = (d.status, d.reason, attrs)
            if current == p.published:
                continue
            before = p.published
            p.published = current
            now = self.ctx.clock.now()
            await self.ctx.bus.publish(DeviceState(
                ts=now, device_id=pid, kind="panel", status=d.status, reason=d.reason, attrs=attrs,
                last_seen=d.last_seen,
            ))
            went_bad = d.status != "online" and (
                before is None or before[0] != d.status
                or before[1].split(":")[0] != d.reason.split(":")[0])
            if went_bad and not d.reason.startswith("starting"):
                await self.ctx.bus.publish(DeviceFault(
                    ts=now, device_id=pid, kind="panel", status=d.status, reason=d.reason))

    # ------------------------------------------------------------- commands

    def _panel(self, pid: str | None) -> _Panel:
        if pid is None:
            return next(iter(self.panels.values()))
        p = self.panels.get(pid)
        if p is None:
            raise CommandError("not_found", f"no panel {pid!r} (have: {', '.join(self.panels)})")
        return p

    def _result(self, p: _Panel) -> dict[str, Any]:
        return {"panel": p.cfg.id, "status": p.device.status, "reason": p.device.reason,
                "attrs": p.attrs()}

    async def _cmd_power(self, args: PowerArgs) -> dict[str, Any]:
        p = self._panel(args.panel)
        await self._do(p, "power", args.power == "on")
        return self._result(p)

    async def _cmd_input(self, args: InputArgs) -> dict[str, Any]:
        p = self._panel(args.panel)
        await self._do(p, "input", args.input)
        return self._result(p)

    async def _do(self, p: _Panel, what: str, value: Any) -> None:
        try:
            if what == "power":
                await p.device.power(bool(value))
            else:
                await p.device.select_input(p.raw_input(str(value)))
        except PanelUnavailable as e:
            raise CommandError("unavailable", str(e)) from None
        except DeviceRefused as e:
            code = "bad_args" if e.code == "bad_value" and what == "input" else "refused"
            raise CommandError(code, e.message) from None

    # ------------------------------------------------------------- usage API

    def usage(self, t0: datetime | float, t1: datetime | float,
              panel: str | None = None) -> dict[str, Any]:
        """On / off / unknown seconds and on-seconds per input of one panel (default: the
        first configured, the room's main display) within ``[t0, t1)``."""
        p = self.panels.get(panel) if panel else next(iter(self.panels.values()), None)
        if p is None:
            return {"on_s": 0.0, "off_s": 0.0, "unknown_s": 0.0, "by_input": {}}
        return p.usage.usage(t0, t1, self.ctx.clock.now())

    def usage_all(self, t0: datetime | float, t1: datetime | float) -> dict[str, dict[str, Any]]:
        now = self.ctx.clock.now()
        return {pid: p.usage.usage(t0, t1, now) for pid, p in self.panels.items()}

    def usage_day(self, day: date | None = None, panel: str | None = None) -> dict[str, Any]:
        now = self.ctx.clock.now()
        day = day or now.astimezone(self.tz).date()
        p = self.panels.get(panel) if panel else next(iter(self.panels.values()), None)
        if p is None:
            return {"day": day.isoformat(), "on_s": 0.0, "off_s": 0.0, "unknown_s": 0.0,
                    "by_input": {}}
        return p.usage.day(day, self.tz, now)

    # ------------------------------------------------------------- automation

    def on_lesson_start(self, switch_on: bool = True) -> None:
        """A lesson started: switch on (and select the lesson input) where configured.
        ``switch_on=False`` only says a lesson runs (no "off" meanwhile): an ad-hoc lesson
        began with the panel in use, a lesson resumed after a restart was set up before."""
        now = self.ctx.clock.now().timestamp()
        for p in self.panels.values():
            actions = p.policy.lesson_start(now)
            if actions and switch_on:
                self._spawn(self._run_actions(p, actions))

    def on_lesson_end(self, last: bool = False) -> None:
        """A lesson ended; ``last`` = no more lessons today (starts the off-grace timer)."""
        now = self.ctx.clock.now().timestamp()
        for p in self.panels.values():
            p.policy.lesson_end(now, last)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_actions(self, p: _Panel, actions: list[tuple[str, Any]]) -> None:
        for what, value in actions:
            # a projector warming up refuses inputs (busy): try again for a while
            for attempt in range(12):
                try:
                    await self._do(p, what, value)
                    self._m_auto.labels(p.cfg.id, what, "ok").inc()
                    p.policy.last_action = f"{what}={value}"
                    break
                except CommandError as e:
                    if attempt < 11 and e.code in ("refused", "unavailable"):
                        await self.ctx.clock.sleep(5.0)
                        continue
                    log.warning("panel %s automation %s=%s failed: %s", p.cfg.id, what, value,
                                e.message)
                    self._m_auto.labels(p.cfg.id, what, "failed").inc()
                    return

    async def _automation(self) -> None:
        while True:
            await self.ctx.clock.sleep(self.tick_s)
            now = self.ctx.clock.now().timestamp()
            for p in self.panels.values():
                if p.policy.decide(now) == "off":
                    log.info("panel %s: automation switches off (%s)", p.cfg.id,
                             p.policy.last_action)
                    self._spawn(self._auto_off(p))

    async def _auto_off(self, p: _Panel) -> None:
        reason = p.policy.last_action
        try:
            await self._do(p, "power", False)
            self._m_auto.labels(p.cfg.id, f"off_{reason}", "ok").inc()
        except CommandError as e:
            log.warning("panel %s automatic off failed: %s", p.cfg.id, e.message)
            self._m_auto.labels(p.cfg.id, f"off_{reason}", "failed").inc()

    # ------------------------------------------------------------- status

    def status(self) -> Any:
        now = self.ctx.clock.now()
        out = []
        for pid, p in self.panels.items():
            d = p.device
            out.append({
                "id": pid,
                "name": p.cfg.name,
                "protocol": p.cfg.protocol,
                "transport": d.spec.target.describe(),
                "status": d.status,
                "reason": d.reason,
                "last_seen": d.last_seen.isoformat() if d.last_seen else None,
                "attrs": p.attrs(),
                "inputs": [p.shown_input(i) for i in d.known_inputs()],
                "today": p.usage.day(now.astimezone(self.tz).date(), self.tz, now),
                "automation": p.policy.status(now.timestamp()),
                "stats": dict(d.stats),
                "faults": dict(d.fault_counts),
            })
        return out
