"""Polls a running `scripts/demo` until its status shows a whole classroom: a current
lesson, the panel and camera online, and people counted by the engagement pipeline.
Exit 0 when seen; 1 when the demo exits first or 15 minutes pass (set-up included)."""

import json
import os
import sys
import time
import urllib.request


def missing(status: dict) -> list[str]:
    devices = {d.get("kind"): d.get("status") for d in status.get("devices", [])}
    eng = status.get("engagement") or {}
    people = max(eng.get("people") or 0, eng.get("faces") or 0)
    want = {
        "a current lesson": bool(status.get("lesson")),
        "the panel online": devices.get("panel") == "online",
        "a camera online": devices.get("camera") == "online",
        "people counted": people > 0,
    }
    return [k for k, ok in want.items() if not ok]


def main(url: str, pid: int) -> int:
    deadline = time.monotonic() + 900
    last: list[str] = ["the status page"]
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            print(f"demo_seen: the demo exited before showing {', '.join(last)}",
                  file=sys.stderr)
            return 1
        try:
            with urllib.request.urlopen(url + "/api/status", timeout=5) as r:
                last = missing(json.load(r))
            if not last:
                print("demo_seen: lesson, panel, camera and people all shown")
                return 0
        except OSError:
            pass  # still installing or starting
        time.sleep(2)
    print(f"demo_seen: after 15 min the demo still lacks {', '.join(last)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
