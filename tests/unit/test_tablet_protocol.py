"""The tablet protocol parser: every bad frame is a ProtocolError, never a crash."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.tablets import protocol as p

VALID = [
    {"type": "hello", "id": "m1", "protocol": 1, "device_id": "tab-01", "student_id": "stu-001",
     "app_version": "2.3.0", "join_code": "7A-2024"},
    {"type": "hello", "id": "m1", "protocol": 1, "device_id": "tab-01", "student_id": "stu-001",
     "token": "t0k"},
    {"type": "heartbeat", "id": "m2"},
    {"type": "checkin", "id": "m3"},
    {"type": "checkin", "id": "m3", "at": "2026-03-02T08:01:00+08:00"},
    {"type": "answer", "id": "m4", "question_id": "q1", "choice": "B", "time_to_answer_s": 4.2},
    {"type": "answer", "id": "m4", "question_id": "q1", "text": "photosynthesis"},
    {"type": "hand", "id": "m5", "state": "raise"},
    {"type": "hand", "id": "m5", "state": "lower"},
    {"type": "focus", "id": "m6", "state": "background"},
    {"type": "broadcast_ack", "id": "m7", "broadcast_id": "b-1"},
    {"type": "heartbeat", "id": "m8", "sent_at": "2026-03-02T08:00:00Z", "future_field": [1]},
]


@pytest.mark.parametrize("doc", VALID, ids=lambda d: d["type"])
def test_valid_messages_parse_and_round_trip(doc):
    msg = p.parse(json.dumps(doc))
    assert p.CLIENT_TYPES[doc["type"]] is type(msg)
    assert msg.id == doc["id"]
    again = p.parse(p.encode(msg))
    assert again == msg


@pytest.mark.parametrize(("raw", "code", "ref"), [
    ("", "malformed_json", None),
    ("{", "malformed_json", None),
    (b"\xff\xfe{}", "malformed_json", None),
    ("null", "invalid_message", None),
    ("[]", "invalid_message", None),
    ('{"id":"a"}', "invalid_message", None),
    ('{"type":null,"id":"a"}', "invalid_message", None),
    ('{"type":"nope","id":"a"}', "unknown_type", "a"),
    ('{"type":"nope","id":5}', "unknown_type", None),
    ('{"type":"hand","id":"a"}', "invalid_field", "a"),
    ('{"type":"hand","id":"a","state":"RAISE"}', "invalid_field", "a"),
    ('{"type":"hello","id":"a","protocol":"1","device_id":"t","student_id":"s"}',
     "invalid_field", "a"),
    ('{"type":"hello","id":"a","protocol":1,"device_id":"bad id","student_id":"s"}',
     "invalid_field", "a"),
    ('{"type":"answer","id":"a","question_id":"q","choice":""}', "invalid_field", "a"),
    ('{"type":"answer","id":"a","question_id":"q","choice":"A","time_to_answer_s":1e9}',
     "invalid_field", "a"),
    ('{"type":"checkin","id":"a","at":12}', "invalid_field", "a"),
])
def test_bad_frames_are_classified(raw, code, ref):
    with pytest.raises(p.ProtocolError) as info:
        p.parse(raw)
    assert (info.value.code, info.value.ref) == (code, ref)
    assert info.value.code in p.ERROR_CODES


def test_server_messages_decode_for_app_makers():
    w = p.Welcome(protocol=1, session_id="s", server_time=datetime(2026, 3, 2, tzinfo=UTC),
                  heartbeat_s=15, max_message_bytes=8192, rate_per_s=20)
    for m in (w, p.Ack(ref="m1"), p.Ack(ref="m1", duplicate=True),
              p.Error(code="rate_limited", message="slow down", retry=True),
              p.QuestionMsg(question_id="q", prompt="?", choices=["a", "b"]),
              p.BroadcastMsg(broadcast_id="b", title="t"), p.LessonMsg(lesson=None)):
        assert p.decode_server(p.encode(m)) == m


def test_every_close_code_has_a_reason_name():
    codes = [v for k, v in vars(p).items() if k.startswith("CLOSE_") and isinstance(v, int)]
    assert set(codes) == set(p.CLOSE_REASONS)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=5),
    max_leaves=20,
)
type_names = st.sampled_from([*p.CLIENT_TYPES, "x", ""])
field_names = st.sampled_from(["id", "at", "state", "choice", "text", "question_id",
                               "time_to_answer_s", "protocol", "device_id", "student_id",
                               "broadcast_id", "token", "join_code", "sent_at", "zzz"])
messages = st.fixed_dictionaries(
    {"type": type_names}, optional={"id": st.text(max_size=70) | json_values}
).flatmap(lambda base: st.dictionaries(field_names, json_values, max_size=6).map(
    lambda extra: {**extra, **base}))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_fuzz_random_bytes_never_crash(raw):
    try:
        p.parse(raw)
    except p.ProtocolError as e:
        assert e.code in p.ERROR_CODES


def _nest(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


@pytest.mark.parametrize("kind", ["list", "dict"])
@pytest.mark.parametrize("where", ["id", "extra", "checkin_extra", "top"])
def test_deep_nesting_is_malformed_json_not_recursion_error(where, kind):
    # ~1000 levels fit in 2-4 KB, well under max_message_bytes, and used to raise
    # RecursionError out of parse() (a traceback + close 1011 in the gateway, pre-auth).
    deep = _nest(3000 if kind == "list" else 1300, kind)
    raw = {
        "id": '{"type":"hello","id":' + deep + "}",
        "extra": '{"type":"heartbeat","id":"a","zzz":' + deep + "}",
        "checkin_extra": '{"type":"checkin","id":"a","at":' + deep + "}",
        "top": deep,
    }[where]
    assert len(raw) < 8192  # passes the gateway's size check
    with pytest.raises(p.ProtocolError) as info:
        p.parse(raw)
    # a top-level array/object without `type` is refused before any recursion
    assert info.value.code in ({"invalid_message", "malformed_json"} if where == "top"
                               else {"malformed_json"})


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(p.CLIENT_TYPES)), st.integers(1, 5000),
       st.sampled_from(["[", '{"k":', '[{"k":']), st.sampled_from(["id", "zzz", "at", "state"]),
       st.booleans())
def test_fuzz_deep_nesting_never_crashes(type_, depth, opener, field, closed):
    closer = {"[": "]", '{"k":': "}", '[{"k":': "}]"}[opener]
    inner = "1" if opener != "[" else ""
    body = opener * depth + inner + (closer * depth if closed else "")
    raw = '{"type":"' + type_ + '","' + field + '":' + body + "}"
    try:
        p.parse(raw)
    except p.ProtocolError as e:
        assert e.code in p.ERROR_CODES


@settings(max_examples=300, deadline=None)
@given(messages)
def test_fuzz_structured_messages_parse_or_refuse(doc):
    raw = msgspec.json.encode(doc)
    try:
        msg = p.parse(raw)
    except p.ProtocolError as e:
        assert e.code in ("invalid_field", "unknown_type", "invalid_message")
        if e.ref is not None:
            assert e.ref == doc.get("id")
        return
    assert isinstance(msg, p.ClientMessage)
    assert isinstance(msg.id, str) and 1 <= len(msg.id) <= 64
