"""The shipped unit as systemd runs it, while the district and the room's devices are
unreachable: every ``Exec*`` line of systemd/classroom-agent.service is run (paths mapped to
this venv and a temp config) with the broker, the panel and the camera all down. Each
pre-step must exit 0, the agent must tell systemd READY=1 on the NOTIFY_SOCKET the test
provides, and it must queue its data in the outbox (store-and-forward, not refuse-to-start).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.agentproc import write_toml
from tests.conftest import free_port

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "classroom-agent.service"
SHIPPED_EXE = "/opt/classroom-agent/.venv/bin/classroom-agent"
SHIPPED_CONFIG = "/etc/classroom-agent/agent.toml"


def exec_lines(unit_text: str) -> list[tuple[str, list[str]]]:
    """(key, argv) for every Exec* line of [Service], in file order (systemd allows several
    ExecStartPre lines, which configparser would merge)."""
    out, section = [], ""
    for raw in unit_text.splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line.startswith("Exec") and "=" in line:
            key, _, value = line.partition("=")
            # systemd's prefixes: "-" ignore failure, "@" argv0, "+"/"!" privileges, ":"
            argv = shlex.split(value.lstrip("-@+!:"))
            out.append((key.strip(), argv))
    return out


def mapped(argv: list[str], config: Path) -> list[str]:
    venv_exe = str(Path(sys.executable).parent / "classroom-agent")
    return [venv_exe if a == SHIPPED_EXE else str(config) if a == SHIPPED_CONFIG else a
            for a in argv]


def unreachable_config(tmp: Path) -> tuple[Path, int]:
    """Broker, PJLink panel and RTSP camera on loopback ports where nothing listens."""
    web = free_port()
    cfg = write_toml(tmp / "agent.toml", {
        "site": {"school": "s1", "room": "r1"},
        "storage": {"data_dir": str(tmp / "data")},
        "web": {"listen": f"127.0.0.1:{web}"},
        "health": {"interval_s": 1.0},
        "mqtt": {"url": f"mqtt://127.0.0.1:{free_port()}", "reconnect_min_s": 0.2,
                 "reconnect_max_s": 1.0},
        "panels": [{"id": "proj", "protocol": "pjlink", "host": "127.0.0.1",
                    "port": free_port()}],
        "cameras": [{"id": "teacher", "url": f"rtsp://127.0.0.1:{free_port()}/live",
                     "connect_timeout_s": 1.0}],
    })
    return cfg, web


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=2) as r:
        return json.loads(r.read())


def test_unit_starts_with_broker_panel_and_camera_unreachable(tmp_path: Path) -> None:
    cfg, web = unreachable_config(tmp_path)
    steps = exec_lines(UNIT.read_text())
    keys = [k for k, _ in steps]
    assert "ExecStart" in keys and keys.count("ExecStart") == 1
    assert all(k in ("ExecStartPre", "ExecStart", "ExecStartPost", "ExecReload", "ExecStop",
                     "ExecStopPost", "ExecCondition") for k in keys), keys

    for key, argv in steps:
        if key in ("ExecStartPre", "ExecCondition"):
            r = subprocess.run(mapped(argv, cfg), capture_output=True, text=True, timeout=60)
            assert r.returncode == 0, f"{key} {argv} exited {r.returncode}: {r.stderr}"

    # ExecStart under a NOTIFY_SOCKET the test listens on, as systemd would provide it
    sock_dir = Path(tempfile.mkdtemp(prefix="sd-"))  # short: AF_UNIX paths are limited
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    proc: subprocess.Popen[bytes] | None = None
    log = open(tmp_path / "agent.log", "wb")
    try:
        notify.bind(str(sock_dir / "notify"))
        notify.settimeout(1.0)
        (argv,) = [a for k, a in steps if k == "ExecStart"]
        env = {**os.environ, "NOTIFY_SOCKET": str(sock_dir / "notify"),
               "WATCHDOG_USEC": str(30_000_000)}
        proc = subprocess.Popen(mapped(argv, cfg), stdout=log, stderr=log, env=env)
        got: list[str] = []
        deadline = time.monotonic() + 60  # the unit's TimeoutStartSec
        while "READY=1" not in got and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "agent.log").read_text()
            try:
                got += notify.recv(4096).decode().splitlines()
            except TimeoutError:
                pass
        assert "READY=1" in got, (tmp_path / "agent.log").read_text()
        for key, argv in steps:
            if key == "ExecStartPost":
                assert subprocess.run(mapped(argv, cfg), timeout=60).returncode == 0

        assert get_json(f"http://127.0.0.1:{web}/healthz")
        # data accumulates in the outbox while nothing can be reached
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            st = get_json(f"http://127.0.0.1:{web}/api/status")
            if st["uplink"]["outbox_depth"] >= 2:
                break
            time.sleep(0.3)
        up = st["uplink"]
        assert up["enabled"] and not up["connected"]
        assert up["outbox_depth"] >= 2, up
        devices = {d["device_id"]: d["status"] for d in st["devices"]}
        # both known to be down (not "online"): the status page shows why
        assert {devices.get("proj"), devices.get("teacher")} <= {"offline", "fault"}, devices

        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)  # the unit's TimeoutStopSec
        assert rc == 0, (tmp_path / "agent.log").read_text()
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        notify.close()
        log.close()
        shutil.rmtree(sock_dir, ignore_errors=True)

    # what was queued is on disk for the next start to send: health and device state
    db = sqlite3.connect(tmp_path / "data" / "outbox.sqlite3")
    try:
        topics = {t for (t,) in db.execute("SELECT topic FROM messages")}
        retained = {t for (t,) in db.execute("SELECT topic FROM retained WHERE dirty=1")}
    finally:
        db.close()
    assert "health" in topics, topics
    assert {"devices/proj", "devices/teacher"} <= retained, retained


def test_pre_step_still_refuses_a_bad_config(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text('[mqtt]\nkeepalive_s = "abc"\n')
    for key, argv in exec_lines(UNIT.read_text()):
        if key == "ExecStartPre":
            r = subprocess.run(mapped(argv, cfg), capture_output=True, text=True, timeout=60)
            assert r.returncode == 2, r.stdout
            assert "mqtt.keepalive_s" in r.stderr


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this machine)")
    # the shipped paths mapped to this venv: verify checks that ExecStart* binaries exist
    text = UNIT.read_text().replace(SHIPPED_EXE, str(Path(sys.executable).parent
                                                     / "classroom-agent"))
    unit = tmp_path / UNIT.name
    unit.write_text(text)
    r = subprocess.run([exe, "verify", "--man=no", str(unit)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    # an unknown key or a bad value is only a warning: no output at all is the bar
    assert not [ln for ln in (r.stdout + r.stderr).splitlines() if UNIT.name in ln], r.stderr
