"""Hostile payloads: every one is stored or dead-lettered with a reason and counted; the
store keeps working afterwards. Hypothesis on SQLite; a fixed corpus on both engines."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.uplink.envelope import Envelope
from district.config import from_dict
from district.ingest.parse import DeadLetter, RawEnvelope, Record, parse
from district.store.store import SeqState, Store
from tests.helpers.district import lesson, message, usage

CFG = from_dict({"web": {"listen": ""},
                 "terms": [{"name": "t", "start": "2026-09-01", "end": "2027-01-31"}]})
GOOD = message("s1", "r1", lesson("2026-09-02", "L1", "math", True))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12)


@st.composite
def hostile(draw) -> tuple[str, bytes]:
    topic, payload = GOOD
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return topic, draw(st.binary(max_size=300))
    doc = json.loads(payload)
    if kind == 1:  # an envelope field replaced by anything
        doc[draw(st.sampled_from(sorted(doc)))] = draw(json_values)
    elif kind == 2:  # a data field replaced by anything
        doc["data"][draw(st.sampled_from(sorted(doc["data"])))] = draw(json_values)
    elif kind == 3:  # another topic
        topic = draw(st.text(max_size=60))
    else:
        doc["type"] = draw(st.sampled_from(["usage_daily", "status", "health", "recording",
                                            "attendance", "engagement_window", "zzz"]))
    try:
        return topic, json.dumps(doc).encode()
    except (ValueError, UnicodeEncodeError):
        return topic, b"{"


def test_the_raw_envelope_keeps_the_agents_fields() -> None:
    assert RawEnvelope.__struct_fields__ == Envelope.__struct_fields__


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory):
    s = Store.open(f"sqlite:///{tmp_path_factory.mktemp('fz')}/d.sqlite", CFG.terms)
    yield s
    s.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile(), min_size=1, max_size=8))
def test_hostile_payloads_are_counted_never_fatal(sqlite_store, msgs) -> None:
    items = [parse(t, p, "classroom") for t, p in msgs]
    for item in items:
        assert isinstance(item, Record | DeadLetter)
        if isinstance(item, DeadLetter):
            assert item.reason in {"bad_topic", "bad_json", "bad_envelope", "newer_schema",
                                   "unknown_type", "topic_mismatch", "bad_data"}
    before = sqlite_store.counters()
    sqlite_store.apply(items)
    after = sqlite_store.counters()
    dead = sum(isinstance(i, DeadLetter) for i in items)
    got = sum(v - before.get(k, 0) for k, v in after.items() if k.startswith("dead_letters:"))
    assert got == dead


NASTY = [
    ("classroom/s1/r1/lessons", b""),
    ("classroom/s1/r1/lessons", b"\xff\xfe"),
    ("classroom/s1/r1/lessons", b"[]"),
    ("classroom/s1/r1/lessons", GOOD[1].replace(b'"v":1', b'"v":2')),
    ("classroom/s1/r1/lessons", GOOD[1].replace(b'"v":1', b'"v":"1"')),
    ("classroom/s1/r1/lessons", GOOD[1].replace(b'"seq":', b'"seq":99999999999999999999')),
    ("classroom/s1/r1/lessons", GOOD[1].replace(b'"math"', b'"ma\\u0000th"')),
    ("classroom/s1/r1/lessons", GOOD[1].replace(b'"math"', b'"\\ud800"')),
    ("classroom/s1/r1/lessons", GOOD[1].replace(b'"L1"', b'"' + b"x" * 5000 + b'"')),
    ("classroom/s1/r1/lessons", GOOD[1].replace(b'"2026-09-02"', b'"2026-02-30"')),
    ("classroom/s1/r2/lessons", GOOD[1]),  # envelope names another room
    ("classroom/s1/r1/usage", GOOD[1]),  # a lesson on the usage topic
    ("classroom/s1/r1/usage", message("s1", "r1", usage("2026-09-02", -1, 1, 1))[1]),
    ("classroom/s1", GOOD[1]),
    ("other/s1/r1/lessons", GOOD[1]),
]


def test_a_corpus_of_nasty_payloads_on_both_engines(storage_url: str) -> None:
    s = Store.open(storage_url, CFG.terms)
    try:
        items = [parse(t, p, "classroom") for t, p in NASTY]
        s.apply(items)
        dead = [i for i in items if isinstance(i, DeadLetter)]
        stored = [i for i in items if isinstance(i, Record)]
        assert len(dead) == 14 and len(stored) == 1  # the NUL in a subject is stored
        rows = s.dead_letters(100)
        assert len(rows) == len(dead) and all(r["reason"] for r in rows)
        assert sum(v for k, v in s.counters().items() if k.startswith("dead_letters:")) == len(
            dead)
        assert s.counters()["dead_letters:newer_schema"] == 1
        # the store still takes good data afterwards
        s.apply([parse(*GOOD, "classroom")])
        assert s.count("lessons") == 1  # the same lesson as the NUL one: a duplicate
        assert s.counters()["lessons:duplicate"] == 1
    finally:
        s.close()


def test_seq_gaps_duplicates_and_late_fills() -> None:
    st_ = SeqState()
    for s in (5, 6, 9, 7, 7, 12, 8):
        st_.add(s)
    # baseline 5; holes 7-8 and 10-11 opened; 7 and 8 filled late; 7 again is a duplicate
    assert (st_.max_seq, st_.missing, st_.gaps, st_.duplicates) == (12, 2, 2, 1)
    assert st_.holes == [[10, 11]]
    st_.add(10**9)
    assert st_.resets == 1 and st_.missing == 2


def test_seq_gaps_are_counted_per_room_and_topic(tmp_path) -> None:
    s = Store.open(f"sqlite:///{tmp_path}/d.sqlite", CFG.terms)
    try:
        msgs = [message("s1", "r1", lesson("2026-09-02", f"L{i}", "math", True), seq=q)
                for i, q in enumerate((1, 2, 5, 6))]
        msgs.append(message("s1", "r2", lesson("2026-09-02", "L1", "math", True), seq=1))
        s.apply([parse(t, p, "classroom") for t, p in msgs])
        rows = {(r["room"], r["topic"]): r for r in s.seq_state()}
        assert rows[("r1", "lessons")]["missing"] == 2 and rows[("r1", "lessons")]["gaps"] == 1
        assert rows[("r2", "lessons")]["missing"] == 0
        assert s.counters()["seq:gaps"] == 1
    finally:
        s.close()


def test_parse_keeps_the_agents_types() -> None:
    rec = parse(*GOOD, "classroom")
    assert isinstance(rec, Record) and rec.type == "lesson_summary"
    assert msgspec.structs.asdict(rec.event)["subject"] == "math"
