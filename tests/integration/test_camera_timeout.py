"""A camera that stays connected but goes silent (its process frozen with SIGSTOP) ends
the packet iterator with ``SourceError("offline")``. Over RTSP/TCP this rests on FFmpeg's
socket timeout alone (PyAV's read-timeout callback is not installed there, see
drivers/camera/source.py), so it is proved here against the real server."""

from __future__ import annotations

import os
import signal
import threading

from drivers.camera.source import CameraSource, SourceError, SourceOptions, socket_timeout
from tests.recording_helpers import RtspServer


def test_frozen_rtsp_camera_times_out() -> None:
    rtsp = RtspServer(width=160, height=120, fps=10, gop=10)
    rtsp.start()
    opts = SourceOptions(url=rtsp.url, connect_timeout_s=3.0, read_timeout_s=1.5)
    assert socket_timeout(opts)  # the path under test: no PyAV read callback
    src = CameraSource(opts)
    outcome: list[BaseException | str] = []
    got = threading.Event()

    def read() -> None:
        try:
            for n, _ in enumerate(src.packets()):
                if n == 5:
                    got.set()
            outcome.append("iterator ended without an error")
        except BaseException as e:  # reported to the test thread
            outcome.append(e)

    try:
        src.open()
        t = threading.Thread(target=read, daemon=True)
        t.start()
        assert got.wait(20), "no packets from the camera"
        assert rtsp.proc is not None
        os.kill(rtsp.proc.pid, signal.SIGSTOP)  # connected, silent
        t.join(60)
        assert not t.is_alive(), "the read never timed out"
    finally:
        if rtsp.proc is not None and rtsp.proc.poll() is None:
            os.kill(rtsp.proc.pid, signal.SIGCONT)
        rtsp.kill()
        src.close()
    [err] = outcome
    assert isinstance(err, SourceError) and err.status == "offline", err
