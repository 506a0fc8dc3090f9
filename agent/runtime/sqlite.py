"""Opening the agent's SQLite stores (outbox, lesson store, recording catalog) one way.

WAL, the requested fsync level, the schema, an integrity check. A store whose file is
damaged must not keep the room from recording or reporting: the file (with its -wal and
-shm) is moved aside for the technician and an empty store is created; the caller is told
so it can report it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

log = logging.getLogger(__name__)


def _connect(path: Path, schema: str, synchronous: str) -> sqlite3.Connection:
    db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.executescript(schema)
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise sqlite3.DatabaseError(f"integrity check: {check}")
    except sqlite3.DatabaseError:
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
    except sqlite3.DatabaseError as e:
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            src = path.with_name(path.name + suffix)
            if src.exists():
                src.rename(aside.with_name(aside.name + suffix))
        log.error("%s is damaged (%s); moved to %s, starting empty", path, e, aside.name)
        return _connect(path, schema, synchronous), f"{aside.name}: {e}"
