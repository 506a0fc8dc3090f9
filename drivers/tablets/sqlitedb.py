"""A small SQLite store run by one writer thread with group commit.

The event loop never touches SQLite: work items are queued to the thread, which runs all
the items that arrived together inside one transaction and commits once (WAL,
synchronous=NORMAL: survives an agent crash; the last commits may be lost on power loss).
``call`` awaits the item's result; ``submit`` is fire-and-forget (still ordered).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Work = Callable[[sqlite3.Connection], Any]
_STOP = object()


class GroupCommitDB:
    def __init__(self, path: str, schema: str = "", batch_max: int = 500) -> None:
        self.path = path
        self._schema = schema
        self._batch_max = batch_max
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._open_error: BaseException | None = None
        self.commits = 0

    def add_schema(self, sql: str) -> None:
        """Before ``open``: more tables for other users of the same file."""
        self._schema += "\n" + sql

    async def open(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tablets-db", daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._ready.wait)
        if self._open_error:
            raise self._open_error

    async def close(self) -> None:
        if self._thread is None:
            return
        self._q.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    async def call(self, fn: Work) -> Any:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._q.put((fn, loop, fut))
        return await fut

    def submit(self, fn: Work) -> None:
        self._q.put((fn, None, None))

    # ------------------------------------------------------------------ writer thread

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)

    def _run(self) -> None:
        try:
            conn = self._connect()
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(self._schema)
        except BaseException as e:  # reported to open()
            self._open_error = e
            self._ready.set()
            return
        self._ready.set()
        stop = False
        while not stop:
            batch = [self._q.get()]
            while len(batch) < self._batch_max:
                try:
                    batch.append(self._q.get_nowait())
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in batch)
            work = [item for item in batch if item is not _STOP]
            if work:
                self._run_batch(conn, work)
        conn.close()

    def _run_batch(self, conn: sqlite3.Connection, work: list[Any]) -> None:
        """One transaction for the batch. Every caller's future is settled, whatever
        fails: an unsettled future hangs its caller (and, for the dedupe store, leaves
        the message id in flight forever)."""
        results = []
        try:
            conn.execute("BEGIN")
            for fn, loop, fut in work:
                try:
                    results.append((loop, fut, fn(conn), None))
                except Exception as e:  # one bad item fails alone
                    results.append((loop, fut, None, e))
            conn.execute("COMMIT")
            self.commits += 1
        except Exception as e:  # BEGIN or COMMIT failed: nothing of the batch is stored
            log.error("tablets db transaction failed (%d items): %s", len(work), e)
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error as rb:
                    log.error("tablets db rollback failed: %s", rb)
            # from the batch itself: BEGIN may have failed before any item ran
            results = [(loop, fut, None, e) for _fn, loop, fut in work]
        for loop, fut, value, err in results:
            if fut is None:
                if err is not None:
                    log.warning("tablets db background write failed: %s", err)
                continue
            try:
                loop.call_soon_threadsafe(_settle, fut, value, err)
            except RuntimeError:  # that event loop is closed: nobody waits any more
                pass


def _settle(fut: asyncio.Future[Any], value: Any, err: BaseException | None) -> None:
    if fut.done():
        return
    if err is not None:
        fut.set_exception(err)
    else:
        fut.set_result(value)
