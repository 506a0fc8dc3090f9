"""Real streaming servers for the live tests: nginx with the RTMP module (Debian
``nginx-light`` + ``libnginx-mod-rtmp``) recording what it receives as FLV, and an SRT
listener (Debian ``srt-tools``: ``srt-live-transmit``) writing what it receives to a file.
Both run in a temp dir on a free loopback port; ``kill()``/``start()`` make an outage."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from tests.conftest import free_port
from tests.helpers import process

RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"


def have_nginx_rtmp() -> bool:
    return shutil.which("nginx") is not None and Path(RTMP_MODULE).exists()


def have_srt() -> bool:
    return shutil.which("srt-live-transmit") is not None


class NginxRtmp:
    """``application live`` records every stream to ``record/``; ``application closed``
    refuses every publisher (a stream key the server does not take)."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.record = root / "record"
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, key: str = "lesson", app: str = "live") -> str:
        return f"rtmp://127.0.0.1:{self.port}/{app}/{key}"

    def start(self, timeout: float = 10.0) -> None:
        self.record.mkdir(parents=True, exist_ok=True)
        conf = self.root / "nginx.conf"
        # runs as whoever runs the tests; as root the worker needs "user root;" to write
        # the record dir (nginx drops to nobody otherwise)
        user = "user root;" if os.geteuid() == 0 else ""
        conf.write_text(f"""
load_module {RTMP_MODULE};
daemon off;
master_process off;
{user}
pid {self.root}/nginx.pid;
error_log {self.root}/error.log info;
events {{ worker_connections 64; }}
rtmp {{
  server {{
    listen 127.0.0.1:{self.port};
    application live {{ live on; record all; record_path {self.record}; record_unique on; }}
    application closed {{ live on; deny publish all; }}
  }}
}}
""")
        self.proc = subprocess.Popen(
            ["nginx", "-c", str(conf), "-p", str(self.root), "-e", str(self.root / "error.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        _wait_tcp(self.port, timeout, self.proc)

    def kill(self) -> None:
        process.kill(self.proc)

    def stop(self) -> None:
        """Graceful: nginx finishes the FLV files it records."""
        process.stop(self.proc, signal.SIGQUIT, 10)

    def recordings(self) -> list[Path]:
        return sorted(self.record.glob("*.flv"), key=lambda p: p.stat().st_mtime)


class SrtListener:
    """``srt-live-transmit`` listening on a free UDP port, writing the MPEG-TS it
    receives to ``out.ts``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_udp_port()
        self.out = root / "srt-received.ts"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"srt://127.0.0.1:{self.port}?mode=caller"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.out, "wb")
        self.proc = subprocess.Popen(
            ["srt-live-transmit", f"srt://127.0.0.1:{self.port}?mode=listener", "file://con"],
            stdout=self._fh, stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)  # UDP: nothing to poll for; it binds at once
        if self.proc.poll() is not None:
            raise RuntimeError("srt-live-transmit did not start")

    def stop(self) -> None:
        process.stop(self.proc, signal.SIGINT, 10)
        if getattr(self, "_fh", None):
            self._fh.close()


class SilentServer:
    """Takes TCP connections and never reads or answers: a streaming server that hangs
    (the RTMP handshake waits forever). ``close()`` drops every connection."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self.conns.append(c)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_tcp(port: int, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")
