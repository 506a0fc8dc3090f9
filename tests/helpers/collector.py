"""A `classroom-district run` child process on a config the caller writes: started,
waited for until it has subscribed, killed or stopped (tests and the district benches)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import process

ROOT = Path(__file__).resolve().parents[2]


def collector_toml(broker_url: str, client_id: str, tmp: Path) -> str:
    """The smallest collector config: this broker, SQLite in ``tmp``, no web server."""
    return (f'[mqtt]\nurl = "{broker_url}"\nclient_id = "{client_id}"\n'
            f'[storage]\nurl = "sqlite:///{tmp}/d.sqlite"\n[web]\nlisten = ""\n')


class CollectorProc:
    def __init__(self, tmp: Path, name: str, config_toml: str) -> None:
        self.name = name
        self.conf = tmp / f"{name}.toml"
        self.log = tmp / f"{name}.log"
        self.conf.write_text(config_toml)
        self.proc: subprocess.Popen[bytes] | None = None
        self.mark = 0

    def start(self) -> None:
        self.mark = self.log.stat().st_size if self.log.exists() else 0
        log = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "district", "run", "-c",
                                      str(self.conf)], stdout=log, stderr=log, cwd=ROOT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def wait_subscribed(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while b"mqtt: subscribed" not in self.log.read_bytes()[self.mark:]:
            assert self.proc is not None and self.proc.poll() is None, \
                self.log.read_text()[-2000:]
            if time.monotonic() > deadline:
                raise TimeoutError(self.log.read_text()[-2000:])
            time.sleep(0.05)

    def kill(self) -> None:
        process.kill(self.proc)

    def stop(self) -> None:
        process.stop(self.proc, timeout=15)
