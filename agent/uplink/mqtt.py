"""The MQTT connection to the district broker (paho-mqtt 2.x through aiomqtt).

One connection at a time, reconnected with exponential backoff and jitter. On every
connect: the retained ``status`` birth (the Last Will says ``offline``), every retained
device state, then the outbox drained in order at QoS 1 with a bounded in-flight window;
a row is deleted only after its PUBACK. Commands arrive on ``cmd/#``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
import paho.mqtt.client as paho_client
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.config import MqttConfig, read_secret
from agent.uplink import topics
from agent.uplink.commands import LogThrottle
from agent.uplink.outbox import Outbox
from drivers.backoff import Backoff

log = logging.getLogger(__name__)
# aiomqtt warns for every publish beyond ten awaiting PUBACK; our window is deliberate
_client_log = logging.getLogger("agent.uplink.mqtt.client")
_client_log.setLevel(logging.ERROR)

MAX_CONCURRENT_COMMANDS = 16  # beyond this a command flood is dropped (and counted)
# refusals (requests that do not parse) are answered from a pool of their own, so a flood
# of garbage never takes the slots of valid commands; beyond it they go unanswered (counted)
MAX_CONCURRENT_REFUSALS = 4

# Called for each command message: (sub_topic, payload, response_topic, correlation_data)
CommandCallback = Callable[[str, bytes, str | None, bytes | None], Coroutine[Any, Any, None]]
# Called first, synchronously: "run" (may take a command slot), "refuse" (answered from the
# refusal pool) or "ignore" (not a command, e.g. a reply topic)
ScreenCallback = Callable[[str, bytes], str]


@dataclass
class LinkStatus:
    connected: bool = False
    broker: str = ""
    protocol: str = ""
    connects: int = 0
    last_error: str = ""
    last_error_at: float | None = None
    connected_since: float | None = None
    commands_dropped: int = 0
    refusals_unanswered: int = 0
    extra: dict[str, object] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def _bounded(timeout: float) -> AsyncIterator[None]:
    """A time limit that cannot swallow a cancel. aiomqtt's own ``timeout=`` goes through
    asyncio.wait_for, which on Python 3.11 drops a cancel racing with the result (CPython
    gh-86296): the uplink's tasks then ran on after SIGTERM. So aiomqtt gets
    ``timeout=math.inf`` (a plain await) and the limit is asyncio.timeout, raising aiomqtt's
    error as aiomqtt would."""
    try:
        async with asyncio.timeout(timeout):
            yield
    except TimeoutError:
        raise aiomqtt.MqttError("Operation timed out") from None


async def _publish(client: aiomqtt.Client, topic: str, payload: bytes, timeout: float = 10.0,
                   **kw: Any) -> None:
    """QoS 1 publish, waiting for the PUBACK at most ``timeout`` s (see _bounded)."""
    async with _bounded(timeout):
        await client.publish(topic, payload, qos=1, timeout=math.inf, **kw)


def client_id(cfg: MqttConfig, school: str, room: str) -> str:
    # stable per room, so the broker replaces a stale session instead of two fighting
    return cfg.client_id or f"ca-{school}-{room}"[:64]


def _tls_context(cfg: MqttConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cfg.ca_file) if cfg.ca_file else (
        ssl.create_default_context()
    )
    if cfg.cert_file and cfg.key_file:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    if cfg.tls_insecure:
        ctx.check_hostname = False
    return ctx


def _first_link_error(group: BaseExceptionGroup) -> aiomqtt.MqttError:
    first = group.exceptions[0]
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    if isinstance(first, aiomqtt.MqttError):
        return first
    return aiomqtt.MqttError(f"connection lost: {first}")


class MqttLink:
    def __init__(
        self,
        cfg: MqttConfig,
        root: str,
        cid: str,
        outbox: Outbox,
        birth: Callable[[], tuple[bytes, bytes]],
        on_command: CommandCallback,
        screen: ScreenCallback | None = None,
    ) -> None:
        self.cfg = cfg
        self.root = root
        self.cid = cid
        self.outbox = outbox
        self._birth = birth  # -> (online payload, offline payload): fresh ids each connect
        self._on_command = on_command
        self._screen = screen
        self.status = LinkStatus()
        u = urlsplit(cfg.url or "")
        self.tls = u.scheme in ("mqtts", "ssl")
        self.host = u.hostname or "localhost"
        self.port = u.port or (8883 if self.tls else 1883)
        self.status.broker = f"{u.scheme}://{self.host}:{self.port}"
        self.username = cfg.username or (unquote(u.username) if u.username else None)
        self._url_password = unquote(u.password) if u.password else None
        self._v5 = cfg.protocol in ("auto", "5")
        self._version_known = cfg.protocol != "auto"
        self._client: aiomqtt.Client | None = None
        self._rebirth = asyncio.Event()
        self._cmd_tasks: set[asyncio.Task[None]] = set()
        self._refusal_tasks: set[asyncio.Task[None]] = set()
        self._throttle = LogThrottle(log)
        self._reply_seq: dict[str, int] = {}

    @property
    def protocol(self) -> aiomqtt.ProtocolVersion:
        return aiomqtt.ProtocolVersion.V5 if self._v5 else aiomqtt.ProtocolVersion.V311

    def request_rebirth(self) -> None:
        self._rebirth.set()

    def _credentials(self) -> tuple[str | None, ssl.SSLContext | None]:
        """Read on every connect (secrets may be rotated); file I/O, so off the loop."""
        password = read_secret(self.cfg.password, self.cfg.password_file) or self._url_password
        return password, _tls_context(self.cfg) if self.tls else None

    def _make_client(self, offline: bytes, password: str | None,
                     tls: ssl.SSLContext | None) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.host,
            self.port,
            identifier=self.cid,
            logger=_client_log,
            username=self.username,
            password=password,
            protocol=self.protocol,
            will=aiomqtt.Will(f"{self.root}/status", offline, qos=1, retain=True),
            keepalive=self.cfg.keepalive_s,
            tls_context=tls,
            max_inflight_messages=self.cfg.max_inflight,
            # paho would queue unboundedly while offline; our outbox is the queue
            max_queued_outgoing_messages=self.cfg.max_inflight * 4,
            # left to aiomqtt only for connect and the disconnect wait, which run in the
            # service's own task: a cancel they swallow (gh-86296) is repeated by the
            # supervisor (agent/runtime/supervisor.py); every other call is bounded by us
            timeout=10,
            clean_start=True if self._v5 else paho_client.MQTT_CLEAN_START_FIRST_ONLY,
        )

    async def run(self) -> None:
        """Connect, serve, reconnect: forever (cancel to stop)."""
        # wide jitter: it spreads a district's thousands of rooms after a broker restart
        backoff = Backoff(self.cfg.reconnect_min_s, self.cfg.reconnect_max_s, jitter=0.5)
        while True:
            online, offline = self._birth()
            try:
                password, tls = await asyncio.to_thread(self._credentials)
                async with self._make_client(offline, password, tls) as client:
                    self._client = client
                    self._on_connected()
                    backoff.reset()
                    await self._serve(client, online, offline)
            except aiomqtt.MqttError as e:
                self._on_error(e)
            except (OSError, ssl.SSLError) as e:  # unreadable password file or certificate
                self._on_error(aiomqtt.MqttError(f"credentials: {e}"))
            finally:
                self._client = None
                self.status.connected = False
                self.status.connected_since = None
            await asyncio.sleep(backoff.next())

    def _on_connected(self) -> None:
        self.status.connected = True
        self.status.connects += 1
        self.status.connected_since = time.time()
        self.status.protocol = "5" if self._v5 else "3.1.1"
        self._version_known = True
        log.info("mqtt connected to %s (MQTT %s)", self.status.broker, self.status.protocol)

    def _on_error(self, e: aiomqtt.MqttError) -> None:
        rc = getattr(e, "rc", None)
        text = str(e) or (f"connection refused: {rc}" if rc is not None else type(e).__name__)
        # "auto": until one version has worked, a broker that took the TCP connection but
        # refused or ignored our CONNECT gets the other version next. 3.1.1-only brokers
        # answer v5 with 0x84 "unsupported protocol version", or not at all.
        network = "errno" in text.lower() or isinstance(e.__cause__, OSError)
        if self.cfg.protocol == "auto" and not self._version_known and not network:
            self._v5 = not self._v5
            log.warning("mqtt: %s; trying MQTT %s next", text, "5" if self._v5 else "3.1.1")
        elif self.status.connected or text != self.status.last_error:
            log.warning("mqtt: %s", text)
        self.status.last_error = text
        self.status.last_error_at = time.time()

    async def _serve(self, client: aiomqtt.Client, online: bytes, offline: bytes) -> None:
        try:
            # the birth is inside the try: a stop that lands while "online" is out but the
            # subscription is not yet acknowledged must still say "offline", or the
            # retained status would read "online" after a clean exit (bench/shutdown.py)
            await _publish(client, f"{self.root}/status", online, retain=True)
            await self.outbox.mark_retained_dirty()
            async with _bounded(10):
                await client.subscribe(f"{self.root}/{topics.CMD_FILTER}", qos=1,
                                       timeout=math.inf)
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._drain(client))
                    tg.create_task(self._listen(client))
                    tg.create_task(self._rebirths(client))
            except* (aiomqtt.MqttError, OSError) as group:
                # a lost connection ends all three tasks: it is one error, not a crash
                raise _first_link_error(group) from None
        except asyncio.CancelledError:
            # shutting down: a clean DISCONNECT suppresses the Will, so say offline first
            await asyncio.shield(self._goodbye(client, offline))
            raise

    async def _rebirths(self, client: aiomqtt.Client) -> None:
        while True:
            await self._rebirth.wait()
            self._rebirth.clear()
            online, _ = self._birth()
            await _publish(client, f"{self.root}/status", online, retain=True)
            await self.outbox.mark_retained_dirty()

    async def _drain(self, client: aiomqtt.Client) -> None:
        window = asyncio.Semaphore(self.cfg.max_inflight)
        acked: list[int] = []
        failed: list[BaseException] = []
        inflight: set[asyncio.Task[None]] = set()

        async def send(row_id: int, topic: str, payload: bytes) -> None:
            try:
                await _publish(client, topic, payload, timeout=30)
                acked.append(row_id)
            except BaseException as e:
                failed.append(e)
                raise
            finally:
                window.release()

        last_id = 0
        try:
            while True:
                if failed:
                    raise failed[0]
                for topic, payload, msg_id in await self.outbox.dirty_retained():
                    await _publish(client, f"{self.root}/{topic}", payload, retain=True,
                                   timeout=30)
                    await self.outbox.ack_retained(topic, msg_id)
                rows = await self.outbox.fetch(last_id, self.outbox.batch_max)
                for row in rows:
                    await window.acquire()
                    if failed:
                        window.release()
                        raise failed[0]
                    t = asyncio.create_task(send(row.id, f"{self.root}/{row.topic}", row.payload))
                    inflight.add(t)
                    t.add_done_callback(inflight.discard)
                    last_id = row.id
                if acked:
                    done, acked[:] = list(acked), []
                    await self.outbox.ack(done)
                if not rows:
                    if inflight:
                        await asyncio.wait(inflight, timeout=0.05)
                    else:
                        # nothing in flight, every ack flushed: any row still stored was
                        # never acknowledged, so the next scan starts from the oldest
                        last_id = 0
                        if not self.outbox.depth:
                            await self.outbox.wait_new(1.0)
        finally:
            for t in inflight:
                t.cancel()
            await asyncio.gather(*inflight, return_exceptions=True)
            if acked:  # acknowledged before the connection went: do not resend them
                await asyncio.shield(self.outbox.ack(list(acked)))

    async def _listen(self, client: aiomqtt.Client) -> None:
        prefix = f"{self.root}/"
        async for message in client.messages:
            topic = message.topic.value
            if not topic.startswith(prefix):
                continue
            props = message.properties
            response = getattr(props, "ResponseTopic", None) if props else None
            corr = getattr(props, "CorrelationData", None) if props else None
            payload = message.payload if isinstance(message.payload, bytes) else (
                str(message.payload or "").encode()
            )
            verdict = self._screen(topic[len(prefix):], payload) if self._screen else "run"
            if verdict == "ignore":
                continue
            tasks = self._cmd_tasks if verdict == "run" else self._refusal_tasks
            if verdict == "run" and len(tasks) >= MAX_CONCURRENT_COMMANDS:
                self._throttle.warning("dropped", "command on %s dropped: %d already running",
                                       topic, len(tasks))
                self.status.commands_dropped += 1
                continue
            if verdict != "run" and len(tasks) >= MAX_CONCURRENT_REFUSALS:
                self.status.refusals_unanswered += 1  # refused and counted by the screen
                continue
            if response is not None and not self._response_topic_ok(response):
                log.warning("command on %s: response topic %r refused", topic, response)
                response = None
            # commands run concurrently so a slow one does not block the others
            task = asyncio.create_task(
                self._on_command(topic[len(prefix):], payload, response, corr)
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    def _response_topic_ok(self, topic: str) -> bool:
        # an MQTT 5 response topic may not be a wildcard, nor one of this room's own data
        # topics: a commander must not be able to forge the room's lessons or status
        if not topic or "+" in topic or "#" in topic or topic.startswith("$"):
            return False
        own = topic.startswith(self.root + "/")
        return not own or topic.endswith(topics.REPLY_SUFFIX)

    async def reply(
        self, topic: str, payload: bytes, response_topic: str | None, corr: bytes | None
    ) -> bool:
        """Publish a command reply now (not queued: a late reply helps nobody)."""
        client = self._client
        if client is None:
            return False
        props = None
        if self._v5 and corr is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = corr
        try:
            await _publish(client, response_topic or f"{self.root}/{topic}", payload,
                           properties=props, timeout=10)
        except aiomqtt.MqttError as e:
            log.warning("command reply on %s lost: %s", topic, e)
            return False
        return True

    def next_reply_seq(self, topic: str) -> int:
        self._reply_seq[topic] = self._reply_seq.get(topic, 0) + 1
        return self._reply_seq[topic]

    async def _goodbye(self, client: aiomqtt.Client, offline: bytes) -> None:
        try:
            await _publish(client, f"{self.root}/status", offline, retain=True, timeout=2)
        except aiomqtt.MqttError:
            pass
