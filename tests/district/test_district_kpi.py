"""Hand-computed figures on a small fixture, on SQLite and on a real PostgreSQL.

Term 2026-09-01 (Tue) .. 2026-09-30 (Wed), the week of 14-18 Sep a holiday: school weeks
up to the end are W36, W37, W39, W40 = 4. Targets: 4 smart lessons, 2 subjects per room.

a/r1 (recording capability):
  31 Aug math smart           before the term: not counted
  01 Sep math smart recorded  first day: counted, W36 recorded
  08 Sep chinese smart        counted; sent again with a new envelope id: still once
  15 Sep english smart rec.   holiday week: a lesson, but W38 is not a school week
  30 Sep physics not smart, recorded: last day, W40 recorded
  01 Oct math smart           after the term: not counted
  -> lessons 4, smart 3 (0.75), subjects math/chinese/english 3 (1.5),
     recorded weeks 2 of 4 (0.5)
a/r2 (no recording): math smart, math smart, biology not smart then revision 1 smart, then
  revision 0 again (ignored); usage of 08 Sep rev 0 (1), rev 2 (3), rev 1 late (2) -> 3
  -> lessons 3, smart 3 (0.75), subjects 2 (1.0), not a recording room
a/r3: in the roster, never sent anything -> silent, rates null with the reason
school a: smart 6 over 3 rooms = 2 per room -> 0.5; subjects (3+2+0)/3 -> 0.833333
"""

from __future__ import annotations

from datetime import date

import pytest

from district.config import from_dict
from district.ingest.parse import Record, parse
from district.kpi import engine
from district.kpi.engine import term_report, weekly_series
from district.report import render
from district.store.store import Store
from tests.helpers.district import CFG, fixture_messages, lesson, message


@pytest.fixture
def store(storage_url: str):
    cfg = from_dict(CFG)
    s = Store.open(storage_url, cfg.terms, cfg.schools)
    try:
        yield cfg, s
    finally:
        s.close()


