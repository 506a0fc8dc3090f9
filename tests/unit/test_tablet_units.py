"""Roster files, attendance bookkeeping, the dedupe store, xAPI rendering, and the gateway
session logic over an in-memory connection (fuzzed)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.events import AttendanceEvent, InteractionEvent
from agent.runtime.sqlite import GroupCommitWriter
from agent.tablets.attendance import LessonContext, LessonTally
from agent.tablets.roster import Roster, RosterError
from agent.tablets.xapi import VERBS, render
from drivers.tablets import protocol as p
from drivers.tablets.dedupe import DUPLICATE, NEW, SeenStore
from drivers.tablets.gateway import Gateway, GatewaySettings, Incoming

# --------------------------------------------------------------------------- roster


def test_roster_csv_oneroster_enrollments(tmp_path: Path):
    f = tmp_path / "enrollments.csv"
    f.write_text("sourcedId,classSourcedId,userSourcedId,role,givenName\n"
                 "e1,c1,s1,student,Ann\ne2,c1,t1,teacher,Bob\ne3,c1,s2,student,Cy\n"
                 "e4,c2,s3,student,Di\n")
    r = Roster.load(f)
    assert r.students("c1") == ["s1", "s2"] and r.students("c2") == ["s3"]
    assert r.knows("s3") and not r.knows("t1") and r.enrolled("c1", "s2")


def test_roster_json_and_errors(tmp_path: Path):
    f = tmp_path / "r.json"
    f.write_text(json.dumps({"classes": [{"sourcedId": "c1", "students": ["s1", {
        "sourcedId": "s2", "givenName": "x"}]}]}))
    assert Roster.load(f).students("c1") == ["s1", "s2"]
    for bad in ('{"classes": 3}', '{"classes": [{"students": []}]}', "nope",
                '{"classes": [{"sourcedId": "c", "students": [7]}]}'):
        f.write_text(bad)
        with pytest.raises(RosterError):
            Roster.load(f)
    g = tmp_path / "r.csv"
    g.write_text("a,b\n1,2\n")
    with pytest.raises(RosterError, match="classSourcedId"):
        Roster.load(g)


def test_config_checks_name_the_key(tmp_path: Path):
    from agent.config import ConfigError, from_dict

    with pytest.raises(ConfigError) as info:
        from_dict({"tablets": {"enabled": True, "roster_file": str(tmp_path / "none.csv"),
                               "heartbeat_s": 30, "heartbeat_timeout_s": 10}})
    text = str(info.value)
    assert "tablets.join_code" in text and "tablets.roster_file: file not found" in text
    assert "tablets.heartbeat_timeout_s" in text
    with pytest.raises(ConfigError, match=r"tablets.rate_per_s: expected float"):
        from_dict({"tablets": {"rate_per_s": "fast"}})


# --------------------------------------------------------------------------- attendance


def test_attendance_statuses_and_head_count():
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    roster = Roster({"c1": ["a", "b", "c", "d"]})
    t = LessonTally(LessonContext("L1", "c1", start, late_after_min=5))
    assert t.add_checkin("a", "t1", start + timedelta(minutes=5))  # exactly on the mark
    assert t.add_checkin("b", "t2", start + timedelta(minutes=5, seconds=1))
    assert t.add_checkin("b", "t2", start) is None  # first check-in wins
    assert t.add_checkin("zz", "t9", start)  # not enrolled
    for m in (3.0, 4.4, 2.0):
        t.add_head_count(m)
    att = t.attendance(roster, final=True)
    assert isinstance(att, AttendanceEvent)
    assert (att.enrolled, att.present, att.late, att.absent, att.unknown_checkins) == (
        4, 1, 1, 2, 1)
    assert att.head_count == 4
    assert [r.status for r in att.students] == ["present", "late", "absent", "absent"]
    assert t.add_answer("q1", "a", "A") and not t.add_answer("q1", "a", "B")
    assert t.answer_count == 1 and t.answers["q1"]["a"] == "B"


# --------------------------------------------------------------------------- dedupe


async def test_seen_store_survives_reopen_and_prunes_old_days(tmp_path: Path):
    path = str(tmp_path / "t.sqlite")
    today = [date(2026, 3, 2)]
    db = GroupCommitWriter(path)
    seen = SeenStore(db, lambda: today[0], keep_days=2)
    await db.open()
    assert await seen.claim("d1", "m1") == NEW
    seen.done("d1", "m1")
    assert await seen.claim("d1", "m2") == NEW  # claimed, never done (crash)
    assert await seen.claim("d1", "m1") == DUPLICATE
    await db.close()

    db = GroupCommitWriter(path)
    seen = SeenStore(db, lambda: today[0], keep_days=2, memory_max=1)
    await db.open()
    assert await seen.claim("d1", "m1") == DUPLICATE  # from SQLite
    assert await seen.claim("d1", "m2") == NEW  # pending after a crash: process again
    seen.release("d1", "m2")
    assert await seen.claim("d2", "m1") == NEW  # ids are per device
    seen.done("d2", "m1")
    today[0] = date(2026, 3, 5)
    assert await seen.prune() >= 1
    assert await seen.claim("d1", "m1") == NEW  # forgotten after keep_days
    await db.close()


async def test_concurrent_claim_of_same_id_waits_for_the_first():
    db = GroupCommitWriter(":memory:")
    seen = SeenStore(db, date.today)
    await db.open()
    assert await seen.claim("d", "m") == NEW
    second = asyncio.create_task(seen.claim("d", "m"))
    await asyncio.sleep(0.01)
    assert not second.done()
    seen.done("d", "m")
    assert await second == DUPLICATE
    await db.close()


# --------------------------------------------------------------------------- xAPI


def test_xapi_rendering():
    home, base = "https://sis.example.org", "https://x.example/xapi"
    ans = InteractionEvent(kind="answer", device_id="t1", student_id="s1", message_id="m1",
                           lesson_id="L1", question_id="q1", choice="B", correct=False,
                           time_to_answer_s=4.25)
    [st_] = render(ans, home, base)
    assert st_["verb"]["id"] == VERBS["answered"]
    assert st_["actor"] == {"objectType": "Agent", "account": {"homePage": home, "name": "s1"}}
    assert st_["result"] == {"response": "B", "success": False, "duration": "PT4.25S"}
    assert st_["object"]["id"] == f"{base}/questions/q1"
    assert render(ans, home, base)[0]["id"] == st_["id"]  # stable id: retries dedupe
    hand = InteractionEvent(kind="hand", device_id="t1", student_id="s1", message_id="m2",
                            state="raise", lesson_id="L1")
    assert render(hand, home, base)[0]["verb"]["id"] == VERBS["asked"]
    lower = InteractionEvent(kind="hand", device_id="t1", student_id="s1", message_id="m3",
                             state="lower")
    assert render(lower, home, base) == []
    t = LessonTally(LessonContext("L1", "c1", datetime(2026, 3, 2, tzinfo=UTC), 5))
    t.add_checkin("s1", "t1", datetime(2026, 3, 2, 0, 1, tzinfo=UTC))
    att = t.attendance(Roster({"c1": ["s1", "s2"]}), final=True)
    sts = render(att, home, base)
    assert len(sts) == 1 and sts[0]["verb"]["id"] == VERBS["attended"]
    assert "name" not in json.dumps(sts[0]["actor"]["account"]).replace('"name": "s1"', "")


# --------------------------------------------------------------------------- gateway logic


class MemConn:
    """A scripted connection: frames to deliver, then silence (timeout) or close."""

    def __init__(self, frames: list[Incoming]) -> None:
        self.frames = list(frames)
        self.sent: list[Any] = []
        self.closed: tuple[int, str] | None = None
        self.remote = "mem"

    async def receive(self, timeout: float) -> Incoming:
        await asyncio.sleep(0)
        if self.closed:
            return Incoming("closed")
        return self.frames.pop(0) if self.frames else Incoming("closed")

    async def send_text(self, text: str) -> None:
        self.sent.append(p.decode_server(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def abort(self) -> None:
        self.closed = self.closed or (1006, "aborted")


class CountingHandler:
    def __init__(self) -> None:
        self.handled: list[p.ClientMessage] = []

    def authorize(self, session, hello) -> None:
        return None

    def welcome(self, session) -> dict[str, Any]:
        return {}

    async def handle(self, session, msg) -> None:
        self.handled.append(msg)

    def connected(self, session) -> None: ...

    def disconnected(self, session) -> None: ...


HELLO = p.encode(p.Hello(id="h", protocol=1, device_id="tab-1", student_id="s1",
                         join_code="code"))


async def make_gateway(**kw: Any) -> tuple[Gateway, CountingHandler, GroupCommitWriter]:
    db = GroupCommitWriter(":memory:")
    seen = SeenStore(db, date.today)
    await db.open()
    h = CountingHandler()
    return Gateway(GatewaySettings(join_code="code", **kw), h, seen), h, db


frames = st.one_of(
    st.text(max_size=80).map(lambda t: Incoming("text", t)),
    st.sampled_from([json.dumps(m) for m in (
        {"type": "hand", "id": "a", "state": "raise"}, {"type": "checkin", "id": "a"},
        {"type": "checkin", "id": "b"}, {"type": "heartbeat", "id": "hb"},
        {"type": "answer", "id": "c", "question_id": "q", "choice": 3},
        {"type": "hello", "id": "h2", "protocol": 1, "device_id": "x", "student_id": "y"},
    )]).map(lambda t: Incoming("text", t)),
    st.just(Incoming("binary")),
    st.just(Incoming("timeout")),
)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(frames, max_size=25))
async def test_fuzz_session_never_crashes_and_counts_each_id_once(seq):
    gw, handler, db = await make_gateway(max_errors=10, rate_burst=1000)
    try:
        conn = MemConn([Incoming("text", HELLO), *seq])
        await gw.serve(conn)
        assert conn.closed is None or conn.closed[0] in p.CLOSE_REASONS
        assert "error.internal" not in gw.counters
        ids = [m.id for m in handler.handled]
        assert len(ids) == len(set(ids))  # no id processed twice
        assert isinstance(conn.sent[0], p.Welcome)
        assert not gw.sessions
    finally:
        await db.close()


async def test_handler_crash_is_an_internal_error_and_the_id_can_be_retried():
    gw, handler, db = await make_gateway()
    calls = []

    async def flaky(session, msg):
        calls.append(msg.id)
        if len(calls) == 1:
            raise RuntimeError("boom")

    handler.handle = flaky  # type: ignore[method-assign]
    checkin = json.dumps({"type": "checkin", "id": "c1"})
    conn = MemConn([Incoming("text", HELLO), Incoming("text", checkin),
                    Incoming("text", checkin), Incoming("text", checkin)])
    await gw.serve(conn)
    kinds = [(type(m).__name__, getattr(m, "code", None), getattr(m, "duplicate", None))
             for m in conn.sent[1:]]
    assert kinds == [("Error", "internal", None), ("Ack", None, False), ("Ack", None, True)]
    assert calls == ["c1", "c1"]
    await db.close()


# --------------------------------------------------------------------------- db failures


class _FlakyConn:
    """A sqlite3 connection whose next ``fail_begin`` BEGINs fail (disk I/O error)."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.fail_begin = 0

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.startswith("BEGIN") and self.fail_begin:
            self.fail_begin -= 1
            import sqlite3

            raise sqlite3.OperationalError("disk I/O error")
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class FlakyDB(GroupCommitWriter):
    def _connect(self) -> Any:
        conn, recovered = super()._connect()
        self.conn = _FlakyConn(conn)
        return self.conn, recovered


