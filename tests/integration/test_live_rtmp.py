"""Live push to a real nginx-rtmp server recording what it receives: codec copied, audio
AAC, duration = live time, one camera connection; a refused stream key; the server killed
and restarted mid-lesson."""

from __future__ import annotations

import subprocess

import pytest

from agent.events import LessonSummary, LiveEvent
from tests.helpers.media import ffprobe_url
from tests.helpers.servers import running
from tests.recording_helpers import RtspServer, ffprobe, video_stream, wait_for
from tests.stream_servers import NginxRtmp, SilentServer, have_nginx_rtmp

pytestmark = pytest.mark.skipif(not have_nginx_rtmp(), reason="nginx-light + libnginx-mod-rtmp "
                                "not installed (scripts/setup.sh --tests)")


@pytest.fixture
def rtsp():
    with running(RtspServer(width=320, height=240, fps=25, gop=25, audio=True)) as server:
        yield server


@pytest.fixture
def nginx(tmp_path):
    with running(NginxRtmp(tmp_path / "nginx")) as server:
        yield server


def live_cfg(make_config, camera_url: str, live_url: str, **live):
    return make_config(
        cameras=[{"id": "teacher", "role": "teacher", "url": camera_url, "read_timeout_s": 2.0,
                  "connect_timeout_s": 2.0}],
        recording={"segment_s": 2.0, "stall_s": 2.0, "reconnect_max_s": 2.0},
        live={"url": live_url, "backoff_min_s": 0.5, "backoff_max_s": 2.0, **live},
    )


