"""Publish a plan's messages at QoS 1 and wait until the broker acknowledged every one.

paho keeps unacknowledged QoS 1 messages and sends them again after a reconnect, so a
broker restarted mid-run loses nothing (and may see some twice: the collector dedupes).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from district.simulate.fleet import Message


def publish(messages: Sequence[Message], url: str, *, speed: float = 0.0,
            timeout: float = 600.0, client_id: str | None = None) -> int:
    u = urlsplit(url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2,
                    client_id=client_id or f"district-sim-{uuid.uuid4().hex[:8]}",
                    protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(500)
    c.max_queued_messages_set(0)
    c.reconnect_delay_set(1, 5)  # like a room's uplink (mqtt.reconnect_min_s = 1)
    # counts, not a set of mids: the ack may arrive before publish() returns its mid, and
    # holding a lock around publish() would deadlock with paho's own locks
    acked = [0]
    lock = threading.Lock()
    connected = threading.Event()

    def on_publish(_c: Any, _u: Any, _mid: int, _rc: Any, _p: Any) -> None:
        with lock:
            acked[0] += 1

    c.on_publish = on_publish
    c.on_connect = lambda *_a: connected.set()
    c.connect_async(u.hostname or "", u.port or 1883, keepalive=10)
    c.loop_start()
    try:
        if not connected.wait(30):
            raise TimeoutError(f"simulate: cannot connect to {url}")
        t0_real = time.monotonic()
        t0_sim: datetime | None = None
        sent = 0
        for m in messages:
            if speed > 0:
                t0_sim = t0_sim or m.at
                due = t0_real + (m.at - t0_sim).total_seconds() / speed
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            c.publish(m.topic, m.payload, qos=1, retain=m.retain)
            sent += 1
            while sent - acked[0] > 5000:  # keep memory bounded while the broker catches up
                time.sleep(0.005)
        deadline = time.monotonic() + timeout
        while acked[0] < sent:
            if time.monotonic() > deadline:
                raise TimeoutError(f"simulate: {sent - acked[0]} messages not acknowledged")
            time.sleep(0.01)
        return sent
    finally:
        c.disconnect()
        c.loop_stop()
