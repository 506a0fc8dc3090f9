"""The agent's SQLite stores (outbox, lesson store, recording catalog, tablets): opened one
way, and written by one group-commit writer thread where writes are frequent.

WAL, the requested fsync level, the schema, an integrity check. A store whose file is
damaged must not keep the room from recording or reporting: the file (with its -wal and
-shm) is moved aside for the technician and an empty store is created; the caller is told
so it can report it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class _Damaged(Exception):
    pass


def _connect(path: Path, schema: str, synchronous: str) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.executescript(schema)
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise _Damaged(f"integrity check: {check}")
    except sqlite3.DatabaseError as e:
        db.close()
        # only damage is set aside; a locked file, a full disk or an I/O error is raised:
        # starting empty then would throw away good data (the tablets' dedupe history)
        if (e.sqlite_errorcode or 0) & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
            raise _Damaged(str(e)) from e
        raise
    except BaseException:
        db.close()
        raise
    return db


def open_store(
    path: Path, schema: str, synchronous: str = "FULL"
) -> tuple[sqlite3.Connection, str]:
    """-> (connection, "" or what was set aside and why). Blocking: call from a thread
    or at start-up."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _connect(path, schema, synchronous), ""
    except _Damaged as e:
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            src = path.with_name(path.name + suffix)
            if src.exists():
                src.rename(aside.with_name(aside.name + suffix))
        log.error("%s is damaged (%s); moved to %s, starting empty", path, e, aside.name)
        return _connect(path, schema, synchronous), f"{aside.name}: {e}"


# ---------------------------------------------------------------------- the writer thread

Op = Callable[[sqlite3.Connection], Any]
Waiter = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"] | None  # None: fire-and-forget
Done = list[tuple[Waiter, Any, BaseException | None]]
_STOP = object()


class StoreClosed(RuntimeError):
    pass


