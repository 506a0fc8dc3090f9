"""``classroom-district demo`` end to end: its own mosquitto, the collector, the dashboard
JSON filling up with the simulated district's variety, and everything stopped and removed
after ``--for``."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def test_demo_shows_a_district_and_cleans_up() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "district", "demo", "--rooms", "16", "--schools", "4",
         "--weeks", "1", "--minutes", "0", "--for", "90", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        while not any(line.strip().startswith("data:") for line in lines):
            line = proc.stdout.readline()
            assert line, "demo ended early:\n" + "".join(lines)
            lines.append(line)
        out = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in out
        broker_port = int(re.search(r"broker:\s+mqtt://127.0.0.1:(\d+)", out).group(1))
        data_dir = Path(re.search(r"data:\s+(\S+)", out).group(1))
        assert data_dir.is_dir()
        variety = re.search(r"school (\S+) far below target.*; (\S+) offline; (\S+) lost (\d+)",
                            out)
        low, offline, gap, lost = variety.groups()
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:  # until the fleet is in (published at once with --minutes 0)
            d = _get(base + "/api/dashboard/district")
            loss = {f"{x['school']}/{x['room']}": x for x in d["data_loss"]}
            offline_now = {f"{x['school']}/{x['room']}" for x in d["offline"]}
            if gap in loss and offline in offline_now and loss[gap]["missing"] >= int(lost):
                break
            assert time.monotonic() < deadline, d
            time.sleep(1)
        assert d["rooms_total"] == 16 and len(d["schools"]) == 4
        rates = {s["school"]: s["class_hour_rate"] for s in d["schools"]}
        assert rates[low] < 0.6 * min(v for k, v in rates.items() if k != low)
        assert d["weekly"] and any(w["smart_lessons"] for w in d["weekly"])
        with urllib.request.urlopen(base + "/?lang=zh-CN", timeout=10) as r:
            assert 'lang="zh-CN"' in r.read().decode()
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(60) == 0
        assert not data_dir.exists()
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", broker_port)) != 0, "broker still running"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.mark.slow
def test_a_real_agent_room_appears_beside_the_simulated_ones() -> None:
    """``classroom-agent demo --mqtt URL`` (the whole agent on a simulated classroom)
    publishing to the district demo's broker: its room is in the same dashboard."""
    port, agent_port = free_port(), free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "district", "demo", "--rooms", "8", "--schools", "2",
         "--weeks", "1", "--minutes", "0", "--for", "120", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    agent = None
    try:
        out = ""
        while "data:" not in out:
            line = demo.stdout.readline()
            assert line, "demo ended early:\n" + out
            out += line
        broker = re.search(r"broker:\s+(mqtt://\S+)", out).group(1)
        agent = subprocess.Popen(
            [sys.executable, "-m", "agent", "demo", "--mqtt", broker, "--listen",
             f"127.0.0.1:{agent_port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            d = _get(base + "/api/dashboard/district")
            schools = {s["school"] for s in d["schools"]}
            if "demo-school" in schools and d["rooms_total"] == 9:
                break
            assert time.monotonic() < deadline, (schools, d["rooms_total"])
            time.sleep(1)
        assert {"s001", "s002"} <= schools  # beside the simulated ones
        room = _get(base + "/api/dashboard/schools/demo-school/rooms/demo-101")
        assert room["presence"]["state"] == "online"
        assert "lessons" in room["presence"]["capabilities"]
        agent.send_signal(signal.SIGINT)
        assert agent.wait(60) == 0
        deadline = time.monotonic() + 30  # its retained status says offline now
        while _get(base + "/api/dashboard/schools/demo-school/rooms/demo-101")[
                "presence"]["state"] != "offline":
            assert time.monotonic() < deadline
            time.sleep(0.5)
        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0
    finally:
        for p in (agent, demo):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)
