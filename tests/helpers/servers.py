"""A test server (RTSP camera, nginx-rtmp, ...) running for the length of a `with` block:
started, and always killed afterwards, whatever the test did."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Protocol, TypeVar


class _Server(Protocol):
    def start(self) -> None: ...
    def kill(self) -> None: ...


S = TypeVar("S", bound=_Server)


@contextlib.contextmanager
def running(server: S) -> Iterator[S]:
    server.start()
    try:
        yield server
    finally:
        server.kill()
