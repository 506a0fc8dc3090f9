"""The dashboard's views on the hand-computed KPI fixture (tests/district/test_district_kpi.py),
on SQLite and a real PostgreSQL: the matrix, lesson list and presence the pages show."""

from __future__ import annotations

from datetime import date

import pytest

from district.config import ConfigError, from_dict
from district.ingest.parse import parse
from district.kpi import views
from district.store.store import Store
from tests.helpers import district as helpers
from tests.helpers.district import CFG, fixture_messages

AS_OF = date(2026, 9, 30)


@pytest.fixture
def filled(storage_url: str):
    # the helpers number seqs per room across the session: leave them as we found them,
    # other modules' tests count on small seqs (test_district_web jumps a/r1 to 99)
    saved = dict(helpers._seq)
    cfg = from_dict(CFG)
    s = Store.open(storage_url, cfg.terms, cfg.schools)
    s.apply([parse(t, p, "classroom") for t, p in fixture_messages()])
    try:
        yield cfg, s
    finally:
        s.close()
        helpers._seq.clear()
        helpers._seq.update(saved)


def test_district_view(filled) -> None:
    cfg, store = filled
    d = views.district_view(cfg, store, "2026 autumn", as_of=AS_OF)
    assert [s["school"] for s in d["schools"]] == ["a"]
    # r1 0.75 (class hours), r2 0.75: both below; r3 is silent (null, not "below")
    assert [(r["room"]) for r in d["rooms_below_target"]] == ["r1", "r2"]
    assert d["schools"][0]["rooms_below_target"] == 2
    assert [(r["school"], r["room"]) for r in d["offline"]] == [("a", "r2")]
    assert d["online"] == 1 and d["rooms_total"] == 3
    # school weeks only: W38 (holiday) is not a row; recording rooms: r1 only
    weeks = {w["week"]: w for w in d["weekly"]}
    assert sorted(weeks) == ["2026-W36", "2026-W37", "2026-W39", "2026-W40"]
    assert weeks["2026-W36"]["recording_room_use"] == 1.0
    assert weeks["2026-W37"]["recording_room_use"] == 0.0
    # the summaries carry quality marks (none set): 0 per subject, not null
    assert d["district"]["quality_recordings_by_subject"]["math"] == 0
    assert d["district"]["quality_subjects_meeting"] == 0


def test_school_view_matrix_and_homework(filled) -> None:
    cfg, store = filled
    s = views.school_view(cfg, store, "2026 autumn", "a", as_of=AS_OF)
    h = s["heatmap"]
    assert h["weeks"] == ["2026-W36", "2026-W37", "2026-W39", "2026-W40"]
    cells = {(h["weeks"][w], h["subjects"][i]): n for w, i, n in h["cells"]}
    # smart lessons in school weeks: r1 math W36, chinese W37; r2 math x2 + biology W37
    assert cells == {("2026-W36", "math"): 1, ("2026-W37", "chinese"): 1,
                     ("2026-W37", "math"): 2, ("2026-W37", "biology"): 1}
    subj = {x["subject"]: x for x in s["subjects"]}
    assert subj["math"]["smart_lessons"] == 3 and subj["physics"]["smart_lessons"] == 0
    rec = {x["subject"]: x for x in s["recordings_by_subject"]}
    assert rec["english"]["recorded_lessons"] == 1 and rec["english"]["target"] == 5
    assert rec["english"]["quality_recordings"] == 0 and rec["english"]["meets"] is False
    # r2's daily usage carries homework (none set): zeros, not null
    assert s["homework"]["by_class_subject"] == {} and s["homework"]["reason"] is None
    assert all(c["homework_per_week"] == 0 for c in s["homework"]["classes"])
    assert all(c["tablet_class"] is False for c in s["homework"]["classes"])


def test_school_view_quality_and_homework(storage_url: str) -> None:
    from tests.district import test_district_quality_homework as qh

    saved = dict(helpers._seq)
    cfg = from_dict(qh.CFG)
    s = Store.open(storage_url, cfg.terms, cfg.schools)
    try:
        s.apply([parse(t, p, "classroom")
                 for t, p in qh.showcase_revisions() + qh.fixture_messages()])
        v = views.school_view(cfg, s, "2026 autumn", "a", as_of=qh.AS_OF)
        rec = {x["subject"]: x for x in v["recordings_by_subject"]}
        assert (rec["math"]["quality_recordings"], rec["math"]["meets"]) == (2, True)
        assert (rec["chinese"]["quality_recordings"], rec["chinese"]["meets"]) == (1, False)
        # english: only an old summary (no quality fields) -> unknown with the reason
        assert rec["english"]["quality_recordings"] is None and rec["english"]["reason"]
        hw = {(c["class_id"], c["subject"]): c for c in v["homework"]["classes"]}
        c1 = hw[("c1", "math")]
        # W37 2, W39 2 of the school weeks W36, W37, W39 (the holiday week's 1 not in them)
        assert c1["weeks"] == {"2026-W36": 0, "2026-W37": 2, "2026-W39": 2}
        assert c1["homework_per_week"] == 1.333 and c1["homework_term"] == 5
        assert c1["tablet_class"] and c1["week_target"] == 2 and c1["meets_term"]
        c2 = hw[("c2", "chinese")]
        assert not c2["tablet_class"] and (c2["week_target"], c2["term_target"]) == (1, 2)
        b = views.school_view(cfg, s, "2026 autumn", "b", as_of=qh.AS_OF)
        assert b["homework"]["by_class_subject"] is None and b["homework"]["reason"]
        assert all(c["homework_per_week"] is None for c in b["homework"]["classes"])
    finally:
        s.close()
        helpers._seq.clear()
        helpers._seq.update(saved)


def test_room_view_lessons_and_presence(filled) -> None:
    cfg, store = filled
    r = views.room_view(cfg, store, "2026 autumn", "a", "r1", as_of=AS_OF)
    # in the term only (not 31 Aug, not 1 Oct), the re-sent one once
    assert [x["lesson_id"] for x in r["lessons"]] == ["L2", "L3", "L4", "L5"]
    l2 = r["lessons"][0]
    assert l2["subject"] == "math" and l2["smart"] and l2["recorded"] and l2["minutes"] == 40
    assert r["presence"]["state"] == "online" and "recording" in r["presence"]["capabilities"]
    assert [d["date"] for d in r["history"]] == ["2026-09-01", "2026-09-08", "2026-09-15",
                                                 "2026-09-30"]
    assert r["room"]["lessons"] == 4  # the engine's figure for the same room
    silent = views.room_view(cfg, store, "2026 autumn", "a", "r3", as_of=AS_OF)
    assert silent["lessons"] == [] and silent["room"]["class_hour_rate"] is None


def test_unknown_and_bad_ids(filled) -> None:
    cfg, store = filled
    with pytest.raises(views.NotFound):
        views.school_view(cfg, store, "2026 autumn", "zz", as_of=AS_OF)
    with pytest.raises(views.NotFound):
        views.room_view(cfg, store, "2026 autumn", "a", "r9", as_of=AS_OF)
    with pytest.raises(ValueError):
        views.school_view(cfg, store, "2026 autumn", "a' OR '1'='1", as_of=AS_OF)
    with pytest.raises(ConfigError):
        views.district_view(cfg, store, "no such term", as_of=AS_OF)


def test_data_version_grows_with_every_batch(filled) -> None:
    _, store = filled
    v0 = views.data_version(store)
    store.apply([parse(*fixture_messages()[3], "classroom")])  # a duplicate still counts
    assert views.data_version(store) > v0