async def test_failed_begin_settles_every_future_and_fails_only_its_own_work():
    db = FlakyDB(":memory:")
    seen = SeenStore(db, date.today)
    await db.open()
    try:
        db.conn.fail_begin = 1
        # the guard only stops a hang from blocking the suite: futures left unsettled
        # made claim() wait forever
        async with asyncio.timeout(30):
            got = await asyncio.gather(seen.claim("d", "m1"), seen.claim("d", "m2"),
                                       db.call(lambda c: 1), return_exceptions=True)
        assert isinstance(got[0], Exception) and "disk I/O" in str(got[0]), got
        assert got[1:] == [NEW, 1]  # the next operation began a transaction of its own
        assert set(seen._inflight) == {("d", "m2")}  # the failed id is not left in flight
        async with asyncio.timeout(30):
            assert await seen.claim("d", "m1") == NEW  # a resend is processed
            assert await db.call(lambda c: 2) == 2  # the writer thread lives on
    finally:
        await db.close()


async def test_failed_claim_is_an_internal_error_and_the_resend_is_processed():
    db = FlakyDB(":memory:")
    seen = SeenStore(db, date.today)
    await db.open()
    handler = CountingHandler()
    gw = Gateway(GatewaySettings(join_code="code"), handler, seen)
    try:
        db.conn.fail_begin = 1
        checkin = json.dumps({"type": "checkin", "id": "c1"})
        conn = MemConn([Incoming("text", HELLO), Incoming("text", checkin),
                        Incoming("text", checkin)])
        async with asyncio.timeout(30):
            await gw.serve(conn)
        kinds = [(type(m).__name__, getattr(m, "code", None), getattr(m, "duplicate", None))
                 for m in conn.sent[1:]]
        assert kinds == [("Error", "internal", None), ("Ack", None, False)]
        assert [m.id for m in handler.handled] == ["c1"]
        assert conn.closed is None or conn.closed[0] != p.CLOSE_INTERNAL
    finally:
        await db.close()
