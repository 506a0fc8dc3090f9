"""`classroom-agent demo` runs a whole simulated classroom: every emulated part shows up
live in /api/status, and the demo stops cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import free_port


def test_demo_shows_the_simulated_classroom(tmp_path: Path) -> None:
    port = free_port()
    log = open(tmp_path / "demo.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "demo", "--for", "150", "--data-dir",
         str(tmp_path / "data"), "--listen", f"127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    seen: dict[str, bool] = {}
    status: dict = {}
    try:
        deadline = time.monotonic() + 140
        while time.monotonic() < deadline and not all(seen.get(k) for k in (
                "panel", "camera", "tablets", "lesson")):
            assert proc.poll() is None, (tmp_path / "demo.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as r:
                    status = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
                continue
            kinds = {d["kind"]: d["status"] for d in status.get("devices", [])}
            seen["panel"] = kinds.get("panel") == "online"
            seen["camera"] = kinds.get("camera") == "online"
            seen["tablets"] = (status.get("tablets") or {}).get("connected", 0) > 0
            seen["lesson"] = bool((status.get("lessons") or {}).get("current"))
            time.sleep(1)
        assert all(seen.values()) and len(seen) == 4, (seen, json.dumps(status)[:3000])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/panel", timeout=5) as r:
            assert r.status == 200
    finally:
        proc.terminate()
        rc = proc.wait(30)
        log.close()
    assert rc == 0, (tmp_path / "demo.log").read_text()[-3000:]
