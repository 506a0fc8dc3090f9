"""The command line as an operator uses it: check, bad configs, status and record against a
running agent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.agentproc import AgentProcess, write_toml
from tests.conftest import free_port


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_check_probes_broker(mosquitto, tmp_path: Path) -> None:
    cfg = write_toml(tmp_path / "a.toml", {
        "site": {"school": "s1", "room": "r1"},
        "mqtt": {"url": mosquitto.url},
        "storage": {"data_dir": str(tmp_path / "d")},
    })
    r = cli("check", "-c", str(cfg), "--timeout", "3")
    assert r.returncode == 0, r.stderr
    assert "config: OK" in r.stdout and "mqtt: OK connected to 127.0.0.1" in r.stdout
    mosquitto.kill()
    r = cli("check", "-c", str(cfg), "--timeout", "2")
    assert r.returncode == 1
    assert "mqtt: FAIL cannot connect to 127.0.0.1" in r.stderr


def test_bad_config_is_one_line_per_problem(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[mqtt]\nkeepalive_s = "abc"\n')
    for cmd in ("check", "run"):
        r = cli(cmd, "-c", str(cfg))
        assert r.returncode == 2
        assert r.stderr.strip() == 'config error: mqtt.keepalive_s: expected int, got "abc"'
    r = cli("run", "-c", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "cannot read" in r.stderr


def test_status_and_unreachable_agent(tmp_path: Path) -> None:
    port = free_port()
    cfg = write_toml(tmp_path / "a.toml", {
        "storage": {"data_dir": str(tmp_path / "d")},
        "web": {"listen": f"127.0.0.1:{port}"},
    })
    r = cli("status", "-c", str(cfg))
    assert r.returncode == 3 and "cannot reach the agent" in r.stderr
    with AgentProcess(cfg) as agent:
        agent.wait_http(f"http://127.0.0.1:{port}/healthz")
        r = cli("status", "-c", str(cfg))
        assert r.returncode == 0 and '"uplink"' in r.stdout
        r = cli("record", "stop", "-c", str(cfg))
        assert r.returncode == 1  # no camera configured: a clear refusal, not a crash
        assert '"error"' in r.stdout


def test_version_and_help() -> None:
    r = cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("classroom-agent ")
    r = cli("--help")
    for word in ("run", "demo", "check", "status", "record"):
        assert word in r.stdout


def test_check_probes_panel_and_camera(tmp_path: Path) -> None:
    """A PJLink projector emulator and a file camera: both OK; the projector unplugged
    (nothing listening) and a missing camera file: both FAIL with a reason."""
    from drivers.emulators.camera import ensure_demo_clip
    from drivers.emulators.pjlink import PjlinkEmulator

    clip = ensure_demo_clip(tmp_path / "clip")
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    emu = PjlinkEmulator()
    port_box: list[int] = []

    async def serve() -> None:
        port_box.append(await emu.start_tcp("127.0.0.1", 0))

    threading.Thread(target=loop.run_forever, daemon=True).start()
    asyncio.run_coroutine_threadsafe(serve(), loop).result(10)
    try:
        cfg = write_toml(tmp_path / "a.toml", {
            "storage": {"data_dir": str(tmp_path / "d")},
            "panels": [{"id": "proj", "protocol": "pjlink", "host": "127.0.0.1",
                        "port": port_box[0]}],
            "cameras": [{"id": "teacher", "url": str(clip), "loop": True},
                        {"id": "gone", "url": str(tmp_path / "missing.mp4")}],
        })
        r = cli("check", "-c", str(cfg), "--timeout", "5")
        assert "panel proj: OK pjlink: online" in r.stdout, r.stdout + r.stderr
        assert "camera teacher: OK h264" in r.stdout
        assert "camera gone: FAIL" in r.stderr
        assert r.returncode == 1
    finally:
        loop.call_soon_threadsafe(loop.stop)
