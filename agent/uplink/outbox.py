"""The durable outbox: every message bound for the district, stored in SQLite (WAL) before
its producer moves on, deleted only after the broker's PUBACK.

One writer thread owns the connection. Producers' puts that arrive together are written in
one transaction (group commit), so durability costs one fsync per batch, not per message.
Order is the row id: FIFO overall, hence FIFO per topic. Each topic has a persistent
sequence counter that goes into the envelope. The store is bounded in bytes: when full,
the lowest-priority oldest rows go first and every drop is counted (persistently).

Retained state (``devices/{id}``) is kept apart: only the latest value per topic, marked
dirty until the broker has acknowledged it, and all re-sent after every reconnect.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec

from agent.runtime.sqlite import open_store
from agent.uplink.envelope import SCHEMA_VERSION, Envelope, encode, uuid7

log = logging.getLogger(__name__)

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


class OutboxClosed(RuntimeError):
    pass


class _TransactionLost(Exception):
    def __init__(self, error: sqlite3.Error) -> None:
        super().__init__(str(error))
        self.error = error


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
        self.synchronous = synchronous
        self.batch_max = batch_max
        self._ops: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], cf.Future]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._new = asyncio.Event()
        self._closed = False
        # Mirrors of what is on disk, kept by the writer thread, read from the loop.
        self.depth = 0
        self.bytes = 0
        self.dropped: dict[int, int] = {}
        self.enqueued = 0
        self.sent = 0
        self.oldest_created: float | None = None
        self.recovered_from = ""  # set when a damaged file was moved aside at open
        self._seq: dict[str, int] = {}

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._writer, name="outbox-writer", daemon=True)
        self._thread.start()
        try:
            await self._call(self._open_db)
        except BaseException:
            self._ops.put((None, (), cf.Future()))  # type: ignore[arg-type]
            await asyncio.to_thread(self._thread.join, 10)
            raise

    async def close(self) -> None:
        if self._closed or self._thread is None:
            return
        await self._call(self._close_db)
        self._closed = True
        self._ops.put((None, (), cf.Future()))  # type: ignore[arg-type]
        await asyncio.to_thread(self._thread.join, 10)

    # ------------------------------------------------------------------ producer side

    async def put(self, item: Item) -> None:
        """Store one message; returns once it is committed to disk."""
        await self._call(self._put_many, [item])
        self._new.set()

    async def put_many(self, items: list[Item]) -> None:
        await self._call(self._put_many, items)
        self._new.set()

    # ------------------------------------------------------------------ uplink side

    async def fetch(self, after_id: int, limit: int) -> list[Row]:
        return await self._call(self._fetch, after_id, limit)

    async def ack(self, ids: list[int]) -> None:
        if ids:
            await self._call(self._ack, ids)

    async def dirty_retained(self) -> list[tuple[str, bytes, str]]:
        return await self._call(self._dirty_retained)

    async def ack_retained(self, topic: str, msg_id: str) -> None:
        await self._call(self._ack_retained, topic, msg_id)

    async def mark_retained_dirty(self) -> None:
        await self._call(self._mark_retained_dirty)
        self._new.set()

    async def wait_new(self, timeout: float) -> None:
        """Wait until something was put since the last call (or the timeout)."""
        try:
            await asyncio.wait_for(self._new.wait(), timeout)
        except TimeoutError:
            pass
        self._new.clear()

    def oldest_age_s(self) -> float:
        created = self.oldest_created
        return max(0.0, time.time() - created) if created else 0.0

    def envelope(self, item: Item, seq: int) -> Envelope:
        return Envelope(
            v=SCHEMA_VERSION, id=uuid7(), seq=seq, ts=item.ts, school=self.school,
            room=self.room, type=item.type, data=item.data,
        )

    # ------------------------------------------------------------------ thread plumbing

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._closed:
            raise OutboxClosed("outbox is closed")
        fut: cf.Future = cf.Future()
        self._ops.put((fn, args, fut))
        # shielded: a cancelled caller must not cancel the write under the writer thread
        return await asyncio.shield(asyncio.wrap_future(fut))

    def _writer(self) -> None:
        while True:
            batch = [self._ops.get()]
            while len(batch) < self.batch_max:
                try:
                    batch.append(self._ops.get_nowait())
                except queue.Empty:
                    break
            stop = False
            done: list[tuple[cf.Future, Any, BaseException | None]] = []
            for fn, args, fut in batch:
                if fn is None:
                    stop = True
                    continue
                try:
                    done.append((fut, self._run_op(fn, args), None))
                except _TransactionLost as lost:
                    # SQLite rolled the whole transaction back (disk full, I/O error):
                    # nothing this batch wrote so far is on disk, so nobody may hear "done"
                    done = [(f, None, lost.error) for f, _, _ in done]
                    done.append((fut, None, lost.error))
                except BaseException as e:  # this operation only; its savepoint is undone
                    done.append((fut, None, e))
            try:
                if self._db is not None and self._db.in_transaction:
                    self._db.commit()
            except sqlite3.Error as e:
                log.exception("outbox commit failed")
                self._abandon()
                done = [(f, None, e) for f, _, _ in done]
            for fut, value, err in done:
                if fut.cancelled():
                    continue
                if err is None:
                    fut.set_result(value)
                else:
                    fut.set_exception(err)
            if stop:
                return

    def _run_op(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """One operation inside the batch's transaction, under its own savepoint so a
        failure undoes exactly its own writes (a put_many is all or nothing)."""
        db = self._db
        if db is None:  # opening (or closed): no transaction to join
            return fn(*args)
        if not db.in_transaction:
            db.execute("BEGIN IMMEDIATE")
        db.execute("SAVEPOINT op")
        try:
            value = fn(*args)
        except BaseException as e:
            if self._db is db and db.in_transaction:
                db.execute("ROLLBACK TO op")
                db.execute("RELEASE op")
                self._reload_mirrors()  # the in-memory mirrors counted the undone writes
                raise
            self._abandon()
            if isinstance(e, sqlite3.Error):
                raise _TransactionLost(e) from e
            raise
        if self._db is db and db.in_transaction:
            db.execute("RELEASE op")
        return value

    def _abandon(self) -> None:
        """After a failed transaction: roll back what is left, re-read what is on disk."""
        if self._db is None:
            return
        try:
            if self._db.in_transaction:
                self._db.rollback()
            self._reload_mirrors()
        except sqlite3.Error:
            log.exception("outbox: cannot re-read its state after a failed write")

    # ------------------------------------------------------------------ on the writer thread

    def _open_db(self) -> None:
        self._db, self.recovered_from = open_store(self.path, SCHEMA, self.synchronous)
        self._reload_mirrors()

    def _reload_mirrors(self) -> None:
        db = self._db
        assert db is not None
        self.depth, self.bytes = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM messages"
        ).fetchone()
        self.dropped = dict(db.execute("SELECT priority, n FROM dropped").fetchall())
        self._seq = dict(db.execute("SELECT topic, seq FROM seqs").fetchall())
        self._refresh_oldest()

    def _close_db(self) -> None:
        if self._db is not None:
            if self._db.in_transaction:
                self._db.commit()
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
            self._db = None

    def _put_many(self, items: list[Item]) -> None:
        db = self._db
        assert db is not None
        now = time.time()
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
                if not self._make_room(len(payload), item.priority):
                    self._count_drop(item.priority, 1)
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
            self.enqueued += 1

    def _make_room(self, size: int, priority: int) -> bool:
        """Drop lowest-priority, oldest rows (never above ``priority``) until ``size`` fits."""
        db = self._db
        assert db is not None
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
                self._count_drop(vprio, 1)
                if self.bytes - freed + size <= self.max_bytes:
                    break
            db.executemany("DELETE FROM messages WHERE id=?", [(i,) for i in ids])
            self.depth -= len(ids)
            self.bytes -= freed
            self._refresh_oldest()
        return True

    def _count_drop(self, priority: int, n: int) -> None:
        assert self._db is not None
        self.dropped[priority] = self.dropped.get(priority, 0) + n
        self._db.execute(
            "INSERT INTO dropped(priority, n) VALUES (?, ?) "
            "ON CONFLICT(priority) DO UPDATE SET n = n + excluded.n",
            (priority, n),
        )

    def _fetch(self, after_id: int, limit: int) -> list[Row]:
        assert self._db is not None
        rows = self._db.execute(
            "SELECT id, topic, payload FROM messages WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        ).fetchall()
        return [Row(*r) for r in rows]

    def _ack(self, ids: list[int]) -> None:
        db = self._db
        assert db is not None
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
        self.sent += len(ids)
        self._refresh_oldest()

    def _dirty_retained(self) -> list[tuple[str, bytes, str]]:
        assert self._db is not None
        return self._db.execute(
            "SELECT topic, payload, msg_id FROM retained WHERE dirty=1 ORDER BY topic"
        ).fetchall()

    def _ack_retained(self, topic: str, msg_id: str) -> None:
        assert self._db is not None
        self._db.execute(
            "UPDATE retained SET dirty=0 WHERE topic=? AND msg_id=?", (topic, msg_id)
        )
        self.sent += 1

    def _mark_retained_dirty(self) -> None:
        assert self._db is not None
        self._db.execute("UPDATE retained SET dirty=1")

    def _refresh_oldest(self) -> None:
        assert self._db is not None
        row = self._db.execute("SELECT created FROM messages ORDER BY id LIMIT 1").fetchone()
        self.oldest_created = row[0] if row else None


def to_data(event: msgspec.Struct) -> dict[str, Any]:
    """An event's fields for the envelope's ``data`` (its ``ts`` is the envelope's)."""
    data = msgspec.to_builtins(event)
    data.pop("ts", None)
    return data
