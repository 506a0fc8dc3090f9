"""The lessons store under write failures: the real error surfaces, the store lives on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.lessons.store import LessonStore


def test_disk_full_checkpoint_reports_disk_full_not_cannot_rollback(tmp_path: Path):
    store = LessonStore(tmp_path / "lessons.sqlite")
    try:
        db = store._db
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages + 1}")  # the disk is (nearly) full
        batch = [("L1", float(i), "panel", "x" * 2000) for i in range(50)]
        # SQLite rolls the transaction back by itself on SQLITE_FULL; the store's own
        # ROLLBACK then failed ("cannot rollback - no transaction is active") and that
        # error replaced the real one
        with pytest.raises(sqlite3.OperationalError, match="full"):
            store.checkpoint(None, batch, 1.0)
        assert not db.in_transaction
        db.execute("PRAGMA max_page_count = 1073741823")  # space again: the retry works
        store.checkpoint(None, batch, 1.0)
        assert db.execute("SELECT count(*) FROM signals").fetchone()[0] == 50
    finally:
        store.close()


def test_a_store_from_before_usage_revisions_is_migrated(tmp_path: Path):
    """Days already reported keep their place: they are not sent again after an upgrade."""
    from datetime import UTC, datetime

    from agent.lessons.store import SCHEMA

    path = tmp_path / "lessons.sqlite"
    old = SCHEMA.replace(
        "    sent TEXT NOT NULL,\n    lessons INTEGER NOT NULL DEFAULT 0,   -- closed lessons "
        "that message counted\n    revision INTEGER NOT NULL DEFAULT 0\n",
        "    sent TEXT NOT NULL\n")
    assert old != SCHEMA
    db = sqlite3.connect(path)
    db.executescript(old)
    for lid in ("a", "b"):
        db.execute("INSERT INTO lessons (lesson_id, kind, date, origin, state, opened) "
                   "VALUES (?, 'period', '2026-09-07', '', 'closed', '')", (lid,))
    db.execute("INSERT INTO usage_sent VALUES ('2026-09-07', '2026-09-07T09:30:00+00:00')")
    db.commit()
    db.close()
    store = LessonStore(path)
    try:
        assert store.usage_sent("2026-09-07") == (2, 0)
        assert store.lesson_counts("2026-09-01") == {"2026-09-07": 2}
        store.mark_usage_sent("2026-09-07", datetime.now(UTC), 3, 1)
        assert store.usage_sent("2026-09-07") == (3, 1)
    finally:
        store.close()
