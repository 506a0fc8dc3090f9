"""A real RTSP server for tests and benches: GStreamer's GstRtspServer serving
``videotestsrc ! x264enc ! rtph264pay`` (optionally with AAC audio).

Runs under the *system* Python (/usr/bin/python3, which has python3-gi); the agent's venv
does not need GStreamer. Usage:

    /usr/bin/python3 tests/rtsp_server.py --port 8554 --width 320 --height 240 --fps 25

``--file clip.mp4`` serves a pre-encoded H.264 MP4 instead (filesrc ! qtdemux ! h264parse
! rtph264pay, paced by the server's clock; no x264, so a 1080p30 bench stream holds its
frame rate on a small machine). Serves ``rtsp://127.0.0.1:PORT/cam``; prints
``READY <url>`` on stdout once listening.
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--fps", type=int, default=25)
    p.add_argument("--gop", type=int, default=0, help="keyframe interval in frames (0 = fps)")
    p.add_argument("--bitrate", type=int, default=500, help="kbit/s")
    p.add_argument("--audio", action="store_true", help="add a G.711 A-law test tone")
    p.add_argument("--path", default="/cam")
    p.add_argument("--file", help="serve this MP4 (H.264 track) instead of encoding: "
                   "no x264 in the server, so it is not CPU-bound (benches)")
    a = p.parse_args()
    Gst.init(None)
    gop = a.gop or a.fps
    video = (
        f"videotestsrc is-live=true pattern=ball ! video/x-raw,width={a.width},height={a.height},"
        f"framerate={a.fps}/1 ! x264enc tune=zerolatency speed-preset=ultrafast "
        f"key-int-max={gop} bitrate={a.bitrate} ! video/x-h264,profile=constrained-baseline ! "
        "rtph264pay name=pay0 pt=96 config-interval=1"
    )
    if a.file:
        # pre-encoded: demux and packetise only; the RTSP server's sinks pace it to the clock
        video = (f"filesrc location={a.file} ! qtdemux ! h264parse ! "
                 "rtph264pay name=pay0 pt=96 config-interval=1")
    launch = f"( {video} "
    if a.audio:
        # G.711 A-law, what many IP cameras send (and MP4 cannot hold as-is)
        launch += (" audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=8000,channels=1 ! "
                   "alawenc ! rtppcmapay name=pay1 pt=8 ")
    launch += ")"
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(True)
    server.get_mount_points().add_factory(a.path, factory)
    if server.attach(None) == 0:
        print("cannot listen", file=sys.stderr)
        sys.exit(1)
    loop = GLib.MainLoop()
    signal.signal(signal.SIGTERM, lambda *_: loop.quit())
    print(f"READY rtsp://127.0.0.1:{a.port}{a.path}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
