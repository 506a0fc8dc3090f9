"""The durable outbox: FIFO, persistence across reopen, sequence numbers, bounded drops."""

import os
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from agent.uplink.envelope import decode
from agent.uplink.outbox import Item, Outbox
from agent.uplink.topics import EVENTS, HEALTH, RECORDS

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def item(topic: str, n: int, prio: int = EVENTS, pad: int = 0) -> Item:
    return Item(topic, "t", NOW, {"n": n, "pad": "x" * pad}, prio)


async def test_fifo_seq_and_reopen(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", "s", "r")
    await ob.open()
    await ob.put_many([item("events/a", i) for i in range(5)] + [item("events/b", 9)])
    rows = await ob.fetch(0, 100)
    envs = [decode(r.payload) for r in rows]
    assert [e.data["n"] for e in envs] == [0, 1, 2, 3, 4, 9]
    assert [e.seq for e in envs if e.data["n"] < 9] == [1, 2, 3, 4, 5]
    assert len({e.id for e in envs}) == 6
    assert envs[0].school == "s" and envs[0].room == "r" and envs[0].v == 1
    await ob.ack([rows[0].id, rows[1].id])
    await ob.close()

    ob2 = Outbox(tmp_path / "o.db", "s", "r")
    await ob2.open()
    assert ob2.depth == 4
    await ob2.put(item("events/a", 5))
    rows = await ob2.fetch(0, 100)
    envs = [decode(r.payload) for r in rows]
    assert [e.data["n"] for e in envs] == [2, 3, 4, 9, 5]
    assert envs[-1].seq == 6  # the per-topic counter survived the restart
    await ob2.close()


async def test_full_drops_lowest_priority_first_and_counts(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", "s", "r", max_bytes=64 * 1024)
    await ob.open()
    await ob.put_many([item("health", i, HEALTH, pad=900) for i in range(40)])
    await ob.put_many([item("lessons", i, RECORDS, pad=900) for i in range(60)])
    assert ob.bytes <= ob.max_bytes
    kept_lessons = sum(1 for r in await ob.fetch(0, 1000) if r.topic == "lessons")
    assert kept_lessons == 60, "records must survive while telemetry can be dropped"
    assert ob.dropped.get(HEALTH, 0) > 0 and RECORDS not in ob.dropped
    # a full store of records refuses new health outright, and counts it
    before = ob.dropped.get(HEALTH, 0)
    await ob.put_many([item("lessons", 100 + i, RECORDS, pad=900) for i in range(30)])
    await ob.put(item("health", 999, HEALTH, pad=900))
    assert ob.dropped.get(HEALTH, 0) > before
    await ob.close()
    ob3 = Outbox(tmp_path / "o.db", "s", "r", max_bytes=64 * 1024)
    await ob3.open()
    assert ob3.dropped == ob.dropped  # the dropped counter is itself durable
    await ob3.close()


async def test_retained_latest_only_and_dirty_cycle(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", "s", "r")
    await ob.open()
    for i in range(3):
        await ob.put(Item("devices/p1", "device_state", NOW, {"i": i}, EVENTS, retained=True))
    dirty = await ob.dirty_retained()
    assert len(dirty) == 1 and msgspec.json.decode(dirty[0][1])["data"]["i"] == 2
    await ob.ack_retained(dirty[0][0], dirty[0][2])
    assert await ob.dirty_retained() == []
    await ob.mark_retained_dirty()
    assert len(await ob.dirty_retained()) == 1
    assert ob.depth == 0  # retained state is not queued history
    await ob.close()


async def test_disk_full_mid_batch_never_confirms_what_is_not_on_disk(tmp_path: Path) -> None:
    """SQLite rolls a whole transaction back on SQLITE_FULL: every put of that batch must
    then fail, and every put that returned must be on disk."""
    import asyncio
    import sqlite3

    ob = Outbox(tmp_path / "o.db", "s", "r")
    await ob.open()
    await ob.put(item("events/a", -1))
    pages = await ob._call(lambda db: db.execute("PRAGMA page_count").fetchone()[0])
    await ob._call(lambda db: db.execute(f"PRAGMA max_page_count={pages + 3}"))
    results = await asyncio.gather(*(ob.put(item("events/a", i, pad=2000)) for i in range(30)),
                                   return_exceptions=True)
    confirmed = {i for i, r in enumerate(results) if r is None}
    failed = [r for r in results if r is not None]
    assert failed and all(isinstance(r, sqlite3.Error) for r in failed)
    on_disk = {decode(r.payload).data["n"] for r in await ob.fetch(0, 1000)} - {-1}
    assert confirmed == on_disk
    assert ob.depth == len(on_disk) + 1  # the mirrors follow what is really stored
    assert ob.enqueued == len(confirmed) + 1  # a rolled-back put is not counted
    await ob.close()


async def test_damaged_file_is_moved_aside_and_the_outbox_starts_empty(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    path.write_bytes(os.urandom(8192))
    ob = Outbox(path, "s", "r")
    await ob.open()
    assert ob.depth == 0 and "corrupt" in ob.recovered_from
    await ob.put(item("events/a", 1))
    assert [decode(r.payload).data["n"] for r in await ob.fetch(0, 10)] == [1]
    await ob.close()
    assert len(list(tmp_path.glob("o.db.corrupt-*"))) == 1  # kept for the technician


def test_every_agent_store_survives_a_damaged_file(tmp_path: Path) -> None:
    """The lesson store and the recording catalog open like the outbox: a damaged file is
    set aside and the store starts empty instead of keeping the agent from starting."""
    from agent.lessons.store import LessonStore
    from agent.recording.catalog import Catalog

    for name, cls in (("lessons.sqlite3", LessonStore), ("catalog.sqlite3", Catalog)):
        path = tmp_path / name
        path.write_bytes(os.urandom(8192))
        store = cls(path)
        assert "corrupt" in store.recovered_from
        store.close()
        assert len(list(tmp_path.glob(f"{name}.corrupt-*"))) == 1
