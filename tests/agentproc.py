"""Run ``classroom-agent run`` as a real subprocess (for SIGKILL / SIGTERM / systemd tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.helpers import process


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def write_toml(path: Path, data: dict[str, dict[str, Any]]) -> Path:
    """Tables of scalars/lists/inline tables: enough for test configs."""
    lines = []
    for section, values in data.items():
        if isinstance(values, list):  # array of tables
            for entry in values:
                lines.append(f"[[{section}]]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in entry.items()]
            continue
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class AgentProcess:
    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = config.with_suffix(".log")

    def start(self) -> AgentProcess:
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "-c", str(self.config)],
            stdout=out, stderr=out, env=self.env,
        )
        return self

    def wait_http(self, url: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc and self.proc.poll() is None, self.output()
            try:
                with urllib.request.urlopen(url, timeout=1) as r:
                    return json.loads(r.read())
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"{url} not up; log:\n{self.output()}")

    def kill(self) -> None:
        process.kill(self.proc)

    def terminate(self, timeout: float = 15.0) -> int:
        assert self.proc
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # say why it hung: the agent's own log names the service that did not stop
            raise AssertionError(f"agent still running {timeout} s after SIGTERM:\n"
                                 + self.output()[-6000:]) from None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> AgentProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
