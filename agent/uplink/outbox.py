"""The durable outbox: every message bound for the district, stored in SQLite (WAL) before
its producer moves on, deleted only after the broker's PUBACK.

One writer thread owns the connection (agent.runtime.sqlite). Producers' puts that arrive
together are written in one transaction (group commit), so durability costs one fsync per
batch, not per message.
Order is the row id: FIFO overall, hence FIFO per topic. Each topic has a persistent
sequence counter that goes into the envelope. The store is bounded in bytes: when full,
the lowest-priority oldest rows go first and every drop is counted (persistently).

Retained state (``devices/{id}``) is kept apart: only the latest value per topic, marked
dirty until the broker has acknowledged it, and all re-sent after every reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from agent.runtime.sqlite import GroupCommitWriter
from agent.uplink.envelope import SCHEMA_VERSION, Envelope, encode, uuid7

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    priority INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_prio ON messages(priority, id);
CREATE TABLE IF NOT EXISTS seqs (topic TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS retained (
    topic TEXT PRIMARY KEY,
    payload BLOB NOT NULL,
    msg_id TEXT NOT NULL,
    dirty INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dropped (priority INTEGER PRIMARY KEY, n INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Row:
    id: int
    topic: str
    payload: bytes


@dataclass(frozen=True)
class Item:
    """One message to store: sub-topic, envelope type, event time, data (JSON-able)."""

    topic: str
    type: str
    ts: datetime
    data: Any
    priority: int
    retained: bool = False
    msg_id: str | None = None  # the record's own envelope id (see topics.Route.key); else new


class Outbox:
    def __init__(
        self,
        path: Path,
        school: str,
        room: str,
        max_bytes: int = 256 * 1024 * 1024,
        synchronous: str = "FULL",
        batch_max: int = 500,
    ) -> None:
        self.path = path
        self.school = school
        self.room = room
        self.max_bytes = max_bytes
        self.batch_max = batch_max
        # an undone write was already counted in the mirrors: re-read them from disk
        self._writer = GroupCommitWriter(path, SCHEMA, synchronous=synchronous, name="outbox",
                                         batch_max=batch_max, on_rollback=self._reload_mirrors)
        self._new = asyncio.Event()
        # Mirrors of what is on disk, kept by the writer thread, read from the loop.
        self.depth = 0
        self.bytes = 0
        self.dropped: dict[int, int] = {}
        # since-start tallies, counted on the loop once a write is committed (a rolled-back
        # batch must not count)
        self.enqueued = 0
        self.sent = 0
        self.oldest_created: float | None = None
        self._seq: dict[str, int] = {}

    @property
    def recovered_from(self) -> str:
        """Set when a damaged file was moved aside at open."""
        return self._writer.recovered_from

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        await self._writer.open()
        try:
            await self._call(self._reload_mirrors)
        except BaseException:
            await self._writer.close()
            raise

    async def close(self) -> None:
        await self._writer.close()

    # ------------------------------------------------------------------ producer side

    async def put(self, item: Item) -> None:
        """Store one message; returns once it is committed to disk."""
        await self.put_many([item])

    async def put_many(self, items: list[Item]) -> None:
        stored = await self._call(self._put_many, items)
        self.enqueued += stored  # not `+= await`: that reads the tally before awaiting
        self._new.set()

    # ------------------------------------------------------------------ uplink side

    async def fetch(self, after_id: int, limit: int) -> list[Row]:
        return await self._call(self._fetch, after_id, limit)

    async def ack(self, ids: list[int]) -> None:
        if ids:
            await self._call(self._ack, ids)
            self.sent += len(ids)

    async def dirty_retained(self) -> list[tuple[str, bytes, str]]:
        return await self._call(self._dirty_retained)

    async def ack_retained(self, topic: str, msg_id: str) -> None:
        await self._call(self._ack_retained, topic, msg_id)
        self.sent += 1

    async def mark_retained_dirty(self) -> None:
        await self._call(self._mark_retained_dirty)
        self._new.set()

    async def wait_new(self, timeout: float) -> None:
        """Wait until something was put since the last call (or the timeout)."""
        try:
            async with asyncio.timeout(timeout):
                await self._new.wait()
        except TimeoutError:
            pass
        self._new.clear()

    def oldest_age_s(self) -> float:
        created = self.oldest_created
        return max(0.0, time.time() - created) if created else 0.0

    def envelope(self, item: Item, seq: int) -> Envelope:
        return Envelope(
            v=SCHEMA_VERSION, id=item.msg_id or uuid7(), seq=seq, ts=item.ts, school=self.school,
            room=self.room, type=item.type, data=item.data,
        )

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        result: T = await self._writer.call(lambda db: fn(db, *args))
        return result

    # ------------------------------------------------------------------ on the writer thread

    def _reload_mirrors(self, db: sqlite3.Connection) -> None:
        self.depth, self.bytes = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM messages"
        ).fetchone()
        self.dropped = dict(db.execute("SELECT priority, n FROM dropped").fetchall())
        self._seq = dict(db.execute("SELECT topic, seq FROM seqs").fetchall())
        self._refresh_oldest(db)

    def _put_many(self, db: sqlite3.Connection, items: list[Item]) -> int:
        now = time.time()
        stored = 0
        for item in items:
            seq = self._seq.get(item.topic, 0) + 1
            env = self.envelope(item, seq)
            payload = encode(env)
            if item.retained:
                db.execute(
                    "INSERT INTO retained(topic, payload, msg_id, dirty) VALUES (?,?,?,1) "
                    "ON CONFLICT(topic) DO UPDATE SET payload=excluded.payload, "
                    "msg_id=excluded.msg_id, dirty=1",
                    (item.topic, payload, env.id),
                )
            else:
                if not self._make_room(db, len(payload), item.priority):
                    self._count_drop(db, item.priority, 1)
                    continue
                db.execute(
                    "INSERT INTO messages(topic, payload, priority, created) VALUES (?,?,?,?)",
                    (item.topic, payload, item.priority, now),
                )
                self.depth += 1
                self.bytes += len(payload)
                if self.oldest_created is None:
                    self.oldest_created = now
            db.execute(
                "INSERT INTO seqs(topic, seq) VALUES (?, ?) "
                "ON CONFLICT(topic) DO UPDATE SET seq=excluded.seq",
                (item.topic, seq),
            )
            self._seq[item.topic] = seq
            stored += 1
        return stored

    def _make_room(self, db: sqlite3.Connection, size: int, priority: int) -> bool:
        """Drop lowest-priority, oldest rows (never above ``priority``) until ``size`` fits."""
        while self.bytes + size > self.max_bytes:
            victims = db.execute(
                "SELECT id, priority, LENGTH(payload) FROM messages WHERE priority <= ? "
                "ORDER BY priority, id LIMIT 200",
                (priority,),
            ).fetchall()
            if not victims:
                return False
            freed = 0
            ids = []
            for vid, vprio, vsize in victims:
                ids.append(vid)
                freed += vsize
                self._count_drop(db, vprio, 1)
                if self.bytes - freed + size <= self.max_bytes:
                    break
            db.executemany("DELETE FROM messages WHERE id=?", [(i,) for i in ids])
            self.depth -= len(ids)
            self.bytes -= freed
            self._refresh_oldest(db)
        return True

    def _count_drop(self, db: sqlite3.Connection, priority: int, n: int) -> None:
        self.dropped[priority] = self.dropped.get(priority, 0) + n
        db.execute(
            "INSERT INTO dropped(priority, n) VALUES (?, ?) "
            "ON CONFLICT(priority) DO UPDATE SET n = n + excluded.n",
            (priority, n),
        )

    def _fetch(self, db: sqlite3.Connection, after_id: int, limit: int) -> list[Row]:
        rows = db.execute(
            "SELECT id, topic, payload FROM messages WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        ).fetchall()
        return [Row(*r) for r in rows]

    def _ack(self, db: sqlite3.Connection, ids: list[int]) -> None:
        gone = 0
        size = 0
        for i in ids:
            r = db.execute("DELETE FROM messages WHERE id=? RETURNING LENGTH(payload)", (i,))
            hit = r.fetchone()
            if hit:
                gone += 1
                size += hit[0]
        self.depth -= gone
        self.bytes -= size
        self._refresh_oldest(db)

    def _dirty_retained(self, db: sqlite3.Connection) -> list[tuple[str, bytes, str]]:
        return db.execute(
            "SELECT topic, payload, msg_id FROM retained WHERE dirty=1 ORDER BY topic"
        ).fetchall()

    def _ack_retained(self, db: sqlite3.Connection, topic: str, msg_id: str) -> None:
        db.execute(
            "UPDATE retained SET dirty=0 WHERE topic=? AND msg_id=?", (topic, msg_id)
        )

    def _mark_retained_dirty(self, db: sqlite3.Connection) -> None:
        db.execute("UPDATE retained SET dirty=1")

    def _refresh_oldest(self, db: sqlite3.Connection) -> None:
        row = db.execute("SELECT created FROM messages ORDER BY id LIMIT 1").fetchone()
        self.oldest_created = row[0] if row else None


def to_data(event: msgspec.Struct) -> dict[str, Any]:
    """An event's fields for the envelope's ``data`` (its ``ts`` is the envelope's)."""
    data: dict[str, Any] = msgspec.to_builtins(event)
    data.pop("ts", None)
    return data
