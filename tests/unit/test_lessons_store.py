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
