"""Quality (精品) recordings and tablet homework, hand-computed, on SQLite and PostgreSQL.

Term 2026-09-01 (Tue) .. 2026-09-30, 14-18 Sep a holiday week; as of 25 Sep the school weeks
are W36, W37, W39 = 3. Targets: 2 quality recordings per subject; homework 2/week and 3/term
in tablet classes, 1/week and 2/term without tablets.

school a, room r1 (a new agent):
  Q1 01 Sep math c1: rev 0 no mark, rev 1 a quality recording, rev 2 undone   -> 0
  Q2 02 Sep math c1: two quality recordings; tablets active (c1 is a tablet class) -> 2
  Q3 03 Sep chinese c2: ``quality`` true without ids                          -> 1
  Q4 08 Sep english: an old summary without quality fields: unknown, not counted
  -> r1 3; school a {chinese: 1, math: 2}; math reaches 2, chinese does not -> 1 subject
  homework (daily usage, highest revision per day):
    08 Sep (W37) c1/math rev 0: 1 set, 20 in, rate 0.5; rev 1: 1 set, 30 in, rate 0.75
    09 Sep (W37) c1/math 1 set, 35 in, rate 0.875; c2/chinese 1 set, rate unknown
    16 Sep (W38, holiday week) c1/math 1 set: counts for the term, not for a week
    22 Sep (W39) c1/math 2 set, 40 in, rate 0.5; c2/chinese 1 set
  c1/math (tablet): 5 set, 105 in, rate (0.75 + 0.875 + 2 x 0.5) / 4 = 0.65625;
    weeks >= 2: W37 (2), W39 (2) -> 2 of 3; term 5 / 3 -> met
  c2/chinese (no tablets): 2 set; weeks >= 1: W37, W39 -> 2 of 3; term 2 / 2 -> met
school a, room r2 (an old agent): no quality fields, no homework -> null with the reason
school b, room b1 (an old agent only) -> the school's figures null with the reasons
"""

from __future__ import annotations

from datetime import date

import msgspec
import pytest

from agent import events as ev
from district.config import from_dict
from district.ingest.parse import Record, parse
from district.kpi import engine
from district.kpi.engine import term_report
from district.report import render
from district.store.store import Store
from tests.helpers import district as helpers
from tests.helpers.district import OLD_RECORDING, OLD_USAGE, lesson, message, usage

CFG = {
    "web": {"listen": ""},
    "terms": [{"name": "2026 autumn", "start": "2026-09-01", "end": "2026-09-30",
               "holidays": ["2026-09-14..2026-09-18"]}],
    "targets": {"required_smart_lessons": 4, "required_subjects": 2,
                "quality_recordings_per_subject": 2,
                "homework_per_subject_week": 2, "homework_per_subject_term": 3,
                "homework_per_subject_week_no_tablets": 1,
                "homework_per_subject_term_no_tablets": 2},
    "schools": [{"id": "a", "rooms": ["r1", "r2"]}, {"id": "b", "rooms": ["b1"]}],
}
AS_OF = date(2026, 9, 25)


def marked(base: ev.LessonSummary, revision: int, ids: list[str],
           quality: bool | None = None) -> ev.LessonSummary:
    rec = msgspec.structs.replace(base.recording, showcase=bool(ids), quality=(
        bool(ids) if quality is None else quality), showcase_recordings=ids,
        quality_recordings=ids, quality_rule="finished and minutes >= 35")
    return msgspec.structs.replace(base, recording=rec, revision=revision)


def hw(class_id: str, subject: str, a: int, s: int = 0,
       rate: float | None = None) -> ev.HomeworkUsage:
    return ev.HomeworkUsage(class_id=class_id, subject=subject, assignments=a, submissions=s,
                            submission_rate=rate)


Q1 = lesson("2026-09-01", "Q1", "math", True, recorded=True, class_id="c1")


def showcase_revisions() -> list[tuple[str, bytes]]:
    return [message("a", "r1", marked(Q1, 0, [])),
            message("a", "r1", marked(Q1, 1, ["rec-q1"]))]


