"""Footprint of the agent: CPU share of one core, RSS and event-loop lag, side by side for
1. the foundation only, idle (uplink connected to a local mosquitto, health, web);
2. a camera and the engagement models configured, idle (no lesson: nothing analysed);
3. a busy lesson (emulated panel, a camera recording, engagement analysing, 30 tablet bots
   answering), sampled through /api/status: once as ``classroom-agent demo`` (the
   emulators inside the measured process), once as the agent alone with the same
   emulators in other processes, as in a real room.

    .venv/bin/python bench/footprint.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.agentproc import AgentProcess, write_toml
from tests.conftest import broker_in_tempdir, free_port
from tests.recording_helpers import post_json


def measure(cfg: Path, port: int, seconds: float, warmup: float = 8.0) -> tuple[float, float]:
    with AgentProcess(cfg) as agent:
        agent.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
        time.sleep(warmup)
        p = psutil.Process(agent.proc.pid)  # type: ignore[union-attr]
        t0, c0 = time.monotonic(), p.cpu_times()
        time.sleep(seconds)
        t1, c1 = time.monotonic(), p.cpu_times()
        rss = p.memory_info().rss
        cpu = (c1.user + c1.system - c0.user - c0.system) / (t1 - t0) * 100
    return cpu, rss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    args = ap.parse_args()
    with broker_in_tempdir("bench-footprint-") as (tmp, broker):
        port = free_port()
        base = {
            "site": {"school": "bench", "room": "r1"},
            "mqtt": {"url": broker.url},
            "storage": {"data_dir": str(tmp / "data")},
            "web": {"listen": f"127.0.0.1:{port}"},
        }
        cpu, rss = measure(write_toml(tmp / "base.toml", base), port, args.seconds)
        print(f"foundation only (uplink connected, health, web): CPU {cpu:.2f}% of a core, "
              f"RSS {rss:.0f} MB  (targets < 1 %, < 150 MB)")

        from drivers.emulators.camera import ensure_demo_clip

        clip = ensure_demo_clip(tmp / "clip")
        port2 = free_port()
        full = {
            **base,
            "storage": {"data_dir": str(tmp / "data2")},
            "web": {"listen": f"127.0.0.1:{port2}"},
            "cameras": [{"id": "students", "role": "students", "url": str(clip),
                         "loop": True}],
            "engagement": {"enabled": True, "camera": "students"},
        }
        cpu2, rss2 = measure(write_toml(tmp / "full.toml", full), port2, args.seconds)
        print(f"with camera + engagement models loaded, idle (no lesson): CPU {cpu2:.2f}% "
              f"of a core, RSS {rss2:.0f} MB  (target < 300 MB with models)")
        print(f"ratio full/foundation: CPU {cpu2 / max(cpu, 0.01):.1f}x, RSS {rss2 / rss:.1f}x")
        busy_demo(tmp, args.seconds)
        busy_agent(tmp, args.seconds, base)


def _status(port: int) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as r:
        return json.loads(r.read())


def _sample_busy(label: str, pid: int, port: int, seconds: float) -> None:
    """Wait until the lesson records and analyses, then sample CPU, RSS and loop lag."""
    deadline = time.monotonic() + 120
    while True:
        try:
            st = _status(port)
            if st.get("recording", {}).get("state") == "recording" and \
                    (st.get("engagement") or {}).get("active"):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{label}: not recording and analysing within 120 s")
        time.sleep(1)
    time.sleep(10)
    p = psutil.Process(pid)
    t0, c0 = time.monotonic(), p.cpu_times()
    lags = []
    while time.monotonic() - t0 < seconds:
        lags.append(_status(port)["system"]["loop_lag_ms"])
        time.sleep(0.5)
    c1 = p.cpu_times()
    cpu = (c1.user + c1.system - c0.user - c0.system) / (time.monotonic() - t0) * 100
    st = _status(port)
    lags.sort()
    eng = st.get("engagement") or {}
    print(f"busy lesson, {label} (recording, engagement at {eng.get('fps')} fps, "
          f"{st.get('tablets', {}).get('connected')} tablets): CPU {cpu:.0f}% of a core, "
          f"RSS {p.memory_info().rss / 2**20:.0f} MB, event-loop lag median "
          f"{lags[len(lags) // 2]:.1f} ms, max {lags[-1]:.1f} ms ({len(lags)} samples)")


def busy_demo(tmp: Path, seconds: float) -> None:
    """``classroom-agent demo``: the agent and its emulators in one process."""
    import subprocess

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "demo", "--data-dir", str(tmp / "demo"),
         "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _sample_busy("demo process (agent + its emulators)", proc.pid, port, seconds)
    finally:
        proc.terminate()
        proc.wait(30)


def busy_agent(tmp: Path, seconds: float, base: dict) -> None:
    """The same lesson as deployed: ``classroom-agent run`` alone, the panel emulator in
    this process (on a pty) and the 30 tablet bots in a ``simulate tablets`` process."""
    import subprocess

    from agent.engagement.demo import demo_clip
    from agent.panel.demo import start_demo_panel
    from agent.tablets.demo import write_roster
    from drivers.emulators.camera import ensure_demo_clip

    port = free_port()
    roster = tmp / "roster.csv"
    students = 30
    write_roster(roster, "class-7a", students + 2)
    panel, entry = start_demo_panel("smart", link=str(tmp / "panel-tty"))
    cfg = write_toml(tmp / "busy.toml", {
        **base,
        "storage": {"data_dir": str(tmp / "data3")},
        "web": {"listen": f"127.0.0.1:{port}"},
        "panels": [entry],
        "cameras": [{"id": "teacher", "role": "teacher", "loop": True,
                     "url": str(ensure_demo_clip(tmp / "clip"))}],
        "recording": {"segment_s": 60.0},
        "engagement": {"enabled": True, "source": str(demo_clip()), "loop": True,
                       "active": "always", "window_s": 10.0},
        "tablets": {"enabled": True, "join_code": "BENCH", "roster_file": str(roster)},
    })
    bots = None
    try:
        with AgentProcess(cfg) as agent:
            agent.wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60)
            post_json(f"http://127.0.0.1:{port}/api/recording/start")
            bots = subprocess.Popen(
                [sys.executable, "-m", "agent", "simulate", "tablets", "--url",
                 f"ws://127.0.0.1:{port}/ws/tablet", "--count", str(students),
                 "--join-code", "BENCH", "--roster", str(roster)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _sample_busy("agent process alone (emulators outside)", agent.proc.pid, port,
                         seconds)  # type: ignore[union-attr]
    finally:
        if bots is not None:
            bots.terminate()
            bots.wait(30)
        panel.stop()


if __name__ == "__main__":
    import signal

    # SIGTERM as an exception, so the finally blocks stop the brokers and agents started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
