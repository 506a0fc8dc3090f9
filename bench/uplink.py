"""Uplink throughput, side by side in one run:

1. durable enqueue: events through the bus into the outbox (group commit, FULL sync) with
   many concurrent producers, vs one SQLite transaction per message (the naive way);
2. drain to a local mosquitto at QoS 1 through the agent's link (outbox -> PUBACK ->
   delete), vs raw aiomqtt QoS 1 publishes with the same in-flight window (the ceiling);
3. one hour of a full classroom's data buffered offline: bytes and enqueue time.

    .venv/bin/python bench/uplink.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiomqtt

from agent.config import from_dict
from agent.events import DeviceFault, Health
from agent.runtime.agent import Agent
from tests.conftest import Mosquitto, broker_in_tempdir, free_port


def fault(i: int) -> DeviceFault:
    return DeviceFault(device_id=f"cam{i % 4}", kind="camera", status="fault",
                       reason=f"no packets for 10 s (#{i})")


def make_agent(tmp: Path, mqtt_url: str | None = None) -> Agent:
    data = {"storage": {"data_dir": str(tmp)}, "web": {"listen": f"127.0.0.1:{free_port()}"},
            "health": {"interval_s": 3600.0}, "site": {"school": "b", "room": "r"}}
    if mqtt_url:
        data["mqtt"] = {"url": mqtt_url, "max_inflight": 100}
    return Agent(from_dict(data))


async def bench_enqueue(tmp: Path, n: int, producers: int) -> float:
    agent = make_agent(tmp / "enq")
    up = agent.ctx.services["uplink"]
    await up.start()
    bus = agent.ctx.bus

    async def produce(k: int) -> None:
        for i in range(k, n, producers):
            await bus.publish(fault(i))

    t0 = time.perf_counter()
    await asyncio.gather(*(produce(k) for k in range(producers)))
    dt = time.perf_counter() - t0
    assert up.outbox.depth == n
    await up.stop()
    return n / dt


def bench_naive(tmp: Path, n: int) -> float:
    db = sqlite3.connect(tmp / "naive.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE m (id INTEGER PRIMARY KEY, topic TEXT, payload BLOB)")
    payload = b'{"v":1,"data":{"device_id":"cam1","reason":"no packets for 10 s"}}' * 3
    t0 = time.perf_counter()
    for _ in range(n):
        db.execute("BEGIN")
        db.execute("INSERT INTO m(topic, payload) VALUES (?, ?)", ("events/device", payload))
        db.execute("COMMIT")
    dt = time.perf_counter() - t0
    db.close()
    return n / dt


async def bench_drain(tmp: Path, broker: Mosquitto, n: int) -> float:
    agent = make_agent(tmp / "drain", None)
    up = agent.ctx.services["uplink"]
    await up.start()
    await asyncio.gather(*(agent.ctx.bus.publish(fault(i)) for i in range(n)))
    await up.stop()
    # the same data dir, now with the broker configured: time until the outbox is empty
    agent = make_agent(tmp / "drain", broker.url)
    up = agent.ctx.services["uplink"]
    await up.start()
    assert up.outbox.depth == n
    t0 = time.perf_counter()
    task = asyncio.create_task(up.run())
    while up.outbox.depth:
        await asyncio.sleep(0.01)
    dt = time.perf_counter() - t0
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await up.stop()
    return n / dt


async def bench_raw(broker: Mosquitto, n: int, window: int = 100) -> float:
    payload = b'{"v":1,"data":{"device_id":"cam1","reason":"no packets for 10 s"}}' * 3
    sem = asyncio.Semaphore(window)
    async with aiomqtt.Client("127.0.0.1", broker.port, max_inflight_messages=window) as c:
        async def one() -> None:
            try:
                await c.publish("bench/raw", payload, qos=1)
            finally:
                sem.release()

        t0 = time.perf_counter()
        tasks = []
        for _ in range(n):
            await sem.acquire()
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
        return n / (time.perf_counter() - t0)


async def bench_offline_hour(tmp: Path) -> tuple[int, int, float]:
    """A full classroom for one hour, offline: 60 tablets each answering or raising a hand
    about once a minute, engagement every 10 s, health every 30 s, 4 devices changing state
    every 5 min, recording events, one lesson summary."""
    from agent import events as ev

    agent = make_agent(tmp / "hour")
    up = agent.ctx.services["uplink"]
    await up.start()
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    items: list[ev.Event] = []
    items += [Health(cpu_percent=12.5, load_1m=0.7, memory_percent=31.0,
                     disk_free_bytes=10**11, disk_total_bytes=2 * 10**11, temperature_c=55.0,
                     rss_bytes=140_000_000, uptime_s=3600.0, loop_lag_ms=0.4,
                     loop_lag_max_ms=3.1, outbox_depth=1000, outbox_bytes=10**6,
                     outbox_oldest_age_s=1800.0, sent_total=10**5, dropped_total=0)] * 120
    items += [ev.InteractionEvent(kind="answer", device_id=f"tab-{i % 60:02d}",
                                  student_id=f"stu-{i % 60:04d}", message_id=f"m{i}",
                                  lesson_id="2026-11-22-p3", class_id="class-7a",
                                  question_id=f"q{i // 60}", choice="B", correct=True,
                                  time_to_answer_s=12.4) for i in range(60 * 60)]
    items += [ev.EngagementWindow(camera_id="students", window_start=now, window_end=now,
                                  lesson_id="2026-11-22-p3", head_count_median=38.0,
                                  head_count_max=41, head_up_rate=0.82, hands_raised=2,
                                  hands_raised_max=3, fps=5.2, frames=52)] * 360
    items += [ev.DeviceState(device_id=f"dev{i % 4}", kind="camera", status="online",
                             attrs={"codec": "h264", "width": 1920, "height": 1080})
              for i in range(48)]
    items += [fault(i) for i in range(20)]
    t0 = time.perf_counter()
    for i in range(0, len(items), 500):
        await asyncio.gather(*(agent.ctx.bus.publish(e) for e in items[i:i + 500]))
    dt = time.perf_counter() - t0
    n, size = up.outbox.depth, up.outbox.bytes
    await up.stop()
    return n, size, dt


async def main() -> None:
    logging.getLogger("mqtt").setLevel(logging.ERROR)  # aiomqtt's per-publish chatter
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20000)
    args = ap.parse_args()
    n = args.messages
    with broker_in_tempdir("bench-uplink-") as (tmp, broker):
        print(f"messages: {n}; sqlite synchronous=FULL, WAL; broker mosquitto on loopback")
        naive = bench_naive(tmp, min(n, 3000))
        enq = await bench_enqueue(tmp, n, producers=50)
        enq1 = await bench_enqueue(tmp / "one", min(n, 3000), producers=1)
        print(f"durable enqueue, 50 producers (group commit): {enq:10.0f} msg/s "
              f"(target >= 5000) = {enq / naive:.1f}x one-commit-per-message")
        print(f"durable enqueue, 1 producer awaiting each:    {enq1:10.0f} msg/s")
        print(f"naive: one transaction per message:          {naive:10.0f} msg/s")
        drain = await bench_drain(tmp, broker, n)
        raw = await bench_raw(broker, n)
        print(f"drain outbox -> mosquitto QoS 1 (PUBACK, delete): {drain:8.0f} msg/s "
              f"(target >= 2000) = {drain / raw:.2f}x raw aiomqtt QoS 1")
        print(f"raw aiomqtt QoS 1, window 100 (no outbox):       {raw:8.0f} msg/s")
        count, size, dt = await bench_offline_hour(tmp)
        print(f"one offline hour of a full classroom: {count} messages, {size / 1e6:.1f} MB "
              f"({size / (256 * 2**20) * 100:.1f}% of the default 256 MiB bound), "
              f"enqueued in {dt:.1f} s")


if __name__ == "__main__":
    import signal

    # SIGTERM as an exception, so the finally blocks stop the brokers and agents started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    asyncio.run(main())
