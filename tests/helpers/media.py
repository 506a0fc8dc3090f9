"""ffprobe on a live URL (RTSP by TCP, RTMP, a file): what a recording or push carries."""

from __future__ import annotations

import json
import subprocess
from typing import Any


def ffprobe_url(url: str) -> dict[str, Any]:
    out = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-print_format",
                          "json", "-show_streams", url], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result
