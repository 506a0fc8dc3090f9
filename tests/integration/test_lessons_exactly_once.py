"""A lesson is counted once: the agent (a real process, a real mosquitto) is SIGKILLed at
each step of a lesson summary's way out — before it is stored, after it is stored and before
the outbox has it, after the outbox has it and before it is published, after it is published
and before the PUBACK is recorded — and started again. A district subscriber deduplicating
as docs/mqtt.md says (on ``id``; lessons by (school, room, lesson_id), highest revision)
counts exactly one lesson, and every copy it received carries the same ``id``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest

from tests.agentproc import write_toml
from tests.conftest import free_port, zone_at_mid_morning
from tests.crashpoint import POINTS

ROOT = "classroom/s1/r1"


class District:
    """A persistent-session QoS 1 subscriber to the room's lessons, as the docs advise."""

    def __init__(self, port: int) -> None:
        self.lessons: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="district-test",
                                  clean_session=False)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe([(f"{ROOT}/lessons", 1), (f"{ROOT}/cmd/+/+/reply", 1),
                               (f"{ROOT}/cmd/+/reply", 1)])
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        doc = json.loads(msg.payload)
        with self._lock:
            (self.lessons if msg.topic.endswith("/lessons") else self.replies).append(doc)

    def command(self, name: str, timeout: float = 30.0) -> dict[str, Any] | None:
        """Wait until the agent answers ``ping`` (it may still be subscribing), then send
        ``name`` once; its reply, or None when none came (the agent died first)."""
        deadline = time.monotonic() + timeout
        while self._call("ping", 2.0) is None:
            if time.monotonic() > deadline:
                raise TimeoutError("the agent does not answer commands")
        return self._call(name, 10.0)

    def _call(self, name: str, wait_s: float) -> dict[str, Any] | None:
        corr = f"c{time.monotonic_ns()}"
        self.client.publish(f"{ROOT}/cmd/{name}", json.dumps({"id": corr}), qos=1)
        until = time.monotonic() + wait_s
        while time.monotonic() < until:
            with self._lock:
                got = [r["data"] for r in self.replies if r["data"]["id"] == corr]
            if got:
                return got[0]
            time.sleep(0.05)
        return None

    def counted(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """Deduplicated as docs/mqtt.md says: by id, then one record per lesson key with
        the highest revision."""
        with self._lock:
            by_id = {m["id"]: m for m in self.lessons}
        out: dict[tuple[str, str, str], dict[str, Any]] = {}
        for m in by_id.values():
            key = (m["school"], m["room"], m["data"]["lesson_id"])
            if key not in out or m["data"].get("revision", 0) > out[key]["data"].get(
                    "revision", 0):
                out[key] = m
        return out

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def config(tmp: Path, broker_url: str, web: int) -> Path:
    tz = zone_at_mid_morning()
    now = datetime.now(ZoneInfo(tz))
    start, end = now - timedelta(minutes=10), now + timedelta(minutes=50)
    return write_toml(tmp / "agent.toml", {
        "site": {"school": "s1", "room": "r1", "timezone": tz},
        "storage": {"data_dir": str(tmp / "data")},
        "web": {"listen": f"127.0.0.1:{web}"},
        "health": {"interval_s": 3600.0},
        "mqtt": {"url": broker_url, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        "lessons": {"tick_s": 0.5},
        "lessons.timetable.periods": [{
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "start": f"{start:%H:%M}", "end": f"{end:%H:%M}", "id": "p1",
            "subject": "math",
        }],
    })


def status(web: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{web}/api/status", timeout=2) as r:
        return json.loads(r.read())


def wait(pred: Any, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(what)


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")
    try:
        return subprocess.Popen([sys.executable, "-m", *args], stdout=out, stderr=out)
    finally:
        out.close()


@pytest.mark.parametrize("point", POINTS)
def test_one_lesson_counted_once_whatever_step_the_agent_dies_at(
        point: str, mosquitto: Any, tmp_path: Path) -> None:
    web = free_port()
    cfg = config(tmp_path, mosquitto.url, web)
    log = tmp_path / "agent.log"
    district = District(mosquitto.port)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        # 1st life: the lesson runs; the teacher ends it; the agent dies at `point`
        procs.append(start(["tests.crashpoint", point, "run", "-c", str(cfg)], log))
        wait(lambda: status(web)["lessons"]["current"], "lesson open", 60)
        district.command("lesson/end")  # sent once; it may die before it answers
        assert procs[0].wait(30) == -9, log.read_text()

        # 2nd life: no crash; whatever was left is finished and sent
        procs.append(start(["agent", "run", "-c", str(cfg)], log))
        wait(lambda: status(web), "agent up", 60)
        if status(web)["lessons"]["current"]:  # died before the summary was stored
            reply = district.command("lesson/end")
            assert reply and reply["ok"], reply
        wait(lambda: district.counted() and status(web)["uplink"]["outbox_depth"] == 0,
             "summary sent", 60)
        time.sleep(1.0)  # a late duplicate would arrive in this time
        procs[1].terminate()
        assert procs[1].wait(30) == 0, log.read_text()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        district.close()

    counted = district.counted()
    assert len(counted) == 1, counted
    # and the stronger property: a re-sent summary kept its envelope id
    ids = {m["id"] for m in district.lessons}
    assert len(ids) == 1, [(m["id"], m["seq"]) for m in district.lessons]
    (summary,) = counted.values()
    assert summary["data"]["lesson_id"].endswith("-p1")
    assert summary["data"]["ended_by"] == "teacher"
