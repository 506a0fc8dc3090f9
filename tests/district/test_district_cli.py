"""The console script end to end: simulate into a real broker, run the collector, report
in every format, check; and the systemd unit's shape."""

from __future__ import annotations

import configparser
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "classroom-district.service"


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "district", *args], cwd=ROOT,
                          capture_output=True, timeout=120, **kw)


def test_simulate_run_report_check(mosquitto, tmp_path) -> None:
    conf = tmp_path / "d.toml"
    conf.write_text(
        f'[mqtt]\nurl = "{mosquitto.url}"\nclient_id = "cli"\n'
        f'[storage]\nurl = "sqlite:///{tmp_path}/d.sqlite"\n[web]\nlisten = ""\n'
        '[[terms]]\nname = "t"\nstart = "2026-09-01"\nend = "2027-01-22"\n')
    log = open(tmp_path / "run.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "district", "run", "-c", str(conf)],
                            cwd=ROOT, stdout=log, stderr=log,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 30
        while b"mqtt: subscribed" not in (tmp_path / "run.log").read_bytes():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        r = _cli("simulate", "--rooms", "6", "--schools", "2", "--days", "2",
                 "--start", "2026-09-07", "--mqtt", mosquitto.url, "--no-faults")
        assert r.returncode == 0, r.stderr
        assert b"published and acknowledged" in r.stderr
        deadline = time.monotonic() + 30
        while True:
            r = _cli("report", "-c", str(conf), "--term", "t", "--as-of", "2026-09-08")
            doc = json.loads(r.stdout)
            if all(x["lessons"] > 0 for x in doc["rooms"]) and len(doc["rooms"]) == 6:
                break
            assert time.monotonic() < deadline, doc
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    assert doc["district"]["schools"] == 2 and doc["term"]["school_weeks"] == 2
    r = _cli("report", "-c", str(conf), "--term", "t", "--format", "csv")
    assert r.returncode == 0 and "课时达标率 class_hour_rate" in r.stdout.decode("utf-8-sig")
    out = tmp_path / "r.xlsx"
    r = _cli("report", "-c", str(conf), "--term", "t", "--format", "xlsx", "--out", str(out))
    assert r.returncode == 0 and out.read_bytes()[:2] == b"PK"
    r = _cli("report", "-c", str(conf), "--term", "nope")
    assert r.returncode == 2 and b"no term named 'nope'" in r.stderr
    r = _cli("check", "-c", str(conf))
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[mqtt]\nshare_group = 3\n')
    r = _cli("check", "-c", str(bad))
    assert r.returncode == 2 and b"mqtt.share_group: expected str, got 3" in r.stderr


def test_unit_runs_the_collector_hardened() -> None:
    p = configparser.ConfigParser(strict=False, interpolation=None)
    p.optionxform = str
    p.read_string(UNIT.read_text())
    s = p["Service"]
    assert " run -c " in s["ExecStart"] and "classroom-district" in s["ExecStart"]
    assert s["Restart"] == "on-failure" and s["User"] == "classroom-district"
    assert s["ProtectSystem"] == "strict" and "/var/lib/classroom-district" in s["ReadWritePaths"]
