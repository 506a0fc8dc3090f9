"""Which tablet message ids were already counted, so a replay never counts twice.

The rule (also in docs/tablet-protocol.md):

- The key is ``(device_id, message id)``. A tablet must never reuse an id within a day.
- Every id is *claimed* before its message is processed and marked *done* after; an id
  that is done is acknowledged again (``duplicate: true``) and not processed.
- Ids are kept in SQLite (``seen`` table) for ``keep_days`` days (default 2, local day of
  the agent's site), so a tablet that resends after a reconnect, or after the agent
  restarted, is still recognised. Older rows are pruned on open and when the day changes.
- A claim left ``pending`` by a crash (claimed, not done) is processed again on replay:
  the agent prefers counting twice in that narrow window over losing the message; the
  published events carry ``device_id`` + ``message_id`` so consumers can dedupe too.
- A bounded in-memory LRU of recent done ids (``memory_max``) answers most replays
  without touching SQLite.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, Protocol


class Store(Protocol):
    """What the seen-ids need of a database: a writer that runs work on a connection (the
    agent gives its group-commit writer; see agent/runtime/sqlite.py)."""

    def add_schema(self, sql: str) -> None: ...
    async def call(self, fn: Callable[[sqlite3.Connection], Any]) -> Any: ...
    def submit(self, fn: Callable[[sqlite3.Connection], Any]) -> None: ...


SCHEMA = """
CREATE TABLE IF NOT EXISTS seen (
    device_id TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    day TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, msg_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_day ON seen(day);
"""

NEW = "new"
DUPLICATE = "duplicate"
BUSY = "busy"


class SeenStore:
    def __init__(
        self,
        db: Store,
        today: Callable[[], date],
        keep_days: int = 2,
        memory_max: int = 50_000,
    ) -> None:
        self.db = db
        self._today = today
        self.keep_days = max(1, keep_days)
        self._memory: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._memory_max = memory_max
        self._inflight: dict[tuple[str, str], asyncio.Future[bool]] = {}
        self._day = today()
        db.add_schema(SCHEMA)

    async def prune(self) -> int:
        oldest = (self._today() - timedelta(days=self.keep_days - 1)).isoformat()

        def work(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM seen WHERE day < ?", (oldest,)).rowcount

        return await self.db.call(work)

    async def claim(self, device_id: str, msg_id: str, wait_s: float = 5.0) -> str:
        """NEW (process it, then ``done``/``release``), DUPLICATE (ack, don't process) or
        BUSY (the same id is still in flight on another connection after ``wait_s``)."""
        key = (device_id, msg_id)
        if key in self._memory:
            self._memory.move_to_end(key)
            return DUPLICATE
        pending = self._inflight.get(key)
        if pending is not None:
            # the same message is being processed for an older connection of this tablet
            # (it reconnected and resent): wait for that outcome instead of refusing
            try:
                async with asyncio.timeout(wait_s):
                    processed = await asyncio.shield(pending)
            except TimeoutError:
                return BUSY
            return DUPLICATE if processed else await self.claim(device_id, msg_id, wait_s)
        self._inflight[key] = asyncio.get_running_loop().create_future()
        today = self._today()
        if today != self._day:
            self._day = today
            self.db.submit(self._prune_work(today))
        day = today.isoformat()

        def work(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "INSERT OR IGNORE INTO seen(device_id, msg_id, day) VALUES (?, ?, ?)",
                (device_id, msg_id, day),
            )
            if cur.rowcount == 1:
                return True
            row = conn.execute(
                "SELECT done FROM seen WHERE device_id = ? AND msg_id = ?", (device_id, msg_id)
            ).fetchone()
            return not (row and row[0])  # pending from a crashed run: process again

        try:
            is_new = await self.db.call(work)
        except BaseException:
            self._settle(key, False)
            raise
        if not is_new:
            self._settle(key, True)
            self._remember(key)
            return DUPLICATE
        return NEW

    def done(self, device_id: str, msg_id: str) -> None:
        key = (device_id, msg_id)
        self._remember(key)
        self._settle(key, True)
        self.db.submit(
            lambda c: c.execute(
                "UPDATE seen SET done = 1 WHERE device_id = ? AND msg_id = ?", (device_id, msg_id)
            )
        )

    def release(self, device_id: str, msg_id: str) -> None:
        """Processing failed or was refused: forget the claim so a resend is processed."""
        self._settle((device_id, msg_id), False)
        self.db.submit(
            lambda c: c.execute(
                "DELETE FROM seen WHERE device_id = ? AND msg_id = ? AND done = 0",
                (device_id, msg_id),
            )
        )

    def abandon(self, device_id: str, msg_id: str) -> None:
        """Processing was cancelled midway (shutdown): outcome unknown. The claim stays
        pending in SQLite, so a replay is processed again (as after a crash)."""
        self._settle((device_id, msg_id), False)

    def _settle(self, key: tuple[str, str], processed: bool) -> None:
        fut = self._inflight.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(processed)

    def _remember(self, key: tuple[str, str]) -> None:
        self._memory[key] = None
        if len(self._memory) > self._memory_max:
            self._memory.popitem(last=False)

    def _prune_work(self, today: date):
        oldest = (today - timedelta(days=self.keep_days - 1)).isoformat()
        return lambda c: c.execute("DELETE FROM seen WHERE day < ?", (oldest,))