class GroupCommitWriter:
    """One thread owns one SQLite connection; the event loop never touches SQLite.

    Operations queued together run in one transaction that is committed once (group
    commit: one fsync per batch, not per operation). Each runs under its own savepoint, so
    a failing operation undoes exactly its own writes and the others still commit; if SQLite
    loses the whole transaction, every operation of the batch fails, so nobody hears "done"
    for a write that is not on disk. ``call`` awaits an operation's result; ``submit`` is
    fire-and-forget (still in order, failures logged).
    """

    def __init__(
        self,
        path: Path | str,
        schema: str = "",
        *,
        synchronous: str = "FULL",
        name: str = "sqlite",
        batch_max: int = 500,
        on_rollback: Op | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = name
        self.batch_max = batch_max
        self.recovered_from = ""  # set when a damaged file was moved aside at open
        self._schema = schema
        self._synchronous = synchronous
        self._on_rollback = on_rollback  # owners with in-memory mirrors re-read them here
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None
        self._closed = False
        self._lock = threading.Lock()

    def add_schema(self, sql: str) -> None:
        """Before ``open``: more tables for other users of the same file."""
        self._schema += "\n" + sql

    async def open(self) -> None:
        self._db, self.recovered_from = await asyncio.to_thread(self._connect)
        self._thread = threading.Thread(target=self._serve, name=f"{self.name}-writer",
                                        daemon=True)
        self._thread.start()

    def _connect(self) -> tuple[sqlite3.Connection, str]:
        return open_store(self.path, self._schema, self._synchronous)

    async def close(self) -> None:
        if self._closed or self._thread is None:
            return
        self._closed = True  # no new work: it would never be run
        self._q.put(_STOP)
        await asyncio.to_thread(self._thread.join, 30)

    async def call(self, fn: Op) -> Any:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        # a cancelled caller cancels only its wait: the write itself still happens
        self._put(fn, (loop, fut))
        return await fut

    def submit(self, fn: Op) -> None:
        try:
            self._put(fn, None)
        except StoreClosed:  # a late write during shutdown: say so, do not fail the caller
            log.warning("%s store: write after close dropped", self.name)

    def _put(self, fn: Op, waiter: Waiter) -> None:
        with self._lock:  # against the writer dying between the check and the put
            if self._closed or self._thread is None:
                raise StoreClosed(f"{self.name} store is not open")
            self._q.put((fn, waiter))

    # ------------------------------------------------------------------ on the thread

    def _serve(self) -> None:
        while True:
            batch = [self._q.get()]
            while len(batch) < self.batch_max:
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            work = [item for item in batch if item is not _STOP]
            try:
                self._run_batch(work)
            except BaseException as e:  # a bug here must not leave callers waiting forever
                log.exception("%s store: writer failed; closing the store", self.name)
                with self._lock:  # closed before anyone hears of it: later calls are refused
                    self._closed = True
                    self._fail_queued(e)
                self._settle([(waiter, None, e) for _fn, waiter in work])
                self._close_db()
                return
            if len(work) < len(batch):
                self._close_db()
                return

    def _run_batch(self, work: list[tuple[Op, Waiter]]) -> None:
        db = self._db
        assert db is not None
        done: Done = []

        def lost(e: BaseException) -> None:
            # SQLite rolled the whole transaction back (disk full, I/O error): nothing this
            # batch wrote so far is on disk, so nobody may hear "done"
            done[:] = [(f, None, err or e) for f, _, err in done]

        for fn, waiter in work:
            if done and not db.in_transaction:
                lost(sqlite3.OperationalError("transaction rolled back"))
            try:
                done.append((waiter, self._run_op(db, fn), None))
            except BaseException as e:  # this operation only; its savepoint is undone
                if not db.in_transaction:
                    lost(e)
                done.append((waiter, None, e))
        try:
            if any(err is None for _, _, err in done):
                if not db.in_transaction:
                    raise sqlite3.OperationalError("transaction rolled back")
                db.commit()
        except sqlite3.Error as e:
            log.error("%s store: commit failed (%d operations): %s", self.name, len(work), e)
            self._abandon(db)
            lost(e)
        self._settle(done)

    def _settle(self, done: Done) -> None:
        """Hand results to their event loops: one wake-up per loop and batch."""
        by_loop: dict[asyncio.AbstractEventLoop, Done] = {}
        for waiter, value, err in done:
            if waiter is None:
                if err is not None:
                    log.warning("%s store: background write failed: %s", self.name, err)
            else:
                by_loop.setdefault(waiter[0], []).append((waiter, value, err))
        for loop, results in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, results)
            except RuntimeError:  # that event loop is closed: nobody waits any more
                pass

    def _fail_queued(self, e: BaseException) -> None:
        while True:
            try:
                item = self._q.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                self._settle([(item[1], None, e)])

    def _run_op(self, db: sqlite3.Connection, fn: Op) -> Any:
        if not db.in_transaction:
            db.execute("BEGIN IMMEDIATE")
        db.execute("SAVEPOINT op")
        try:
            value = fn(db)
            db.execute("RELEASE op")
            return value
        except BaseException:
            try:
                if db.in_transaction:
                    db.execute("ROLLBACK TO op")
                    db.execute("RELEASE op")
            except sqlite3.Error:
                log.exception("%s store: cannot undo a failed operation", self.name)
                with contextlib.suppress(sqlite3.Error):
                    db.rollback()  # then the whole batch fails rather than keep half an op
            self._reread(db)
            raise

    def _abandon(self, db: sqlite3.Connection) -> None:
        """After a failed transaction: roll back what is left, re-read what is on disk."""
        try:
            if db.in_transaction:
                db.rollback()
        except sqlite3.Error:
            log.exception("%s store: rollback failed", self.name)
        self._reread(db)

    def _reread(self, db: sqlite3.Connection) -> None:
        # the owner's in-memory mirrors counted writes that were just undone
        if self._on_rollback is None:
            return
        try:
            self._on_rollback(db)
        except Exception:
            log.exception("%s store: cannot re-read its state after a failed write", self.name)

    def _close_db(self) -> None:
        db, self._db = self._db, None
        if db is None:
            return
        try:
            if db.in_transaction:
                db.commit()
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as e:
            log.error("%s store: closing: %s", self.name, e)
        db.close()


def _resolve(results: Done) -> None:
    for waiter, value, err in results:
        assert waiter is not None
        fut = waiter[1]
        if fut.done():  # the caller was cancelled
            continue
        if err is None:
            fut.set_result(value)
        else:
            fut.set_exception(err)
