"""SQLite store of lessons: the open lesson (so a restart resumes it), the signals
attributed to it, and every closed lesson's summary (the source of rollups and the API).

All methods are blocking; the service calls them through ``asyncio.to_thread``. One
connection guarded by a lock (writes are small and rare: signals are batched per tick).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.runtime.sqlite import open_store

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS lessons (
    lesson_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    date TEXT NOT NULL,
    period TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    class_id TEXT NOT NULL DEFAULT '',
    teacher TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    record INTEGER NOT NULL DEFAULT 0,
    scheduled_start TEXT,
    scheduled_end TEXT,
    origin TEXT NOT NULL,           -- wall UTC of lesson offset 0 (session window start)
    lesson_start_s REAL NOT NULL DEFAULT 0,  -- offset of the scheduled start (pre-roll)
    begin_s REAL NOT NULL DEFAULT 0,         -- offset at which the agent first saw it
    last_alive_s REAL NOT NULL DEFAULT 0,    -- offset of the last heartbeat
    extend_s REAL NOT NULL DEFAULT 0,
    autorec TEXT NOT NULL DEFAULT 'none',    -- none|started|stopped|done|failed|teacher
    restarts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'open',      -- open | closed
    opened TEXT NOT NULL,
    closed TEXT,
    summary TEXT,
    published INTEGER NOT NULL DEFAULT 0     -- summary handed to the bus (outbox)
);
CREATE INDEX IF NOT EXISTS lessons_by_date ON lessons(date);
CREATE INDEX IF NOT EXISTS lessons_by_state ON lessons(state);
CREATE TABLE IF NOT EXISTS signals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    lesson_id TEXT NOT NULL,
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS signals_by_lesson ON signals(lesson_id, seq);
-- tablet homework, kept for day/week/term rollups whether or not a lesson was open;
-- one row per assignment (student_id '') and per (assignment, student) submission
CREATE TABLE IF NOT EXISTS homework (
    action TEXT NOT NULL,            -- assigned | submitted
    assignment_id TEXT NOT NULL,
    student_id TEXT NOT NULL DEFAULT '',
    class_id TEXT NOT NULL DEFAULT '',
    subject TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    enrolled INTEGER,
    date TEXT NOT NULL,              -- local date it happened
    lesson_id TEXT,
    PRIMARY KEY (action, assignment_id, student_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS homework_by_date ON homework(date);
CREATE TABLE IF NOT EXISTS usage_sent (
    date TEXT PRIMARY KEY,
    sent TEXT NOT NULL,
    lessons INTEGER NOT NULL DEFAULT 0,   -- closed lessons that message counted
    revision INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass
class LessonRow:
    lesson_id: str
    kind: str
    date: str
    origin: datetime
    opened: datetime
    period: str = ""
    subject: str = ""
    class_id: str = ""
    teacher: str = ""
    title: str = ""
    record: bool = False
    scheduled_start: datetime | None = None
    scheduled_end: datetime | None = None
    lesson_start_s: float = 0.0
    begin_s: float = 0.0
    last_alive_s: float = 0.0
    extend_s: float = 0.0
    autorec: str = "none"
    restarts: int = 0
    state: str = "open"
    closed: datetime | None = None
    summary: dict[str, Any] | None = field(default=None, repr=False)


_COLS = [
    "lesson_id", "kind", "date", "period", "subject", "class_id", "teacher", "title",
    "record", "scheduled_start", "scheduled_end", "origin", "lesson_start_s", "begin_s",
    "last_alive_s", "extend_s", "autorec", "restarts", "state", "opened", "closed", "summary",
]  # fmt: skip
_TIMES = {"scheduled_start", "scheduled_end", "origin", "opened", "closed"}


def _to_db(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _TIMES:
        return value.isoformat()
    if name == "record":
        return int(value)
    if name == "summary":
        return json.dumps(value, separators=(",", ":"))
    return value


def _from_db(row: sqlite3.Row) -> LessonRow:
    kw: dict[str, Any] = {}
    for name in _COLS:
        v = row[name]
        if v is not None and name in _TIMES:
            v = datetime.fromisoformat(v)
        elif name == "record":
            v = bool(v)
        elif name == "summary" and v is not None:
            v = json.loads(v)
        kw[name] = v
    return LessonRow(**kw)


class LessonStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        # summaries are records: never lost (synchronous=FULL)
        self._db, self.recovered_from = open_store(path, SCHEMA, "FULL")
        self._db.row_factory = sqlite3.Row
        self._migrate()

    def _migrate(self) -> None:
        cols = {r["name"] for r in self._db.execute("PRAGMA table_info(usage_sent)")}
        if "revision" not in cols:  # a store made before usage revisions existed
            with self._transaction():
                self._db.execute("ALTER TABLE usage_sent ADD COLUMN lessons INTEGER NOT NULL "
                                 "DEFAULT 0")
                self._db.execute("ALTER TABLE usage_sent ADD COLUMN revision INTEGER NOT NULL "
                                 "DEFAULT 0")
                # what was sent counted the lessons stored then: do not send those days again
                self._db.execute(
                    "UPDATE usage_sent SET lessons = (SELECT COUNT(*) FROM lessons "
                    "WHERE lessons.date = usage_sent.date AND state = 'closed')")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN .. COMMIT under the lock; on error roll back if SQLite has not already.
        (On SQLITE_FULL or an I/O error SQLite rolls back by itself, and then a plain
        ROLLBACK fails with "cannot rollback - no transaction is active", hiding the
        real error: the caller must see "database or disk is full".)"""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    try:
                        self._db.execute("ROLLBACK")
                    except sqlite3.Error as e:
                        log.error("lessons store: rollback failed: %s", e)
                raise

    # -- lessons

    def get(self, lesson_id: str) -> LessonRow | None:
        with self._lock:
            row = self._db.execute(
                "SELECT * FROM lessons WHERE lesson_id = ?", (lesson_id,)
            ).fetchone()
        return _from_db(row) if row else None

    def open_lessons(self) -> list[LessonRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM lessons WHERE state = 'open' ORDER BY origin"
            ).fetchall()
        return [_from_db(r) for r in rows]

    def insert(self, row: LessonRow) -> bool:
        """Insert a new lesson; False if that lesson_id already exists (idempotent)."""
        names = ", ".join(_COLS)
        marks = ", ".join("?" for _ in _COLS)
        with self._lock:
            cur = self._db.execute(
                f"INSERT OR IGNORE INTO lessons ({names}) VALUES ({marks})",
                [_to_db(n, getattr(row, n)) for n in _COLS],
            )
        return cur.rowcount == 1

    def update(self, lesson_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self._lock:
            self._db.execute(
                f"UPDATE lessons SET {sets} WHERE lesson_id = ?",
                [*(_to_db(k, v) for k, v in fields.items()), lesson_id],
            )

    def checkpoint(
        self, lesson_id: str | None, signals: list[tuple[str, float, str, str]], alive: float
    ) -> None:
        """Store a batch of signals and the heartbeat in one transaction."""
        with self._transaction():
            if signals:
                self._db.executemany(
                    "INSERT INTO signals (lesson_id, at, kind, data) VALUES (?, ?, ?, ?)",
                    signals,
                )
            if lesson_id is not None:
                self._db.execute(
                    "UPDATE lessons SET last_alive_s = MAX(last_alive_s, ?) "
                    "WHERE lesson_id = ?",
                    (alive, lesson_id),
                )

    def signals(self, lesson_id: str) -> list[tuple[float, str, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, kind, data FROM signals WHERE lesson_id = ? ORDER BY seq",
                (lesson_id,),
            ).fetchall()
        return [(r["at"], r["kind"], json.loads(r["data"])) for r in rows]

    def close_lesson(self, lesson_id: str, closed: datetime, summary: dict[str, Any]) -> None:
        """Mark closed with its summary and drop its raw signals, in one transaction."""
        with self._transaction():
            self._db.execute(
                "UPDATE lessons SET state = 'closed', closed = ?, summary = ? "
                "WHERE lesson_id = ?",
                (closed.isoformat(), json.dumps(summary, separators=(",", ":")), lesson_id),
            )
            self._db.execute("DELETE FROM signals WHERE lesson_id = ?", (lesson_id,))

    def mark_published(self, lesson_id: str) -> None:
        with self._lock:
            self._db.execute("UPDATE lessons SET published = 1 WHERE lesson_id = ?", (lesson_id,))

    def unpublished(self) -> list[dict[str, Any]]:
        """Summaries stored but not yet handed to the bus (crash between the two)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT summary FROM lessons WHERE state = 'closed' AND published = 0 "
                "AND summary IS NOT NULL ORDER BY origin"
            ).fetchall()
        return [json.loads(r["summary"]) for r in rows]

    # -- reading summaries

    def summaries(
        self, date_from: str | None = None, date_to: str | None = None, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Closed lessons' summaries, newest first (dates are local YYYY-MM-DD)."""
        q = "SELECT summary FROM lessons WHERE state = 'closed' AND summary IS NOT NULL"
        args: list[Any] = []
        if date_from:
            q += " AND date >= ?"
            args.append(date_from)
        if date_to:
            q += " AND date <= ?"
            args.append(date_to)
        q += " ORDER BY origin DESC"
        if limit:
            q += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._db.execute(q, args).fetchall()
        return [json.loads(r["summary"]) for r in rows]

    def lesson_counts(self, since: str) -> dict[str, int]:
        """Closed lessons per local date, from ``since`` on."""
        with self._lock:
            rows = self._db.execute(
                "SELECT date, COUNT(*) FROM lessons WHERE state = 'closed' AND date >= ? "
                "GROUP BY date ORDER BY date",
                (since,),
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def usage_sent(self, date: str) -> tuple[int, int] | None:
        """(lessons counted, revision) of the last usage message sent for ``date``."""
        with self._lock:
            row = self._db.execute(
                "SELECT lessons, revision FROM usage_sent WHERE date = ?", (date,)
            ).fetchone()
        return (row[0], row[1]) if row else None

    def mark_usage_sent(self, date: str, when: datetime, lessons: int, revision: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO usage_sent (date, sent, lessons, revision) "
                "VALUES (?, ?, ?, ?)",
                (date, when.isoformat(), lessons, revision),
            )

    # -- revisions (a showcase marked after the summary went out)

    def lesson_with_recording(self, recording_id: str) -> dict[str, Any] | None:
        """The closed lesson whose summary lists ``recording_id``."""
        with self._lock:
            row = self._db.execute(
                "SELECT l.summary FROM lessons l, json_each(l.summary, '$.recording.recordings')"
                " j WHERE l.state = 'closed' AND l.summary IS NOT NULL AND j.value = ? "
                "ORDER BY l.origin DESC LIMIT 1",
                (recording_id,),
            ).fetchone()
        return json.loads(row[0]) if row else None

    def revise(self, lesson_id: str, summary: dict[str, Any]) -> None:
        """Replace a closed lesson's summary by its next revision (to be published)."""
        with self._lock:
            self._db.execute(
                "UPDATE lessons SET summary = ?, published = 0 WHERE lesson_id = ?",
                (json.dumps(summary, separators=(",", ":")), lesson_id),
            )

    def usage_stale(self, date: str) -> None:
        """The figures of ``date`` changed after its usage message: send it again."""
        with self._lock:
            self._db.execute("UPDATE usage_sent SET lessons = -1 WHERE date = ?", (date,))

    # -- homework

    def add_homework(self, rec: dict[str, Any], date: str, lesson_id: str | None) -> bool:
        """Store one assignment / submission; False if it was already counted."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO homework (action, assignment_id, student_id, class_id, "
                "subject, kind, enrolled, date, lesson_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rec.get("a"), rec.get("aid"), rec.get("st") or "", rec.get("cls") or "",
                 rec.get("subj") or "", rec.get("kind") or "",
                 rec.get("enr") if isinstance(rec.get("enr"), int) else None, date, lesson_id),
            )
        return cur.rowcount == 1

    def homework(self, date_from: str, date_to: str) -> list[dict[str, Any]]:
        """Homework records of the dates, as ``rollup.homework_usage`` rows (+ ``date``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT action, assignment_id, student_id, class_id, subject, kind, enrolled, "
                "date FROM homework WHERE date >= ? AND date <= ? ORDER BY date",
                (date_from, date_to),
            ).fetchall()
        return [{"a": r[0], "aid": r[1], "st": r[2], "cls": r[3], "subj": r[4], "kind": r[5],
                 "enr": r[6], "date": r[7]} for r in rows]

    def submissions_for(self, date_from: str, date_to: str) -> dict[str, int]:
        """Submissions received so far per assignment set between the dates."""
        with self._lock:
            rows = self._db.execute(
                "SELECT s.assignment_id, COUNT(*) FROM homework s JOIN homework a ON "
                "a.action = 'assigned' AND a.assignment_id = s.assignment_id "
                "WHERE s.action = 'submitted' AND a.date >= ? AND a.date <= ? "
                "GROUP BY s.assignment_id",
                (date_from, date_to),
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def prune(self, before_date: str) -> int:
        """Drop closed lessons older than ``before_date`` (retention)."""
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM lessons WHERE state = 'closed' AND date < ?", (before_date,)
            )
            self._db.execute("DELETE FROM usage_sent WHERE date < ?", (before_date,))
            self._db.execute("DELETE FROM homework WHERE date < ?", (before_date,))
        return cur.rowcount
