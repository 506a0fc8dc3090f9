"""Ending the child processes tests start (brokers, servers, agents): SIGKILL for an
outage, a signal and a grace period for a clean stop. A child that has already ended is
left alone."""

from __future__ import annotations

import signal
import subprocess
from typing import Any


def kill(proc: subprocess.Popen[Any] | None) -> None:
    """SIGKILL a child that is still running, and reap it."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def stop(proc: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM,
         timeout: float = 5.0) -> None:
    """Ask a running child to end with ``sig``; SIGKILL it after ``timeout`` seconds."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill(proc)
