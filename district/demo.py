"""``classroom-district demo``: a whole simulated district on one machine, in one command.

A mosquitto in a temp dir on a free port (unless ``--mqtt URL`` names a broker), the
collector on an embedded SQLite in the same temp dir, its dashboard, and the fleet
simulator publishing a few weeks of a term (up to yesterday) compressed into a few minutes.
The fleet gets a district's usual variety on top of the simulator's faults: one school far
below target (few smart lessons, two subjects; its rooms run an older agent that sends no
quality recording marks and no tablet homework, so those figures stay "no data yet" with
the reason), a few rooms below target elsewhere, one
room that went offline (its retained status says so) and one room with a data-loss gap
(summaries that never arrived: a seq hole). Real rooms (``classroom-agent demo --mqtt
URL``) appear beside the simulated ones: the collector takes any room under the prefix.
Everything started here is stopped and removed at the end (Ctrl-C or ``--for SECONDS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from agent import events as ev
from agent.uplink.envelope import SCHEMA_VERSION, Envelope, encode, uuid7
from district.simulate.fleet import Message, build

SCHOOL_NAMES = ["城关第一小学", "实验中学", "城南小学", "第二中学", "江北小学", "育才中学",
                "城东小学", "山区中心学校"]
TERM_WEEKS = 20


@dataclass
class Variety:
    low_school: str
    below_rooms: list[tuple[str, str]]
    offline_room: tuple[str, str]
    gap_room: tuple[str, str]
    gap_missing: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def demo_start(weeks: int, today: date) -> tuple[date, int]:
    """The first simulated day (a Monday ``weeks`` weeks before this one) and how many
    school days run from it up to yesterday."""
    monday = today - timedelta(days=today.weekday())
    start = monday - timedelta(weeks=weeks)
    days = sum(1 for i in range((today - start).days)
               if (start + timedelta(days=i)).weekday() < 5)
    return start, days


def add_variety(messages: list[Message], schools: int, seed: int = 7) -> tuple[list[Message],
                                                                                Variety]:
    """The demo's variety, on top of a plan built by ``fleet.build`` (payloads stay the
    agent's envelope; only data fields change)."""
    rnd = random.Random(seed)
    rooms = sorted({tuple(m.topic.split("/")[1:3]) for m in messages})
    by_school: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for s, r in rooms:
        by_school[s].append((s, r))
    names = sorted(by_school)
    low = names[-1]
    others = [x for s in names[:-1] for x in by_school[s]]
    below = rnd.sample(others, min(3, len(others)))
    rest = [x for x in others if x not in below]
    offline, gap = rest[0], rest[len(rest) // 2]
    lesson_msgs = [i for i, m in enumerate(messages)
                   if tuple(m.topic.split("/")[1:3]) == gap and m.topic.endswith("/lessons")]
    hole = set(lesson_msgs[len(lesson_msgs) // 2:len(lesson_msgs) // 2 + 6])
    span = (messages[0].at, messages[-1].at)
    cut = span[0] + (span[1] - span[0]) * 0.7
    out: list[Message] = []
    status_seq = 0
    for i, m in enumerate(messages):
        key = tuple(m.topic.split("/")[1:3])
        if i in hole:
            continue  # summaries lost on the way: the collector sees a seq gap
        if key == offline:
            if m.at > cut:
                continue
            if m.topic.endswith("/status"):
                status_seq = max(status_seq, json.loads(m.payload)["seq"])
        if key[0] == low and m.topic.endswith("/usage"):
            d = json.loads(m.payload)
            for name in ("homework", "week_homework", "term_homework"):
                d["data"].pop(name, None)  # an older agent: no tablet homework
            m = Message(m.topic, json.dumps(d, ensure_ascii=False).encode(), m.retain, m.at)
        if m.topic.endswith("/lessons") and (key[0] == low or key in below):
            d = json.loads(m.payload)
            if d.get("type") == "lesson_summary":
                if key[0] == low:  # an older agent: no quality marks
                    rec = d["data"].get("recording") or {}
                    d["data"]["recording"] = {k: rec[k] for k in ("minutes", "recordings",
                                                                  "files") if k in rec}
                share = 0.25 if key[0] == low else 0.55
                d["data"]["smart_classroom_use"] = rnd.random() < share
                if key[0] == low:
                    d["data"]["subject"] = rnd.choice(["chinese", "math"])
                m = Message(m.topic, json.dumps(d, ensure_ascii=False).encode(), m.retain, m.at)
        out.append(m)
    # the offline room's last will: a retained "offline" status
    prefix = messages[0].topic.split("/")[0]
    st = ev.AgentStatus(ts=cut, state="offline", version="0.1.0",
                        capabilities=["lessons", "panel", "health", "uplink"])
    # the simulator's status seq: 0 (outside the outbox's seq, like the agent) or numbered
    env = Envelope(v=SCHEMA_VERSION, id=uuid7(), seq=status_seq + 1 if status_seq else 0,
                   ts=cut, school=offline[0],
                   room=offline[1], type="status", data=st)
    out.append(Message(f"{prefix}/{offline[0]}/{offline[1]}/status", encode(env), True, cut))
    out.sort(key=lambda m: m.at)
    return out, Variety(low, below, offline, gap, len(hole))


def demo_config(tmp: Path, mqtt_url: str, listen: str, start: date, schools: int,
                rooms: int) -> dict[str, Any]:
    roster: dict[str, list[str]] = defaultdict(list)
    for i in range(rooms):  # fleet.build's naming
        roster[f"s{i % schools + 1:03d}"].append(f"r{i // schools + 1:04d}")
    return {
        "district": {"name": "演示区 Demo district", "timezone": "Asia/Shanghai"},
        "mqtt": {"url": mqtt_url, "share_group": "", "client_id": f"district-demo-{os.getpid()}"},
        "storage": {"url": f"sqlite:///{tmp}/district.sqlite"},
        "web": {"listen": listen},
        "terms": [{"name": "demo term", "start": start,
                   "end": start + timedelta(weeks=TERM_WEEKS, days=-3)}],
        "schools": [{"id": s, "name": SCHOOL_NAMES[i % len(SCHOOL_NAMES)], "rooms": rs}
                    for i, (s, rs) in enumerate(sorted(roster.items()))],
    }


class Broker:
    """A Debian mosquitto on a free loopback port in ``tmp``; ``stop()`` always."""

    def __init__(self, tmp: Path) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise RuntimeError("mosquitto not found: sudo apt-get install mosquitto "
                               "(scripts/setup.sh installs it), or pass --mqtt URL")
        self.port = free_port()
        conf = tmp / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "allow_anonymous true",
                 "persistence false", "max_queued_messages 100000",
                 "max_inflight_messages 1000"]
        if os.geteuid() == 0:
            lines.append("user root")  # else it switches to a user that cannot read tmp
        conf.write_text("\n".join(lines) + "\n")
        self.log = open(tmp / "mosquitto.log", "ab")  # closed in stop()
        self.proc = subprocess.Popen([exe, "-c", str(conf)], stdout=self.log,
                                     stderr=self.log)
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), 0.2):
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not start (log: {tmp}/mosquitto.log)")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


