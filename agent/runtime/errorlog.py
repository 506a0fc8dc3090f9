"""Recent problems for the status page: a ring buffer of WARNING+ log records.

IT staff walking into a room should see what went wrong lately without a shell. The
handler is installed on the root logger when the agent starts (first service) and removed
when it stops; ``status()`` puts the newest records under ``errors`` in /api/status.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import UTC, datetime
from typing import Any

from agent.runtime.service import AgentContext, Service

MAX_RECORDS = 50
MAX_MESSAGE_CHARS = 500


class ErrorRing(logging.Handler):
    """Keeps the last ``maxlen`` records at ``level`` or above. Thread-safe: records come
    from worker threads too (recording, inference)."""

    def __init__(self, maxlen: int = MAX_RECORDS, level: int = logging.WARNING) -> None:
        super().__init__(level)
        self._items: deque[dict[str, Any]] = deque(maxlen=maxlen)
        self._guard = threading.Lock()
        self.total = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string must not lose the record entirely
            msg = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            msg = f"{msg}: {type(exc).__name__}: {exc}"
        item = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": msg[:MAX_MESSAGE_CHARS],
        }
        with self._guard:
            self._items.append(item)
            self.total += 1

    def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first."""
        with self._guard:
            items = list(self._items)
        return items[::-1][:limit]


class ErrorLogService(Service):
    name = "errors"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        self.ring = ErrorRing()

    @classmethod
    def create(cls, ctx: AgentContext) -> ErrorLogService:
        return cls(ctx)

    async def start(self) -> None:
        logging.getLogger().addHandler(self.ring)

    async def stop(self) -> None:
        logging.getLogger().removeHandler(self.ring)

    def status(self) -> dict[str, Any]:
        return {"total": self.ring.total, "recent": self.ring.recent()}
