"""MQTT 5 shared subscription -> batches committed to the store -> PUBACK.

Why paho-mqtt directly and not aiomqtt (which the agent uses): a message may be
acknowledged to the broker only after its batch is committed, so that a collector killed
between receiving and committing gets it again (from its persistent session). paho 2.x
can withhold the PUBACK (``manual_ack=True``, then ``client.ack(mid, qos)``); aiomqtt 2.x
acknowledges every message itself before the application sees it.

Threads: paho's network thread receives into a queue; one writer thread takes batches
(``storage.batch_max`` messages or ``storage.batch_ms``), parses, commits one transaction,
then acknowledges the batch in the order received (MQTT 5 wants PUBACKs in order).
With ``mqtt.share_group = ""`` the subscription is a plain one (one collector per
district on a broker whose shared subscriptions do not survive a restart, like mosquitto).
The broker sends at most ``mqtt.receive_maximum`` unacknowledged messages: that bounds the
queue. A message whose acknowledgement would go out on a newer connection than the one it
came on is not acknowledged (its packet id may mean another message now); the broker
sends it again and the key dedupes it.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.config import read_secret
from district.config import DistrictConfig
from district.ingest.parse import SUB_TOPICS, DeadLetter, Record, parse
from district.store.store import Store
from drivers.backoff import Backoff

log = logging.getLogger(__name__)


def filters(cfg: DistrictConfig) -> list[str]:
    subs = [s for s in SUB_TOPICS if cfg.mqtt.subscribe_health or s != "health"]
    share = f"$share/{cfg.mqtt.share_group}/" if cfg.mqtt.share_group else ""
    return [f"{share}{cfg.mqtt.topic_prefix}/+/+/{s}" for s in subs]


@dataclass
class IngestStats:
    received: int = 0
    committed: int = 0
    acked: int = 0
    ack_skipped: int = 0  # received on an older connection: left for the broker to resend
    batches: int = 0
    store_errors: int = 0
    connects: int = 0
    disconnects: int = 0
    connected: bool = False
    subscribed: bool = False
    last_batch_s: float = 0.0


class Collector:
    def __init__(self, cfg: DistrictConfig, store: Store) -> None:
        self.cfg = cfg
        self.store = store
        self.stats = IngestStats()
        self._q: queue.Queue[tuple[int, Any]] = queue.Queue()
        self._gen = 0  # connection generation
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()
        self.client = self._make_client()

    # ----------------------------------------------------------------- MQTT

    def _make_client(self) -> mqtt.Client:
        m = self.cfg.mqtt
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.cfg.client_id,
                        protocol=mqtt.MQTTv5, manual_ack=True)
        password = read_secret(m.password, m.password_file)
        if m.username:
            c.username_pw_set(m.username, password)
        u = urlsplit(m.url)
        if u.scheme in ("mqtts", "ssl"):
            ctx = ssl.create_default_context(cafile=m.ca_file)
            if m.tls_insecure:
                ctx.check_hostname = False
            c.tls_set_context(ctx)
        # back quickly after a broker restart: mosquitto 2.0 does not restore shared
        # subscriptions from its persistence, so what rooms publish before we subscribe
        # again is lost (rooms back off >= 1 s; see docs/district.md)
        # paho annotates whole seconds, but sleeps for any float
        c.reconnect_delay_set(0.1, m.reconnect_max_s)  # type: ignore[arg-type]
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        return c

    def start(self) -> None:
        m = self.cfg.mqtt
        u = urlsplit(m.url)
        port = u.port or (8883 if u.scheme in ("mqtts", "ssl") else 1883)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = m.session_expiry_s
        props.ReceiveMaximum = m.receive_maximum
        self._writer = threading.Thread(target=self._write_loop, name="district-writer",
                                        daemon=True)
        self._writer.start()
        self.client.connect_async(u.hostname or "", port, keepalive=m.keepalive_s,
                                  clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand, acknowledge it, then disconnect. What is still queued
        stays unacknowledged in the broker's session for the next start."""
        self._stop.set()
        if self._writer:
            self._writer.join(timeout)
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any,
                    _p: Any = None) -> None:
        if rc.is_failure:
            log.warning("mqtt: connect refused: %s", rc)
            return
        with self._lock:
            self._gen += 1
        self.stats.connects += 1
        self.stats.connected = True
        log.info("mqtt: connected (session present: %s)", flags.session_present)
        client.subscribe([(f, 1) for f in filters(self.cfg)])

    def _on_subscribe(self, _c: Any, _u: Any, _mid: int, codes: list[Any], _p: Any = None) -> None:
        bad = [str(c) for c in codes if c.is_failure]
        if bad:
            log.error("mqtt: subscription refused: %s", ", ".join(bad))
        else:
            self.stats.subscribed = True
            log.info("mqtt: subscribed to %d filters", len(codes))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        self.stats.connected = self.stats.subscribed = False
        self.stats.disconnects += 1
        log.info("mqtt: disconnected: %s", rc)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.stats.received += 1
        self._q.put((self._gen, msg))

    # ----------------------------------------------------------------- writer

    def _take_batch(self) -> list[tuple[int, Any]]:
        st = self.cfg.storage
        try:
            first = self._q.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + st.batch_ms / 1000
        while len(batch) < st.batch_max:
            left = deadline - time.monotonic()
            try:
                batch.append(self._q.get_nowait() if left <= 0 else self._q.get(timeout=left))
            except queue.Empty:
                break
        return batch

    def _write_loop(self) -> None:
        prefix = self.cfg.mqtt.topic_prefix
        while not self._stop.is_set():
            batch = self._take_batch()
            if not batch:
                continue
            items = [parse(m.topic, m.payload, prefix) for _, m in batch]
            t0 = time.perf_counter()
            if not self._commit(items):
                return  # stopping: nothing acknowledged, the broker keeps them
            self.stats.last_batch_s = time.perf_counter() - t0
            self.stats.committed += len(batch)
            self.stats.batches += 1
            gen = self._gen
            for g, m in batch:
                if m.qos == 0:
                    continue
                if g != gen:
                    self.stats.ack_skipped += 1
                    continue
                self.client.ack(m.mid, m.qos)
                self.stats.acked += 1

    def _commit(self, items: list[Record | DeadLetter]) -> bool:
        backoff = Backoff(0.2, 10.0)
        while True:
            try:
                self.store.apply(items, self.cfg.storage.dead_letter_max)
                return True
            except Exception as e:
                self.stats.store_errors += 1
                log.warning("storage: batch of %d failed: %s", len(items), e)
                if self._commit_one_by_one(items):
                    return True
            if self._stop.wait(backoff.next()):
                return False

    def _commit_one_by_one(self, items: list[Record | DeadLetter]) -> bool:
        """Find the message that breaks the batch and dead-letter it; False when even that
        fails (the database is away: the caller waits and tries the batch again)."""
        for item in items:
            try:
                self.store.apply([item], self.cfg.storage.dead_letter_max, attempts=2)
            except Exception as e:
                if isinstance(item, DeadLetter):
                    return False
                dl = DeadLetter(topic=item.topic, reason="unstorable", detail=str(e)[:500],
                                payload=item.raw, school=item.school, room=item.room)
                try:
                    self.store.apply([dl], self.cfg.storage.dead_letter_max, attempts=2)
                except Exception:
                    return False
        return True
