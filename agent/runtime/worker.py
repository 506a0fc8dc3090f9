"""A daemon thread with an owner: blocking work (a camera, a pipe to ffmpeg) runs in
``_run`` until ``request_stop``; the owner starts it and joins it at shutdown."""

from __future__ import annotations

import threading


class ThreadWorker:
    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """True when the thread has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()
