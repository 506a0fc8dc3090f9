"""systemd notify protocol (sd_notify) without libsystemd."""

from __future__ import annotations

import os
import socket


class Notifier:
    """Sends READY/WATCHDOG/STATUS datagrams when run under systemd (NOTIFY_SOCKET set)."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ) if env is None else env
        addr = env.get("NOTIFY_SOCKET", "")
        self._addr = "\0" + addr[1:] if addr.startswith("@") else addr
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        watchdog = usec.isdigit() and (not pid or pid == str(os.getpid()))
        # systemd asks for a ping at least every WATCHDOG_USEC; send at half of it
        self.watchdog_interval_s = int(usec) / 2e6 if watchdog else None

    @property
    def enabled(self) -> bool:
        return bool(self._addr)

    def notify(self, *fields: str) -> bool:
        if not self._addr:
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            try:
                s.sendto("\n".join(fields).encode(), self._addr)
            except OSError:
                return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, status: str) -> bool:
        return self.notify(f"STATUS={status}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")