def fixture_messages() -> list[tuple[str, bytes]]:
    q2 = lesson("2026-09-02", "Q2", "math", True, recorded=True, class_id="c1",
                tablets=ev.LessonTablets(active=30, answers=12))
    q3 = lesson("2026-09-03", "Q3", "chinese", True, recorded=True, class_id="c2")
    m = [
        message("a", "r1", marked(Q1, 2, [])),  # the showcase undone the same day
        message("a", "r1", marked(q2, 0, ["rec-q2a", "rec-q2b"])),
        message("a", "r1", marked(q3, 0, [], quality=True)),
        message("a", "r1", lesson("2026-09-08", "Q4", "english", True),
                data_patch=OLD_RECORDING),
        message("a", "r1", usage("2026-09-08", 0, 1, 1, [hw("c1", "math", 1, 20, 0.5)])),
        message("a", "r1", usage("2026-09-08", 1, 1, 1, [hw("c1", "math", 1, 30, 0.75)])),
        message("a", "r1", usage("2026-09-08", 0, 1, 1, [hw("c1", "math", 1, 20, 0.5)])),
        message("a", "r1", usage("2026-09-09", 0, 0, 0, [hw("c1", "math", 1, 35, 0.875),
                                                         hw("c2", "chinese", 1)])),
        message("a", "r1", usage("2026-09-16", 0, 0, 0, [hw("c1", "math", 1)])),
        message("a", "r1", usage("2026-09-22", 0, 0, 0, [hw("c1", "math", 2, 40, 0.5),
                                                         hw("c2", "chinese", 1)])),
    ]
    for school, room in (("a", "r2"), ("b", "b1")):
        m.append(message(school, room, lesson("2026-09-08", "O1", "math", True),
                         data_patch=OLD_RECORDING))
        m.append(message(school, room, usage("2026-09-08", 0, 1, 1), data_drop=OLD_USAGE))
    return m


@pytest.fixture(autouse=True)
def _keep_seqs():
    # the helpers number seqs per room across the session: leave them as we found them
    # (test_district_web counts on small seqs)
    saved = dict(helpers._seq)
    yield
    helpers._seq.clear()
    helpers._seq.update(saved)


@pytest.fixture
def store(storage_url: str):
    cfg = from_dict(CFG)
    s = Store.open(storage_url, cfg.terms, cfg.schools)
    try:
        yield cfg, s
    finally:
        s.close()


def _apply(s: Store, msgs: list[tuple[str, bytes]], batch: int) -> None:
    items = [parse(t, p, "classroom") for t, p in msgs]
    assert all(isinstance(i, Record) for i in items), items
    for i in range(0, len(items), batch):
        s.apply(items[i:i + batch])


@pytest.mark.parametrize("batch", [1, 100])
def test_quality_recordings_and_homework(store, batch: int) -> None:
    cfg, s = store
    _apply(s, showcase_revisions(), batch)
    rep = term_report(cfg, s, "2026 autumn", as_of=AS_OF)
    assert {r.room: r for r in rep.rooms}["r1"].quality_recordings == 1  # marked in rev 1
    assert rep.schools[0].quality_recordings_by_subject == {"math": 1}
    _apply(s, fixture_messages(), batch)
    _apply(s, showcase_revisions(), batch)  # late redelivery of the older revisions: ignored
    rep = term_report(cfg, s, "2026 autumn", as_of=AS_OF)
    assert rep.term.school_weeks == 3
    rooms = {r.room: r for r in rep.rooms}
    assert rooms["r1"].quality_recordings == 3 and "quality_recordings" not in rooms["r1"].reasons
    for old in ("r2", "b1"):  # an old agent: unknown, with the reason, never 0
        assert rooms[old].quality_recordings is None
        assert rooms[old].reasons["quality_recordings"] == engine.WHY_QUALITY
    a, b = rep.schools
    assert a.quality_recordings_by_subject == {"chinese": 1, "math": 2}
    assert a.quality_target_met_by_subject == {"chinese": False, "math": True}
    assert a.quality_subjects_meeting == 1
    hwa = a.homework_by_class_subject
    assert hwa is not None and set(hwa) == {"c1", "c2"}
    c1 = hwa["c1"]["math"]
    assert c1.tablet_class and (c1.assignments, c1.submissions) == (5, 105)
    assert c1.submission_rate == 0.65625
    assert (c1.week_target, c1.weeks_meeting, c1.school_weeks) == (2, 2, 3)
    assert c1.weekly_rate == 0.666667 and not c1.meets_weekly
    assert (c1.term_target, c1.term_rate, c1.meets_term) == (3, 1.666667, True)
    c2 = hwa["c2"]["chinese"]
    assert not c2.tablet_class and (c2.assignments, c2.submissions) == (2, 0)
    assert c2.submission_rate is None
    assert (c2.week_target, c2.weeks_meeting, c2.term_target, c2.term_rate) == (1, 2, 2, 1.0)
    assert (a.homework_class_subjects, a.homework_meeting_weekly,
            a.homework_meeting_term) == (2, 0, 2)
    assert b.quality_recordings_by_subject is None and b.homework_by_class_subject is None
    assert b.reasons["quality_recordings_by_subject"] == engine.WHY_QUALITY
    assert b.reasons["homework_by_class_subject"] == engine.WHY_HOMEWORK
    assert b.homework_class_subjects is None and b.quality_subjects_meeting is None
    d = rep.district
    assert d.quality_recordings_by_subject == {"chinese": 1, "math": 2}
    assert d.quality_subjects_meeting == 1 and d.quality_target_met_by_subject is None
    assert d.homework_by_class_subject is None and d.homework_class_subjects == 2
    assert d.reasons["homework_by_class_subject"] == engine.WHY_HOMEWORK_DISTRICT
    # one school's report has the same figures; a room's report has no per-class table
    one = term_report(cfg, s, "2026 autumn", school="a", as_of=AS_OF).schools[0]
    assert one.homework_by_class_subject == hwa
    room = term_report(cfg, s, "2026 autumn", school="a", room="r1", as_of=AS_OF).schools[0]
    assert room.homework_by_class_subject is None
    assert room.quality_recordings_by_subject == {"chinese": 1, "math": 2}