@pytest.mark.parametrize("batch", [1, 100])
def test_hand_computed_figures(store, batch: int) -> None:
    cfg, s = store
    items = [parse(t, p, "classroom") for t, p in fixture_messages()]
    assert all(isinstance(i, Record) for i in items)
    for i in range(0, len(items), batch):
        s.apply(items[i:i + batch])
    # everything delivered twice more (at-least-once): nothing changes
    s.apply(items)
    rep = term_report(cfg, s, "2026 autumn", as_of=date(2026, 10, 15))
    assert rep.term.school_weeks == 4
    rooms = {r.room: r for r in rep.rooms}
    r1, r2, r3 = rooms["r1"], rooms["r2"], rooms["r3"]
    assert (r1.lessons, r1.smart_lessons, r1.class_hour_rate) == (4, 3, 0.75)
    assert (r1.subjects_taught, r1.subject_rate) == (3, 1.5)
    assert r1.subjects == ["chinese", "english", "math"]
    assert (r1.recording_room, r1.recorded_lessons, r1.recorded_weeks) == (True, 3, 2)
    assert r1.recording_room_weekly_rate == 0.5
    assert r1.state == "online"
    assert (r2.lessons, r2.smart_lessons, r2.class_hour_rate) == (3, 3, 0.75)
    assert (r2.subjects_taught, r2.subject_rate) == (2, 1.0)
    assert r2.recording_room is False and r2.recording_room_weekly_rate is None
    assert "recording_room_weekly_rate" in r2.reasons
    assert r2.usage_lessons == 3
    assert r2.state == "offline"
    assert r3.silent and r3.lessons == 0 and r3.class_hour_rate is None
    assert r3.reasons["class_hour_rate"] == engine.WHY_SILENT
    # the summaries carry quality marks (none): 0; a silent room: null with the reason
    assert (r1.quality_recordings, r2.quality_recordings, r3.quality_recordings) == (0, 0, None)
    assert r3.reasons["quality_recordings"] == engine.WHY_QUALITY
    # rooms that report say how many live lessons they had (none); a silent one cannot
    assert (r1.live_lessons, r2.live_lessons, r3.live_lessons) == (0, 0, None)
    assert "live_lessons" in r3.reasons
    (a,) = rep.schools
    assert (a.rooms, a.reporting_rooms, a.silent_rooms, a.smart_lessons) == (3, 2, 1, 6)
    assert a.smart_lessons_per_room == 2.0 and a.class_hour_rate == 0.5
    assert a.subjects_per_room == 1.666667 and a.subject_rate == 0.833333
    assert (a.recording_rooms, a.recording_room_weekly_rate) == (1, 0.5)
    assert a.quality_recordings_by_subject == dict.fromkeys(
        ["biology", "chinese", "english", "math", "physics"], 0)
    assert a.quality_subjects_meeting == 0
    # r2's usage carries homework (none set): an empty table, not null
    assert a.homework_by_class_subject == {} and a.homework_class_subjects == 0
    assert a.live_lessons == 0
    assert rep.district.schools == 1 and rep.district.class_hour_rate == 0.5
    c = s.counters()
    assert c["lessons:stored"] == 9  # L1..L6, M1..M3
    # M3's revision replaced it in the store, or in the batch when both came together
    assert c.get("lessons:revised", 0) + c.get("lessons:superseded", 0) >= 1
    assert c.get("usage:revised", 0) + c.get("usage:superseded", 0) >= 1
    # as of mid-term only the school weeks so far count
    mid = term_report(cfg, s, "2026 autumn", as_of=date(2026, 9, 9))
    assert mid.term.school_weeks == 2
    assert {r.room: r.recording_room_weekly_rate for r in mid.rooms}["r1"] == 0.5  # W36 of 2
    weeks = {w.week: w for w in weekly_series(cfg, s, "2026 autumn", as_of=date(2026, 10, 1))}
    assert weeks["2026-W38"].school_week is False and weeks["2026-W38"].lessons == 1
    assert weeks["2026-W37"].lessons == 4 and weeks["2026-W37"].usage_lessons == 3


def test_rates_above_100_percent_are_not_capped(store) -> None:
    cfg, s = store
    items = [parse(*message("a", "r1", lesson("2026-09-02", f"X{i}", f"s{i}", True)),
                   "classroom") for i in range(10)]
    s.apply(items)
    r1 = {r.room: r for r in term_report(cfg, s, "2026 autumn").rooms}["r1"]
    assert r1.class_hour_rate == 2.5 and r1.subject_rate == 5.0


def test_live_lessons_are_counted_once_rooms_send_the_field(store) -> None:
    cfg, s = store
    live = {"minutes": 38.5, "outages": [], "url_host": "live.example.cn", "counted": True}
    short = {"minutes": 6.0, "outages": [], "url_host": "live.example.cn", "counted": False}
    s.apply([parse(*message("a", "r1", lesson("2026-09-02", "V1", "math", True),
                            data_patch={"live": live}), "classroom"),
             # an agent older than live lessons sends no ``live``: unknown, not 0
             parse(*message("a", "r1", lesson("2026-09-03", "V2", "math", True),
                            data_drop=("live",)), "classroom"),
             parse(*message("a", "r2", lesson("2026-09-03", "V3", "math", True),
                            data_patch={"live": short}), "classroom")])
    rep = term_report(cfg, s, "2026 autumn")
    rooms = {r.room: r for r in rep.rooms}
    assert rooms["r1"].live_lessons == 1 and rooms["r2"].live_lessons == 0
    assert rooms["r3"].live_lessons is None
    assert rep.schools[0].live_lessons == 1 and rep.schools[0].live_lessons_rate == 0.25


