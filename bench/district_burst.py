"""Burst: N rooms reconnect at once after an outage and flush their backlog (the outage's
lessons, attendance, recordings and health), each room its own MQTT connection. Measures
the time until the collector (SQLite) has committed everything, and whether the broker
ever refused or dropped the collector.

    .venv/bin/python bench/district_burst.py [--rooms 1000] [--hours 4] [--health-every-s 300]

Health every 30 s would be 480 samples per room for 4 hours; the default sends one every
5 minutes (48) to keep the run short on a small machine; `--health-every-s 30` is the
full load.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, date, timedelta
from pathlib import Path

import aiomqtt
from paho.mqtt.client import MQTTv5

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.district_health import health_round
from district.simulate.fleet import Message, _Room, build
from tests.conftest import Mosquitto
from tests.helpers.collector import CollectorProc, collector_toml

_QUIET = logging.getLogger("burst.rooms")  # aiomqtt warns about every pending publish
_QUIET.setLevel(logging.ERROR)


def backlog(rooms: int, hours: float, health_every_s: int) -> dict[str, list[Message]]:
    plan = build(rooms, max(1, rooms // 50), 1, date(2026, 9, 7), seed=3, faults=False)
    start = plan.messages[0].at + timedelta(minutes=30)  # 08:00 local: the outage begins
    end = start + timedelta(hours=hours)
    per_room: dict[str, list[Message]] = {}
    for m in plan.messages:
        if start <= m.at <= end and not m.topic.endswith("/status"):
            per_room.setdefault(m.topic.rsplit("/", 1)[0].rsplit("/events", 1)[0], []).append(m)
    fleet = {}
    for m in plan.messages:
        if m.topic.endswith("/status"):
            _, school, room, _ = m.topic.split("/", 3)
            fleet[f"classroom/{school}/{room}"] = _Room("classroom", school, room)
    t = start
    while t < end:
        for m in health_round(list(fleet.values()), t.astimezone(UTC)):
            per_room.setdefault(m.topic.rsplit("/", 1)[0], []).append(m)
        t += timedelta(seconds=health_every_s)
    return per_room


async def flush(root: str, msgs: list[Message], port: int, refused: list[str]) -> None:
    try:
        async with aiomqtt.Client("127.0.0.1", port, identifier=f"room-{root}",
                                  protocol=MQTTv5, max_inflight_messages=100,
                                  timeout=120, logger=_QUIET) as c:
            await asyncio.gather(*(c.publish(m.topic, m.payload, qos=1) for m in msgs))
    except aiomqtt.MqttError as e:
        refused.append(f"{root}: {e}")


async def burst(per_room: dict[str, list[Message]], port: int) -> list[str]:
    refused: list[str] = []
    await asyncio.gather(*(flush(r, m, port, refused) for r, m in per_room.items()))
    return refused


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rooms", type=int, default=1000)
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--health-every-s", type=int, default=300)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="district-burst-"))
    broker = Mosquitto(tmp, extra=["max_queued_messages 0", "max_connections -1"])
    collector = None
    try:
        broker.start()
        per_room = backlog(args.rooms, args.hours, args.health_every_s)
        total = sum(len(m) for m in per_room.values())
        collector = CollectorProc(tmp, "run", collector_toml(broker.url, "burst-bench", tmp))
        collector.start()
        collector.wait_subscribed()
        print(f"{len(per_room):,} rooms reconnect at once with {total:,} messages "
              f"({args.hours:g} h of backlog, health every {args.health_every_s} s)")
        t0 = time.perf_counter()
        refused = asyncio.run(burst(per_room, broker.port))
        flushed = time.perf_counter() - t0
        db = sqlite3.connect(f"{tmp}/d.sqlite", timeout=30)

        def stored() -> int:
            q = ("SELECT (SELECT count(*) FROM lessons) + (SELECT count(*) FROM events) + "
                 "(SELECT coalesce(sum(samples), 0) FROM health) + "
                 "(SELECT count(*) FROM usage_daily)")
            return db.execute(q).fetchone()[0]

        deadline = time.monotonic() + 600
        while stored() < total and time.monotonic() < deadline:
            time.sleep(0.1)
        caught_up = time.perf_counter() - t0
        text = (tmp / "run.log").read_text()
        print(f"rooms flushed in {flushed:.1f} s; collector caught up after {caught_up:.1f} s "
              f"({total / caught_up:,.0f} msg/s); stored {stored():,} of {total:,}")
        print(f"rooms refused by the broker: {len(refused)}; collector disconnects: "
              f"{text.count('mqtt: disconnected')}")
    finally:
        if collector:
            collector.stop()
        broker.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
