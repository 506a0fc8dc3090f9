"""The recent-errors ring buffer behind the status page, and the hash-password CLI."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading

from agent.runtime.errorlog import ErrorRing
from agent.web.credentials import verify_password


def test_ring_keeps_newest_warnings_first() -> None:
    ring = ErrorRing(maxlen=3)
    log = logging.getLogger("test.errorlog")
    log.addHandler(ring)
    log.propagate = False
    try:
        log.info("ignored")
        for i in range(5):
            log.warning("w%d", i)
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed")
        log.error("bad %s %s", "args")  # a broken format string is still recorded
    finally:
        log.removeHandler(ring)
        log.propagate = True
    recent = ring.recent()
    assert [r["level"] for r in recent] == ["ERROR", "ERROR", "WARNING"]
    assert recent[1]["message"] == "failed: ValueError: boom"
    assert recent[0]["message"].startswith("bad")
    assert recent[2]["message"] == "w4" and recent[2]["logger"] == "test.errorlog"
    assert ring.total == 7


def test_ring_from_threads() -> None:
    ring = ErrorRing(maxlen=1000)
    log = logging.getLogger("test.errorlog.threads")
    log.addHandler(ring)
    log.propagate = False
    try:
        threads = [threading.Thread(target=lambda: [log.warning("x") for _ in range(200)])
                   for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        log.removeHandler(ring)
        log.propagate = True
    assert ring.total == 800 and len(ring.recent(1000)) == 800


def test_hash_password_cli() -> None:
    r = subprocess.run([sys.executable, "-m", "agent", "hash-password", "--stdin",
                        "--iterations", "1000"], input="classroom-pass\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    h = r.stdout.strip()
    assert verify_password("classroom-pass", h)
    r = subprocess.run([sys.executable, "-m", "agent", "hash-password", "--stdin"],
                       input="short\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "too short" in r.stderr