def test_changed_terms_rebuild_the_aggregates(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/d.sqlite"
    cfg = from_dict(CFG)
    s = Store.open(url, cfg.terms, cfg.schools)
    s.apply([parse(t, p, "classroom") for t, p in fixture_messages()])
    s.close()
    wider = from_dict({**CFG, "terms": [{"name": "2026 autumn", "start": "2026-08-01",
                                         "end": "2026-10-31"}]})
    s = Store.open(url, wider.terms, wider.schools)
    try:
        r1 = {r.room: r for r in term_report(wider, s, "2026 autumn").rooms}["r1"]
        assert r1.lessons == 6  # L1 and L6 now inside the term
    finally:
        s.close()


def test_report_formats(store, tmp_path) -> None:
    import csv
    import io
    import json

    import openpyxl

    cfg, s = store
    s.apply([parse(t, p, "classroom") for t, p in fixture_messages()])
    rep = term_report(cfg, s, "2026 autumn", as_of=date(2026, 10, 15))
    doc = json.loads(render(rep, "json"))
    assert doc["term"]["name"] == "2026 autumn" and doc["targets"]["required_subjects"] == 2
    assert {r["room"]: r["class_hour_rate"] for r in doc["rooms"]} == {
        "r1": 0.75, "r2": 0.75, "r3": None}
    assert doc["schools"][0]["quality_recordings_by_subject"]["math"] == 0
    rows = list(csv.reader(io.StringIO(render(rep, "csv").decode("utf-8-sig"))))
    head = rows[1]
    assert head[0] == "层级 level" and "课时达标率 class_hour_rate" in head
    rooms = [r for r in rows if r[0] == "rooms"]
    assert len(rooms) == 3
    col = head.index("课时达标率 class_hour_rate")
    assert sorted(r[col] for r in rooms) == ["", "0.75", "0.75"]
    path = tmp_path / "r.xlsx"
    path.write_bytes(render(rep, "xlsx"))
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[:3] == ["教室 rooms", "学校 schools", "区县 district"]
    ws = wb["教室 rooms"]
    header = [c.value for c in ws[1]]
    col = header.index("课时达标率 class_hour_rate")
    cells = [ws.cell(row=i, column=col + 1) for i in range(2, 5)]
    assert sorted(c.value for c in cells if c.value is not None) == [0.75, 0.75]
    assert all(c.number_format == "0.00%" for c in cells if c.value is not None)
    school = wb["学校 schools"]
    header = [c.value for c in school[1]]
    assert school.cell(row=2, column=header.index("课时达标率 class_hour_rate") + 1).value == 0.5


def test_two_collectors_racing_on_one_postgresql_count_once(postgres) -> None:
    """The same messages applied at the same time by two writers (two collectors that both
    got a redelivered batch): every lesson and day counted once, aggregates exact."""
    import threading

    from district.simulate.fleet import build
    from tests.district.fleet_truth import compare

    url = postgres.new_database()
    cfg = from_dict({**CFG, "schools": [], "terms": [
        {"name": "2026 autumn", "start": "2026-09-01", "end": "2027-01-22"}]})
    stores = [Store.open(url, cfg.terms) for _ in range(2)]
    plan = build(12, 3, 3, date(2026, 9, 7), seed=5)
    items = [parse(m.topic, m.payload, "classroom") for m in plan.messages]
    errors: list[BaseException] = []

    def writer(s: Store, order: int) -> None:
        try:
            chunk = items if order == 0 else list(reversed(items))
            for i in range(0, len(chunk), 40):
                s.apply(chunk[i:i + 40])
        except BaseException as e:
            errors.append(e)

    try:
        threads = [threading.Thread(target=writer, args=(s, i)) for i, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        rep = term_report(cfg, stores[0], "2026 autumn", as_of=date(2026, 9, 9))
        assert compare(rep, plan.truth, "2026-09-01", "2027-01-22") == []
        assert stores[0].counters()["lessons:stored"] == len(plan.truth.lessons)
    finally:
        for s in stores:
            s.close()
