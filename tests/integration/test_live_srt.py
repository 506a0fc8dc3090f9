"""Live push over SRT to a real listener (Debian srt-tools: srt-live-transmit): PyAV's
FFmpeg has no SRT, so MPEG-TS goes over a pipe to Debian's ffmpeg (libsrt), copied. What
the listener received: the camera's codec, profile and size, AAC audio, the live time."""

from __future__ import annotations

import shutil

import pytest

from tests.helpers.media import ffprobe_url
from tests.integration.test_live_rtmp import live_cfg
from tests.recording_helpers import RtspServer, ffprobe, video_stream, wait_for
from tests.stream_servers import SrtListener, have_srt

pytestmark = pytest.mark.skipif(not (have_srt() and shutil.which("ffmpeg")),
                                reason="srt-tools / ffmpeg not installed")


async def test_push_over_srt(make_config, run_agent, tmp_path) -> None:
    rtsp = RtspServer(width=320, height=240, fps=25, gop=25, audio=True)
    srt = SrtListener(tmp_path / "srt")
    rtsp.start()
    srt.start()
    try:
        src = video_stream(ffprobe_url(rtsp.url))
        async with run_agent(live_cfg(make_config, rtsp.url, srt.url)) as agent:
            live = agent.ctx.services["live"]
            started = await live.start_live(trigger="test")
            assert started["protocol"] == "srt"
            await wait_for(lambda: live.status()["state"] == "live", 30, "live")
            await wait_for(lambda: live.session.push.live_s > 8, 40, "8 s live")
            done = await live.stop_live(trigger="test")
        srt.stop()
        p = ffprobe(srt.out)
        v = video_stream(p)
        assert (v["codec_name"], v["profile"], v["width"], v["height"]) == (
            src["codec_name"], src["profile"], src["width"], src["height"])
        [a] = [s for s in p["streams"] if s["codec_type"] == "audio"]
        assert a["codec_name"] == "aac"
        assert abs(float(p["format"]["duration"]) - done["live_s"]) <= 1.0, (p["format"], done)
    finally:
        srt.stop()
        rtsp.kill()
