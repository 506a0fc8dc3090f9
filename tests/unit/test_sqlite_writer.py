"""The group-commit writer shared by the outbox and the tablets store."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import pytest

from agent.runtime.sqlite import GroupCommitWriter, StoreClosed

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER);"


def _insert(k: str, v: int):
    return lambda db: db.execute("INSERT INTO t VALUES (?, ?)", (k, v))


def _fails_after_writing(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO t VALUES ('half', 1)")
    raise ValueError("bad item")


async def test_a_failing_operation_undoes_only_its_own_writes(tmp_path: Path) -> None:
    w = GroupCommitWriter(tmp_path / "s.db", SCHEMA, name="test")
    await w.open()
    got = await asyncio.gather(w.call(_insert("a", 1)), w.call(_fails_after_writing),
                               w.call(_insert("b", 2)), return_exceptions=True)
    assert isinstance(got[1], ValueError) and not isinstance(got[0], Exception)
    rows = await w.call(lambda db: db.execute("SELECT k FROM t ORDER BY k").fetchall())
    assert rows == [("a",), ("b",)]  # nothing of the failed one, all of the others
    await w.close()


async def test_tablets_store_sets_a_damaged_file_aside(tmp_path: Path) -> None:
    path = tmp_path / "tablets.sqlite"
    path.write_bytes(os.urandom(8192))
    w = GroupCommitWriter(path, SCHEMA, synchronous="NORMAL", name="tablets")
    await w.open()
    assert "corrupt" in w.recovered_from
    await w.call(_insert("a", 1))
    await w.close()
    assert len(list(tmp_path.glob("tablets.sqlite.corrupt-*"))) == 1


async def test_work_after_close_is_refused_not_lost_silently(tmp_path: Path, caplog) -> None:
    w = GroupCommitWriter(tmp_path / "s.db", SCHEMA, name="test")
    await w.open()
    w.submit(_insert("a", 1))  # queued before close: written
    await w.close()
    with pytest.raises(StoreClosed):
        await w.call(_insert("b", 2))
    w.submit(_insert("c", 3))
    assert "write after close dropped" in caplog.text
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("SELECT k FROM t").fetchall() == [("a",)]
    db.close()


class _Fatal(BaseException):
    pass


def _raise_fatal(db: sqlite3.Connection) -> None:
    db.execute("INSERT INTO t VALUES ('fatal', 1)")
    raise _Fatal()


async def test_even_a_base_exception_fails_only_its_operation(tmp_path: Path) -> None:
    rereads: list[int] = []
    w = GroupCommitWriter(tmp_path / "s.db", SCHEMA, name="test",
                          on_rollback=lambda db: rereads.append(1))
    await w.open()
    got = await asyncio.gather(w.call(_raise_fatal), w.call(_insert("a", 1)),
                               return_exceptions=True)
    assert isinstance(got[0], _Fatal) and got[1] is not None
    assert rereads  # the owner was told to re-read its mirrors
    assert await w.call(lambda db: db.execute("SELECT k FROM t").fetchall()) == [("a",)]
    await w.close()


async def test_a_writer_that_dies_fails_its_callers_instead_of_hanging(
        tmp_path: Path, monkeypatch) -> None:
    w = GroupCommitWriter(tmp_path / "s.db", SCHEMA, name="test")
    await w.open()

    def broken(work):
        raise RuntimeError("bug in the writer")

    monkeypatch.setattr(w, "_run_batch", broken)
    async with asyncio.timeout(60):  # a guard against a hang, not a timing claim
        with pytest.raises(RuntimeError, match="bug in the writer"):
            await w.call(_insert("a", 1))
    with pytest.raises(StoreClosed):
        await w.call(_insert("b", 2))
    await w.close()


def test_a_locked_file_is_not_mistaken_for_a_damaged_one(tmp_path: Path) -> None:
    from agent.runtime.sqlite import open_store

    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE x (a)")
    holder.execute("BEGIN EXCLUSIVE")  # another process writing: not damage
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            open_store(path, SCHEMA)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert not list(tmp_path.glob("*.corrupt-*"))  # nothing was set aside
