"""Window aggregation, the per-minute timeline, the drop-oldest queue, config checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent.engagement.frames import LatestQueue
from agent.engagement.window import Timeline, WindowAggregator
from agent.uplink.topics import ROUTES, TELEMETRY

T0 = datetime(2026, 9, 1, 8, 0, 5, tzinfo=UTC)


def test_window_numbers():
    w = WindowAggregator("cam1")
    for i, (faces, rate, hands) in enumerate([(30, 0.8, 1), (32, 0.9, 2), (31, None, 2)]):
        w.add(T0 + timedelta(seconds=i), 100.0 + i, faces, rate, hands)
    ev = w.close(T0 + timedelta(seconds=10), 110.0, "2026-09-01-p1")
    assert ev.head_count_median == 31 and ev.head_count_max == 32
    assert ev.head_up_rate == pytest.approx(0.85)
    assert ev.hands_raised == 2 and ev.hands_raised_max == 2
    assert ev.frames == 3 and ev.fps == pytest.approx(0.3)
    assert ev.lesson_id == "2026-09-01-p1" and ev.window_start == T0
    assert w.close(T0, 120.0, None) is None  # nothing analysed: no event
    assert ROUTES[type(ev)].priority == TELEMETRY


def test_timeline_per_minute_and_lesson():
    tl = Timeline(keep_minutes=3)
    w = WindowAggregator("cam1")
    for minute in range(5):
        for k in range(3):
            t = T0 + timedelta(minutes=minute, seconds=10 * k)
            w.add(t, 0.0, 20 + minute, 0.5 + 0.1 * k, None)
            tl.add(w.close(t + timedelta(seconds=9), 9.0, "L1" if minute < 4 else "L2"))
    rows = tl.query()
    assert len(rows) == 3  # only the last keep_minutes
    assert rows[0]["head_count"] == 22 and rows[0]["head_up_rate"] == pytest.approx(0.6)
    assert rows[0]["hands_raised"] is None
    assert [r["lesson_id"] for r in tl.query(lesson_id="L2")] == ["L2"]
    mins = tl.query(T0 + timedelta(minutes=3), T0.replace(minute=4, second=0))
    assert len(mins) == 1 and mins[0]["head_count"] == 23
    per_lesson = tl.lesson_minutes("L1", T0 + timedelta(minutes=2), 3)
    assert per_lesson == [pytest.approx(0.6), pytest.approx(0.6), None]


def test_latest_queue_drops_oldest():
    q = LatestQueue(2)
    for i in range(5):
        q.put(i)
    assert (q.get(timeout=1), q.get(timeout=1), q.dropped) == (3, 4, 3)


def test_config_checks(make_config):
    from agent.config import ConfigError

    cfg = make_config(cameras=[{"id": "c1", "url": "rtsp://127.0.0.1/main",
                                "sub_stream": "rtsp://127.0.0.1/sub", "role": "students"}],
                      engagement={"enabled": True})
    from agent.engagement.service import EngagementService

    svc = EngagementService.create(_Ctx(cfg))
    assert svc.camera_id == "c1" and svc.url.endswith("/sub") and not svc.keyframes_only
    cfg = make_config(cameras=[{"id": "c1", "url": "rtsp://127.0.0.1/main"}],
                      engagement={"enabled": True, "camera": "c1"})
    svc = EngagementService.create(_Ctx(cfg))
    assert svc.url.endswith("/main") and svc.keyframes_only
    assert EngagementService.create(_Ctx(make_config())) is None  # off by default
    with pytest.raises(ConfigError) as e:
        make_config(engagement={"enabled": True, "camera": "nope", "window_s": 0})
    text = str(e.value)
    assert "engagement.camera: no camera with id 'nope'" in text
    assert "engagement.window_s: must be > 0" in text


class _Ctx:
    def __init__(self, cfg) -> None:
        from agent.metrics import Metrics

        self.config = cfg
        self.metrics = Metrics()
