"""The recordings catalog: one SQLite row per recording, with its upload state.

An index over the ``recording.json`` files (rebuilt from them at start if rows are
missing). Blocking: the service calls it from a thread; a lock serialises access.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.runtime.sqlite import open_store

SCHEMA = """
CREATE TABLE IF NOT EXISTS recordings (
    id TEXT PRIMARY KEY,
    lesson_id TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    teacher TEXT NOT NULL DEFAULT '',
    trigger TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,            -- recording | finished | failed | partial | deleted
    reason TEXT NOT NULL DEFAULT '',
    started TEXT NOT NULL,
    ended TEXT,
    duration_s REAL NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    path TEXT NOT NULL,             -- directory relative to the recordings dir
    cameras TEXT NOT NULL DEFAULT '[]',
    gaps INTEGER NOT NULL DEFAULT 0,
    upload_state TEXT,              -- NULL (no upload) | pending | uploading | uploaded | failed
    upload_reason TEXT NOT NULL DEFAULT '',
    upload_attempts INTEGER NOT NULL DEFAULT 0,
    upload_next REAL NOT NULL DEFAULT 0,   -- unix time of the next attempt
    uploaded_bytes INTEGER NOT NULL DEFAULT 0,
    deleted_at TEXT,
    updated TEXT NOT NULL,
    showcase INTEGER NOT NULL DEFAULT 0,  -- kept by the teacher as a showcase lesson
    showcase_at TEXT,                     -- when (UTC); undo allowed that local day
    quality INTEGER NOT NULL DEFAULT 0    -- showcase and passes recording.quality_rule
);
CREATE INDEX IF NOT EXISTS recordings_started ON recordings(started);
"""

COLUMNS = ("id", "lesson_id", "title", "subject", "teacher", "trigger", "state", "reason",
           "started", "ended", "duration_s", "bytes", "path", "cameras", "gaps",
           "upload_state", "upload_reason", "upload_attempts", "upload_next",
           "uploaded_bytes", "deleted_at", "updated", "showcase", "showcase_at", "quality")
# columns added after the first release: (name, declaration) for stores made before them
_ADDED = (("showcase", "INTEGER NOT NULL DEFAULT 0"), ("showcase_at", "TEXT"),
          ("quality", "INTEGER NOT NULL DEFAULT 0"))


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Catalog:
    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db, self.recovered_from = open_store(path, SCHEMA, "FULL")
        self._db.row_factory = sqlite3.Row
        have = {r["name"] for r in self._db.execute("PRAGMA table_info(recordings)")}
        for name, decl in _ADDED:
            if name not in have:
                self._db.execute(f"ALTER TABLE recordings ADD COLUMN {name} {decl}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def upsert(self, row: dict[str, Any]) -> None:
        """Insert or update the given columns of one recording (``id`` required)."""
        row = dict(row)
        if isinstance(row.get("cameras"), list):
            row["cameras"] = json.dumps(row["cameras"])
        row["updated"] = _now()
        cols = [c for c in row if c in COLUMNS]
        sets = ", ".join(f"{c}=excluded.{c}" for c in cols if c != "id")
        sql = (f"INSERT INTO recordings ({', '.join(cols)}) VALUES "
               f"({', '.join('?' for _ in cols)}) ON CONFLICT(id) DO UPDATE SET {sets}")
        with self._lock:
            self._db.execute(sql, [row[c] for c in cols])

    def update(self, rec_id: str, **cols: Any) -> None:
        cols["updated"] = _now()
        sets = ", ".join(f"{c}=?" for c in cols)
        with self._lock:
            self._db.execute(f"UPDATE recordings SET {sets} WHERE id=?", [*cols.values(), rec_id])

    def get(self, rec_id: str) -> dict[str, Any] | None:
        with self._lock:
            r = self._db.execute("SELECT * FROM recordings WHERE id=?", (rec_id,)).fetchone()
        return _row(r) if r else None

    def list(self, include_deleted: bool = False, limit: int = 500) -> list[dict[str, Any]]:
        where = "" if include_deleted else "WHERE state != 'deleted'"
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM recordings {where} ORDER BY started DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_row(r) for r in rows]

    def by_state(self, *states: str) -> list[dict[str, Any]]:
        q = ",".join("?" for _ in states)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM recordings WHERE state IN ({q}) ORDER BY started", states
            ).fetchall()
        return [_row(r) for r in rows]

    def deletion_candidates(self) -> list[dict[str, Any]]:
        """Finished / failed / partial recordings, oldest first."""
        return self.by_state("finished", "failed", "partial")

    def upload_due(self, now_unix: float) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM recordings WHERE state IN ('finished','partial') AND "
                "upload_state IN ('pending','failed','uploading') AND upload_next <= ? "
                "ORDER BY started", (now_unix,)
            ).fetchall()
        return [_row(r) for r in rows]

    def ids(self) -> set[str]:
        with self._lock:
            return {r[0] for r in self._db.execute("SELECT id FROM recordings")}


def _row(r: sqlite3.Row) -> dict[str, Any]:
    d = dict(r)
    d["showcase"] = bool(d.get("showcase"))
    d["quality"] = bool(d.get("quality"))
    try:
        d["cameras"] = json.loads(d.get("cameras") or "[]")
    except ValueError:
        d["cameras"] = []
    return d
