"""The uplink service: bus events -> durable outbox -> MQTT, and commands back.

It is the bus's durable sink: an event with a route is committed to the outbox before its
producer's ``publish`` returns. With no ``mqtt.url`` the link is off and data stays queued.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Literal

import msgspec

from agent import events as ev
from agent.commands import CommandError, NoArgs
from agent.config import ConfigError, load
from agent.runtime.exitcodes import RESTART_EXIT_CODE
from agent.runtime.service import AgentContext, Service
from agent.uplink import commands as mqtt_commands
from agent.uplink import topics
from agent.uplink.envelope import SCHEMA_VERSION, Envelope, encode, uuid7, uuid7_for
from agent.uplink.mqtt import MqttLink, client_id
from agent.uplink.outbox import Item, Outbox, to_data

log = logging.getLogger(__name__)


class ReloadArgs(msgspec.Struct, forbid_unknown_fields=True):
    restart: bool = False  # exit with 75 so systemd restarts the agent on the new config


class UplinkService(Service):
    name = "uplink"
    capabilities = ("uplink", "commands")

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        cfg = ctx.config
        self.root = topics.root(cfg.mqtt.topic_prefix, cfg.site.school, cfg.site.room)
        self.outbox = Outbox(
            cfg.data_dir / "outbox.sqlite3", cfg.site.school, cfg.site.room,
            max_bytes=cfg.outbox.max_bytes, synchronous=cfg.outbox.synchronous,
            batch_max=cfg.outbox.batch_max,
        )
        self.link: MqttLink | None = None
        if cfg.mqtt.url:
            self.link = MqttLink(
                cfg.mqtt, self.root, client_id(cfg.mqtt, cfg.site.school, cfg.site.room),
                self.outbox, self._birth, self._on_command, self._screen,
            )
        m = ctx.metrics
        self._bad_cmds = m.counter(
            "classroom_command_errors_total", "Command requests refused before dispatch",
            ["reason"],
        )
        self._unrouted = 0
        self._refusal_log = mqtt_commands.LogThrottle(log)

    @classmethod
    def create(cls, ctx: AgentContext) -> UplinkService:
        return cls(ctx)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        await self.outbox.open()
        self.ctx.bus.add_durable_sink(self.store)
        reg = self.ctx.commands
        reg.register("ping", self._ping, doc="liveness check; replies pong with version and time")
        reg.register("rebirth", self._cmd_rebirth,
                     doc="re-publish the online status and every retained device state")
        reg.register("reload", self._cmd_reload, ReloadArgs,
                     doc="re-read the config file; restart=true exits for systemd to restart")

    async def run(self) -> None:
        if self.link is None:
            log.info("uplink disabled (no mqtt.url): data stays queued in the outbox")
            await super().run()
        else:
            await self.link.run()

    async def stop(self) -> None:
        await self.outbox.close()

    # ------------------------------------------------------------------ bus sink

    async def store(self, event: ev.Event) -> None:
        route = topics.ROUTES.get(type(event))
        if route is None:
            self._unrouted += 1  # internal-only events never leave the box
            return
        data = to_data(event)
        key = route.idempotency_key(data)
        site = self.ctx.config.site
        # a record's id comes from its identity, so re-sending it (a crash after it was
        # queued but before it was marked sent) repeats the id instead of minting a new one
        msg_id = uuid7_for(event.ts, f"{site.school}/{site.room}/{key}") if key else None
        await self.outbox.put(Item(route.topic_for(event), route.type, event.ts, data,
                                   route.priority, route.retained, msg_id))

    # ------------------------------------------------------------------ birth and commands

    def _status_payload(self, state: Literal["online", "offline"]) -> bytes:
        status = ev.AgentStatus(state=state, version=self.ctx.version,
                                capabilities=self.ctx.capabilities(), started=self.ctx.started)
        return self._envelope("status", "status", to_data(status), 0)

    def _envelope(self, topic: str, type_: str, data: Any, seq: int) -> bytes:
        cfg = self.ctx.config.site
        return encode(Envelope(v=SCHEMA_VERSION, id=uuid7(), seq=seq, ts=self.ctx.clock.now(),
                               school=cfg.school, room=cfg.room, type=type_, data=data))

    def _birth(self) -> tuple[bytes, bytes]:
        return self._status_payload("online"), self._status_payload("offline")

    def _screen(self, sub_topic: str, payload: bytes) -> str:
        """Before a command takes a slot (see MqttLink): refusals are counted here, every
        one, and logged at most every few seconds."""
        name = topics.command_name(sub_topic)
        if name is None:
            return "ignore"
        refusal = mqtt_commands.screen(self.ctx.commands, name, payload,
                                       self.ctx.config.mqtt.max_command_bytes)
        if refusal is None:
            return "run"
        # counted here, answered or not (an unknown one that gets its reply is also counted
        # by the registry's dispatch, in classroom_commands_total)
        self._bad_cmds.labels(refusal).inc()
        self._refusal_log.warning("refused", "command %s refused: %s", name, refusal)
        return "refuse"

    async def _on_command(
        self, sub_topic: str, payload: bytes, response_topic: str | None, corr: bytes | None
    ) -> None:
        name = topics.command_name(sub_topic)
        if name is None or self.link is None:
            return
        try:
            reply, _ = await mqtt_commands.handle(
                self.ctx.commands, name, payload, self.ctx.config.mqtt.max_command_bytes
            )
        except Exception as e:  # handle() refuses bad input itself; this is a bug guard
            log.exception("command %s failed", name)
            reply = mqtt_commands.CommandReply(id=None, command=name, ok=False, error={
                "code": "internal_error", "message": f"{type(e).__name__}"})
        topic = topics.reply_topic(name)
        body = self._envelope(topic, "cmd_reply", msgspec.to_builtins(reply),
                              self.link.next_reply_seq(topic))
        await self.link.reply(topic, body, response_topic, corr)

    async def _ping(self, _: NoArgs) -> dict[str, Any]:
        return {"pong": True, "version": self.ctx.version, "time": self.ctx.clock.now()}

    async def _cmd_rebirth(self, _: NoArgs) -> dict[str, Any]:
        if self.link is None:
            raise CommandError("uplink_disabled", "no mqtt.url configured")
        self.link.request_rebirth()
        return {"rebirth": True, "devices": len(self.ctx.state.devices)}

    async def _cmd_reload(self, args: ReloadArgs) -> dict[str, Any]:
        path = self.ctx.config_path
        if not path:
            raise CommandError("no_config_file", "this agent was started without a config file")
        try:
            new = await asyncio.to_thread(load, Path(path))
        except ConfigError as e:
            raise CommandError("invalid_config", "; ".join(e.problems)) from None
        old = self.ctx.config
        changed = [f for f in new.__struct_fields__ if getattr(new, f) != getattr(old, f)]
        applied = []
        if "logging" in changed:
            logging.getLogger().setLevel(new.logging.level)
            applied.append("logging")
        if "health" in changed:
            old.health = new.health  # the health loop reads its interval each round
            applied.append("health")
        pending = [c for c in changed if c not in applied]
        if args.restart and pending:
            self.ctx.exit_code = RESTART_EXIT_CODE
            if self.ctx.request_stop:
                self.ctx.request_stop()
        return {"changed": changed, "applied": applied, "restart_required": pending,
                "restarting": bool(args.restart and pending)}

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        ob = self.outbox
        link = self.link.status if self.link else None
        return {
            "enabled": self.link is not None,
            "connected": bool(link and link.connected),
            "broker": link.broker if link else None,
            "protocol": link.protocol if link else None,
            "connects": link.connects if link else 0,
            "commands_dropped": link.commands_dropped if link else 0,
            "commands_unanswered": link.refusals_unanswered if link else 0,
            "last_error": link.last_error if link else "",
            "topic_root": self.root,
            "outbox_depth": ob.depth,
            "outbox_bytes": ob.bytes,
            "outbox_oldest_age_s": round(ob.oldest_age_s(), 1),
            "outbox_max_bytes": ob.max_bytes,
            "sent_total": ob.sent,
            "enqueued_total": ob.enqueued,
            "dropped_total": sum(ob.dropped.values()),
            "outbox_recovered_from": ob.recovered_from,
            "dropped_by_priority": {
                topics.PRIORITY_NAMES.get(p, str(p)): n for p, n in sorted(ob.dropped.items())
            },
        }