async def run(args: Any) -> int:
    from district.config import from_dict
    from district.ingest.collector import Collector
    from district.kpi.engine import today
    from district.store.store import Store
    from district.web.app import start_web

    tmp = Path(tempfile.mkdtemp(prefix="district-demo-"))
    broker: Broker | None = None
    collector = store = runner = None
    sim: asyncio.Task[int] | None = None
    sim_stop = threading.Event()
    try:
        if args.mqtt:
            url = args.mqtt
        else:
            broker = await asyncio.to_thread(Broker, tmp)
            url = broker.url
        listen = args.listen or f"127.0.0.1:{free_port()}"
        probe = from_dict({"district": {"timezone": "Asia/Shanghai"}})
        start, days = demo_start(args.weeks, today(probe))
        cfg = from_dict(demo_config(tmp, url, listen, start, args.schools, args.rooms))
        plan = await asyncio.to_thread(build, args.rooms, args.schools, days, start,
                                       seed=args.seed, health_every_min=60)
        messages, variety = add_variety(plan.messages, args.schools)
        store = await asyncio.to_thread(Store.open, cfg.storage.url, cfg.terms, cfg.schools)
        collector = Collector(cfg, store)
        collector.start()
        runner = await start_web(cfg, store, collector)
        host, _, port = listen.rpartition(":")
        print(f"classroom-district demo: {cfg.district.name}\n"
              f"  dashboard:  http://{host}:{port}/   (?lang=en or ?lang=zh-CN)\n"
              f"  report:     http://{host}:{port}/report\n"
              f"  broker:     {url}   (real rooms: classroom-agent demo --mqtt {url})\n"
              f"  fleet:      {args.rooms} rooms in {args.schools} schools, {days} school days "
              f"from {start} ({len(messages)} messages in ~{args.minutes:g} min)\n"
              f"  variety:    school {variety.low_school} far below target; rooms below "
              f"target {', '.join('/'.join(x) for x in variety.below_rooms)}; "
              f"{'/'.join(variety.offline_room)} offline; {'/'.join(variety.gap_room)} "
              f"lost {variety.gap_missing} summaries\n"
              f"  data:       {tmp} (removed at the end)\n"
              "  Ctrl-C stops everything.", flush=True)
        sim = asyncio.create_task(asyncio.to_thread(paced_publish, messages, url, args.minutes,
                                                    sim_stop))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        sim.add_done_callback(lambda t: print(
            "classroom-district demo: the simulated fleet has published everything"
            if not t.cancelled() and t.exception() is None
            else f"classroom-district demo: simulator stopped: {t.exception()!r}",
            flush=True) if not t.cancelled() else None)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.for_s):
                await stop.wait()
        return 0
    finally:
        sim_stop.set()
        if sim is not None:  # ends after the slice in flight (broker still up)
            with contextlib.suppress(BaseException):
                await sim
        if runner is not None:
            await runner.cleanup()
        if collector is not None:
            await asyncio.to_thread(collector.stop)
        if broker is not None:
            broker.stop()
        if store is not None:
            store.close()
        shutil.rmtree(tmp, ignore_errors=True)
        print("classroom-district demo: stopped", file=sys.stderr, flush=True)


def paced_publish(messages: list[Message], url: str, minutes: float,
                  stop: threading.Event, slice_s: float = 1.0) -> int:
    """Publish ``messages`` (sorted by ``at``) spread over ``minutes`` of real time, one
    slice of simulated time per ``slice_s``, each slice acknowledged by the broker before
    the next; returns early when ``stop`` is set."""
    from district.simulate.publish import publish

    if not messages:
        return 0
    t0_sim = messages[0].at
    span = max(1.0, (messages[-1].at - t0_sim).total_seconds())
    real = max(0.0, minutes * 60)
    t0 = time.monotonic()
    sent, i = 0, 0
    while i < len(messages) and not stop.is_set():
        elapsed = time.monotonic() - t0
        horizon = t0_sim + timedelta(seconds=span * (elapsed + slice_s) / real) if real \
            else messages[-1].at
        j = i
        while j < len(messages) and messages[j].at <= horizon:
            j += 1
        if j > i:
            sent += publish(messages[i:j], url, client_id=f"district-demo-sim-{os.getpid()}")
            i = j
        stop.wait(max(0.0, t0 + elapsed + slice_s - time.monotonic()))
    return sent