def rtsp_sessions(port: int) -> int:
    """Established TCP connections to the camera's RTSP port (one per RTSP session)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
                         capture_output=True, text=True, timeout=10)
    return len([line for line in out.stdout.splitlines() if line.strip()])


async def test_push_copies_the_camera_over_its_one_connection(make_config, run_agent, rtsp,
                                                              nginx) -> None:
    src = video_stream(ffprobe_url(rtsp.url))
    events: list[LiveEvent] = []
    async with run_agent(live_cfg(make_config, rtsp.url, nginx.url("k-secret"))) as agent:
        agent.ctx.bus.add_listener(lambda e: isinstance(e, LiveEvent) and events.append(e))
        live = agent.ctx.services["live"]
        rec = agent.ctx.services["recording"]
        started = await live.start_live(trigger="test")
        assert started["url_host"] == f"127.0.0.1:{nginx.port}"
        assert rec.session is not None  # going live records the lesson too
        await wait_for(lambda: live.status()["state"] == "live", 30, "live")
        await wait_for(lambda: live.session.push.live_s > 8, 40, "8 s live")
        assert rtsp_sessions(rtsp.port) == 1  # recording and live share one RTSP session
        st = live.status()
        assert st["audio"] == "encode" and st["bytes"] > 0
        assert "k-secret" not in str(st)
        done = await live.stop_live(trigger="test")
        assert rec.session is None  # live started it, live stopped it
    assert [e.action for e in events] == ["started", "stopped"]
    assert all("k-secret" not in str(e) for e in events)
    [flv] = nginx.recordings()
    p = ffprobe(flv)
    v = video_stream(p)
    assert (v["codec_name"], v["profile"], v["width"], v["height"]) == (
        src["codec_name"], src["profile"], src["width"], src["height"])
    [a] = [s for s in p["streams"] if s["codec_type"] == "audio"]
    assert a["codec_name"] == "aac"
    assert abs(float(p["format"]["duration"]) - done["live_s"]) <= 1.0, (p["format"], done)


async def test_refused_stream_key_is_one_clear_error(make_config, run_agent, rtsp,
                                                     nginx) -> None:
    events: list[LiveEvent] = []
    cfg = live_cfg(make_config, rtsp.url, nginx.url("wrong-key", app="closed"))
    async with run_agent(cfg) as agent:
        agent.ctx.bus.add_listener(lambda e: isinstance(e, LiveEvent) and events.append(e))
        live = agent.ctx.services["live"]
        rec = agent.ctx.services["recording"]
        await live.start_live(trigger="test")
        await wait_for(lambda: any(e.action == "failed" for e in events), 40, "failed")
        failed = next(e for e in events if e.action == "failed")
        assert "refused the stream" in failed.reason and "wrong-key" not in failed.reason
        st = live.status()
        assert st["state"] == "idle" and st["last"]["state"] == "failed"
        assert "refused" in st["last"]["reason"]
        # the recording goes on, untouched
        cam = rec.session.m.cameras[0]
        n = len(cam.segments)
        await wait_for(lambda: len(cam.segments) >= n + 2, 30, "recording goes on")
        assert not rec.session.m.gaps
        await rec.stop_recording()
    # no retry storm: nginx saw a handful of publish attempts, not one per backoff step
    attempts = (nginx.root / "error.log").read_text().count("publish: name='wrong-key'")
    assert 1 <= attempts <= 3, attempts


async def test_server_lost_and_back_mid_lesson(make_config, run_agent, rtsp, nginx) -> None:
    events: list[LiveEvent] = []
    summaries: list[LessonSummary] = []
    cfg = live_cfg(make_config, rtsp.url, nginx.url(), min_minutes=0.1)
    cfg.lessons.idle_end_s = 0  # the ad-hoc lesson ends with its recording
    cfg.lessons.tick_s = 0.5
    async with run_agent(cfg) as agent:
        agent.ctx.bus.add_listener(lambda e: isinstance(e, LiveEvent) and events.append(e))
        agent.ctx.bus.add_listener(
            lambda e: isinstance(e, LessonSummary) and summaries.append(e))
        live = agent.ctx.services["live"]
        rec = agent.ctx.services["recording"]
        await rec.start_recording(title="Remote lesson", trigger="test")
        await live.start_live(trigger="test")
        await wait_for(lambda: live.status()["state"] == "live", 30, "live")
        await wait_for(lambda: live.session.push.live_s > 4, 30, "4 s live")
        nginx.kill()
        await wait_for(lambda: live.status()["state"] == "outage", 30, "an outage")
        assert live.status()["outages"][0]["end"] is None
        nginx.start()  # same port: the district's server is back
        await wait_for(lambda: live.status()["state"] == "live", 40, "the push back by itself")
        await wait_for(lambda: live.session.push.live_s > 10, 40, "more live")
        done = await live.stop_live(trigger="test")
        assert rec.session is not None  # the teacher's recording is not live's to stop
        cam = rec.session.m.cameras[0]
        assert rec.session.m.gaps == [] and cam.status == "online"  # no gap in the recording
        await rec.stop_recording()
        await wait_for(lambda: summaries, 30, "the lesson's summary")
    assert done["outages"] == 1
    # the outage is in the lesson's summary, the key is not
    [summary] = summaries
    [so] = summary.live.outages
    assert so.end is not None and so.end > so.start and so.reason
    assert summary.live.url_host == f"127.0.0.1:{nginx.port}" and summary.live.counted
    assert 0 < summary.live.minutes < summary.minutes
    stopped = events[-1]
    assert stopped.action == "stopped"
    [o] = stopped.outages
    assert o.end is not None and o.end > o.start and o.reason
    assert [e.action for e in events] == ["started", "outage", "resumed", "stopped"]
    flvs = nginx.recordings()
    assert len(flvs) == 2  # before and after the outage, both playable
    got = sum(float(ffprobe(f)["format"]["duration"]) for f in flvs)
    assert abs(got - done["live_s"]) <= 1.5, (got, done)


async def test_a_hung_server_is_an_outage_not_a_stuck_lesson(make_config, run_agent,
                                                              rtsp) -> None:
    silent = SilentServer()
    try:
        cfg = live_cfg(make_config, rtsp.url, f"rtmp://127.0.0.1:{silent.port}/live/k",
                       write_timeout_s=3.0)
        async with run_agent(cfg) as agent:
            live = agent.ctx.services["live"]
            rec = agent.ctx.services["recording"]
            await live.start_live(trigger="test")
            await wait_for(lambda: live.status()["state"] == "outage", 40, "an outage")
            assert live.status()["reason"]  # the child timed out, or the watchdog saw no progress
            cam = rec.session.m.cameras[0]
            n = len(cam.segments)
            await wait_for(lambda: len(cam.segments) >= n + 2, 30, "recording goes on")
            assert rec.session.m.gaps == []
            done = await live.stop_live(trigger="test")  # returns: nothing waits on it
            assert done["outages"] == 1 and done["state"] == "stopped"
    finally:
        silent.close()
