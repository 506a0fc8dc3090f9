"""VISCA codec: frames, replies, the IP header; fuzzed so garbage never crashes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.camera import visca as v


def test_preset_recall_frame() -> None:
    assert v.preset_recall(1, 5) == bytes.fromhex("81 01 04 3f 02 05 ff")
    assert v.preset_set(2, 0) == bytes.fromhex("82 01 04 3f 01 00 ff")
    assert v.power_inquiry(1) == bytes.fromhex("81 09 04 00 ff")


@pytest.mark.parametrize("bad", [lambda: v.command(0, b"\x01"), lambda: v.command(8, b"\x01"),
                                 lambda: v.preset_recall(1, 255), lambda: v.command(1, b"\xff")])
def test_bad_commands_refused(bad) -> None:
    with pytest.raises(ValueError):
        bad()


def test_parse_replies() -> None:
    assert v.parse_reply(bytes.fromhex("90 41 ff")) == v.Reply("ack", 1, 1)
    assert v.parse_reply(bytes.fromhex("90 51 ff")).kind == "completion"
    assert v.parse_reply(bytes.fromhex("90 50 02 ff")).data == b"\x02"
    err = v.parse_reply(bytes.fromhex("90 61 41 ff"))
    assert err.kind == "error" and err.error == "command not executable"
    for bad in ("90 ff", "90 41", "10 41 ff", "90 71 ff", "90 60 ff"):
        with pytest.raises(v.ViscaError):
            v.parse_reply(bytes.fromhex(bad))


def test_ip_header_roundtrip_and_errors() -> None:
    d = v.ip_wrap(v.TYPE_COMMAND, 0xFFFFFFFF + 2, b"\x81\x01\xff")
    assert d[:8] == bytes.fromhex("0100 0003 00000001")
    assert v.ip_unwrap(d) == (v.TYPE_COMMAND, 1, b"\x81\x01\xff")
    with pytest.raises(v.ViscaError):
        v.ip_unwrap(b"\x01\x00")
    with pytest.raises(v.ViscaError):
        v.ip_unwrap(bytes.fromhex("0100 0009 00000001") + b"\x81\xff")


def test_splitter_reassembles_and_drops_garbage() -> None:
    s = v.FrameSplitter()
    assert s.feed(b"\x90\x41") == []
    assert s.feed(b"\xff\x90\x51\xff") == [b"\x90\x41\xff", b"\x90\x51\xff"]
    assert s.feed(b"\x00" * 100) == []
    assert s.feed(b"\x90\x41\xff") == [b"\x90\x41\xff"]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80))
def test_fuzz_parsers_never_crash(data: bytes) -> None:
    for frame in v.FrameSplitter().feed(data):
        try:
            v.parse_reply(frame)
        except v.ViscaError:
            pass
    try:
        v.ip_unwrap(data)
    except v.ViscaError:
        pass