def test_aggregates_rebuilt_equal_incremental(store) -> None:
    """The aggregates kept on ingest equal the ones rebuilt from the stored rows."""
    cfg, s = store
    _apply(s, showcase_revisions() + fixture_messages(), 3)
    before = msgspec.to_builtins(term_report(cfg, s, "2026 autumn", as_of=AS_OF).schools)
    with s.db.transaction() as c:
        c.execute("DELETE FROM meta WHERE key = 'terms'")
    assert s.sync_terms()
    after = msgspec.to_builtins(term_report(cfg, s, "2026 autumn", as_of=AS_OF).schools)
    assert after == before


def test_report_formats_carry_the_new_figures(store, tmp_path) -> None:
    import csv
    import io
    import json

    import openpyxl

    cfg, s = store
    _apply(s, showcase_revisions() + fixture_messages(), 100)
    rep = term_report(cfg, s, "2026 autumn", as_of=AS_OF)
    doc = json.loads(render(rep, "json"))
    a = doc["schools"][0]
    assert a["quality_recordings_by_subject"] == {"chinese": 1, "math": 2}
    assert a["homework_by_class_subject"]["c1"]["math"]["assignments"] == 5
    rows = list(csv.reader(io.StringIO(render(rep, "csv").decode("utf-8-sig"))))
    heads = [r for r in rows if r[0] == "层级 level"]
    school_head = heads[1]
    row = next(r for r in rows if r[0] == "schools" and r[1] == "a")
    cell = row[school_head.index("各班各科平板作业数 homework_by_class_subject")]
    assert "c1/math: 5" in cell and "c2/chinese: 2" in cell
    assert row[school_head.index("精品课达标学科数 quality_subjects_meeting")] == "1"
    path = tmp_path / "r.xlsx"
    path.write_bytes(render(rep, "xlsx"))
    wb = openpyxl.load_workbook(path)
    ws = wb["作业 homework"]
    header = [c.value for c in ws[1]]
    got = {(r[header.index("班级 class_id")], r[header.index("学科 subject")]):
           r[header.index("学期作业数 assignments")] for r in ws.iter_rows(min_row=2,
                                                                    values_only=True)}
    assert got == {("c1", "math"): 5, ("c2", "chinese"): 2}


def test_migration_fills_lessons_stored_before_it(store) -> None:
    """A database of schema 1 (lessons stored before quality marks were kept) gets the new
    columns filled from the stored data and the aggregates rebuilt when opened."""
    cfg, s = store
    _apply(s, showcase_revisions() + fixture_messages(), 100)
    want = msgspec.to_builtins(term_report(cfg, s, "2026 autumn", as_of=AS_OF).schools)
    url = s.db.url if hasattr(s.db, "url") else f"sqlite:///{s.db.path}"
    with s.db.transaction() as c:  # back to schema 1
        for table in ("agg_homework", "agg_class"):
            c.execute(f"DROP TABLE {table}")
        for table, col in (("lessons", "quality"), ("lessons", "tablets"),
                           ("agg_week", "quality_recordings"), ("agg_week", "quality_known"),
                           ("agg_week", "homework_days"),
                           ("agg_subject", "quality_recordings"),
                           ("agg_subject", "quality_known")):
            c.execute(f"ALTER TABLE {table} DROP COLUMN {col}")
        c.execute("DELETE FROM schema_migrations WHERE version = 2")
    s.close()
    again = Store.open(url, cfg.terms, cfg.schools)
    try:
        assert again.schema_version() == 2
        got = msgspec.to_builtins(term_report(cfg, again, "2026 autumn", as_of=AS_OF).schools)
        assert got == want
    finally:
        again.close()


def test_a_class_handing_in_on_tablets_is_a_tablet_class_in_every_subject(store) -> None:
    cfg, s = store
    _apply(s, [message("a", "r1", usage("2026-09-08", 0, 0, 0, [
        hw("c3", "math", 1, 30, 0.75), hw("c3", "art", 1)]))], 100)
    a = term_report(cfg, s, "2026 autumn", as_of=AS_OF).schools[0]
    c3 = a.homework_by_class_subject["c3"]
    assert c3["math"].tablet_class and c3["art"].tablet_class
    assert (c3["art"].week_target, c3["art"].term_target) == (2, 3)
