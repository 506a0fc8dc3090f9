"""Live lessons without servers: the target URL (never shown with its key), the config
checks, and the lesson arithmetic (live minutes minus outages, counted or not)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.config import ConfigError, from_dict
from agent.events import LiveEvent, LiveOutage
from agent.lessons.signals import live_signal
from agent.lessons.summary import live_usage
from agent.live.target import TargetError, parse, resolve

ORIGIN = datetime(2026, 9, 7, 0, 0, tzinfo=UTC)


def test_target_shows_the_host_never_the_key(tmp_path) -> None:
    t = parse("rtmp://live.example.edu:1935/live/s3cr3t-key")
    assert (t.protocol, t.host) == ("rtmp", "live.example.edu:1935")
    assert "s3cr3t" not in t.shown
    assert t.scrub("Broken pipe: 'rtmp://live.example.edu:1935/live/s3cr3t-key'") == (
        "Broken pipe: 'rtmp://live.example.edu:1935/…'")
    s = parse("srt://10.0.0.5:9000?streamid=publish:room1&passphrase=abcdefghij")
    assert (s.protocol, s.host) == ("srt", "10.0.0.5:9000")
    assert "abcdefghij" not in s.scrub(f"error for {s.url}")
    f = tmp_path / "url"
    f.write_text("rtmps://x.example/app/k\n")
    assert resolve(None, str(f)).protocol == "rtmps"
    assert resolve(None, None) is None
    for bad in ("http://x/live/k", "rtmp://x/live", "srt://x", "rtmp:///live/k"):
        with pytest.raises(TargetError):
            parse(bad)


@given(st.text(max_size=80))
def test_any_url_text_is_parsed_or_refused_clearly(text: str) -> None:
    try:
        t = parse(text)
    except TargetError as e:
        assert str(e)
    else:
        assert t.protocol in ("rtmp", "rtmps", "srt") and t.host


def test_config_checks() -> None:
    with pytest.raises(ConfigError) as e:
        from_dict({"cameras": [{"id": "cam", "url": "rtsp://c/s"}],
                   "live": {"url": "http://x/y/z", "camera": "nope", "backoff_min_s": 0}})
    text = str(e.value)
    assert "live.url: scheme must be" in text and "live.camera: no camera 'nope'" in text
    assert "live.backoff_min_s" in text
    cfg = from_dict({"live": {"url": "rtmp://h/live/key"}})
    assert cfg.live.min_minutes == 20.0 and cfg.live.audio


def _sig(at: float, kind: str, **d):
    return (at, kind, {"id": "L1", **d})


def _iso(s: float) -> str:
    return (ORIGIN + timedelta(seconds=s)).isoformat()


def test_live_minutes_exclude_outages_and_count_from_min_minutes() -> None:
    signals = [
        _sig(60, "live_start", host="h:1935"),
        _sig(600, "live_out", reason="gone"),
        _sig(700, "live_back"),
        _sig(1860, "live_end", outages=[[_iso(590), _iso(650), "Connection refused"]]),
    ]
    lv = live_usage(signals, 0, 2700, ORIGIN, min_minutes=20)
    # 30 live minutes minus one minute of outage (the end signal's exact times win)
    assert lv.minutes == 29.0 and lv.counted and lv.url_host == "h:1935"
    assert lv.outages == [LiveOutage(start=ORIGIN + timedelta(seconds=590),
                                     end=ORIGIN + timedelta(seconds=650),
                                     reason="Connection refused")]
    assert not live_usage(signals, 0, 2700, ORIGIN, min_minutes=30).counted
    # still live at the lesson's end, an outage still open: clipped to the lesson
    open_sigs = [_sig(0, "live_start", host="h"), _sig(1200, "live_out", reason="x")]
    lv = live_usage(open_sigs, 0, 1500, ORIGIN, min_minutes=20)
    assert lv.minutes == 20.0 and lv.counted and lv.outages[0].end == ORIGIN + timedelta(
        seconds=1500)
    # an agent gap ends it like a recording
    gap = [_sig(0, "live_start"), (300.0, "gap", {"from": 300.0, "to": 900.0})]
    assert live_usage(gap, 0, 1500, ORIGIN).minutes == 5.0
    assert live_usage([], 0, 1500, ORIGIN) == live_usage([], 0, 1500, ORIGIN, 0)


def test_live_event_signals_never_carry_the_key() -> None:
    now = ORIGIN
    e = LiveEvent(live_id="L1", action="stopped", started=now, url_host="h:1",
                  outages=[LiveOutage(start=now, end=now, reason="r")])
    kind, data = live_signal(e)
    assert kind == "live_end" and data["outages"] == [[now.isoformat(), now.isoformat(), "r"]]
    assert live_signal(LiveEvent(live_id="L1", action="started", started=now,
                                 url_host="h:1")) == ("live_start", {"id": "L1", "host": "h:1"})


def test_a_missing_ffmpeg_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as e:
        from_dict({"live": {"url": "rtmp://h/live/key", "ffmpeg_command": "no-such-ffmpeg"}})
    assert "live.ffmpeg_command: 'no-such-ffmpeg' not found" in str(e.value)
