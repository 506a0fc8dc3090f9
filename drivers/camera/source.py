"""Camera sources: anything PyAV (FFmpeg) opens, read packet by packet.

Blocking by nature (FFmpeg's demuxers block): callers run a source in a thread. A source
never decodes; it hands out compressed packets and describes what it carries. Three kinds:

- ``live``: ``rtsp://`` / ``rtsps://`` / ``http(s)://`` network cameras. RTSP goes over TCP
  by default (UDP loses packets on busy school networks); connect and read timeouts turn a
  silent camera into a ``SourceError`` instead of a thread stuck forever.
- ``device``: a V4L2 device (``/dev/video0`` or ``v4l2:///dev/video0``), raw or MJPEG.
- ``file``: a local file, optionally looped (the demo camera), paced to real time so it
  behaves like a camera and not like a disk read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Literal
from urllib.parse import urlsplit

import av

from drivers.redact import redact, scrub

SourceKind = Literal["live", "device", "file"]

# codecs recorded by copying packets; everything else is decoded and encoded to H.264
REMUX_VIDEO_CODECS = frozenset({"h264", "hevc"})


class SourceError(Exception):
    """The source cannot deliver. ``status`` is ``offline`` (unreachable, silent, ended) or
    ``fault`` (reachable but unusable: no video, unsupported content)."""

    def __init__(self, status: Literal["offline", "fault"], reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


@dataclass
class SourceOptions:
    url: str
    loop: bool = False  # file sources: start again at the end
    transport: Literal["tcp", "udp"] = "tcp"  # RTSP lower transport
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 5.0
    input_format: str | None = None  # force a demuxer (e.g. "video4linux2")
    input_options: dict[str, str] = field(default_factory=dict)
    realtime: bool | None = None  # pace packets to their timestamps; default: files only
    audio: bool = True  # hand out the audio packets too


@dataclass
class StreamInfo:
    """What a source carries, read from the stream itself."""

    codec: str
    profile: str
    width: int
    height: int
    fps: float
    pix_fmt: str
    audio_codec: str = ""
    audio_rate: int = 0
    audio_channels: int = 0
    kind: SourceKind = "live"

    @property
    def remux(self) -> bool:
        return self.codec in REMUX_VIDEO_CODECS


def source_kind(url: str) -> SourceKind:
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("rtsp", "rtsps", "rtmp", "http", "https", "srt", "udp", "tcp"):
        return "live"
    if scheme == "v4l2" or url.startswith("/dev/video"):
        return "device"
    return "file"


def open_args(opts: SourceOptions) -> tuple[str, str | None, dict[str, str]]:
    """(path, format, options) for ``av.open``."""
    kind = source_kind(opts.url)
    options = dict(opts.input_options)
    fmt = opts.input_format
    path = opts.url
    if kind == "live":
        if path.lower().startswith(("rtsp://", "rtsps://")):
            options.setdefault("rtsp_transport", opts.transport)
            # socket I/O timeout in microseconds: also bounds a dead TCP connection
            options.setdefault("timeout", str(int(opts.read_timeout_s * 1_000_000)))
    elif kind == "device":
        path = path.removeprefix("v4l2://")
        fmt = fmt or "video4linux2"
    elif path.startswith("file://"):
        path = urlsplit(path).path
    return path, fmt, options


def socket_timeout(opts: SourceOptions) -> bool:
    """True when FFmpeg itself bounds every read (RTSP over TCP: the ``timeout`` option is
    the socket's poll timeout), so PyAV's read-timeout callback is not needed."""
    return (source_kind(opts.url) == "live" and opts.transport == "tcp"
            and opts.url.lower().startswith(("rtsp://", "rtsps://")))


def read_callback_timeout(opts: SourceOptions) -> float | None:
    """The read timeout for PyAV's interrupt callback, or None to install none.

    Why: FFmpeg calls the interrupt callback around every socket read and poll - over
    RTSP/TCP three reads per RTP packet, ~1000 a second at 4 Mbit/s - and PyAV's callback
    takes the GIL and calls ``time.monotonic()`` each time (measured ~0.0008 CPU-s per
    second of 1080p video, see docs/BENCHMARKS.md). Where the socket timeout already
    bounds each read, the callback only guards the open (connect timeout)."""
    return None if socket_timeout(opts) else opts.read_timeout_s


class CameraSource:
    """One open camera. ``open()`` then iterate ``packets()``; ``close()`` always.

    Packets are handed out with monotonic timestamps even across a file loop; packets
    without timestamps (parameter-set packets some RTSP servers send first) are dropped,
    and nothing is handed out before the first video keyframe.
    """

    def __init__(self, opts: SourceOptions) -> None:
        self.opts = opts
        self.kind = source_kind(opts.url)
        self.container: av.container.InputContainer | None = None
        self.video: av.VideoStream | None = None
        self.audio: av.AudioStream | None = None
        self.info: StreamInfo | None = None

    def open(self) -> StreamInfo:
        path, fmt, options = open_args(self.opts)
        try:
            self.container = av.open(
                path, "r", format=fmt, options=options,
                timeout=(self.opts.connect_timeout_s, read_callback_timeout(self.opts)),
            )
        except av.error.FileNotFoundError:
            raise SourceError("offline", f"not found: {redact(self.opts.url)}") from None
        except (av.error.ExitError, TimeoutError):
            raise SourceError("offline", "timed out connecting") from None
        except av.error.FFmpegError as e:
            raise SourceError("offline", f"cannot open: {_ffmsg(e, self.opts.url)}") from None
        except OSError as e:
            why = scrub(e.strerror or str(e), self.opts.url)
            raise SourceError("offline", f"cannot open: {why}") from None
        c = self.container
        if not c.streams.video:
            self.close()
            raise SourceError("fault", "source has no video stream")
        self.video = c.streams.video[0]
        self.audio = c.streams.audio[0] if (self.opts.audio and c.streams.audio) else None
        cc = self.video.codec_context
        if not cc.width or not cc.height:
            self.close()
            raise SourceError("fault", "video stream has no resolution (corrupt stream?)")
        rate = self.video.average_rate or self.video.guessed_rate or self.video.base_rate
        self.info = StreamInfo(
            codec=cc.name,
            profile=cc.profile or "",
            width=cc.width,
            height=cc.height,
            fps=round(float(rate), 3) if rate else 0.0,
            pix_fmt=cc.pix_fmt or "",
            kind=self.kind,
        )
        if self.audio is not None:
            ac = self.audio.codec_context
            self.info.audio_codec = ac.name
            self.info.audio_rate = ac.sample_rate or 0
            self.info.audio_channels = ac.channels if hasattr(ac, "channels") else 0
        return self.info

    def packets(self) -> Iterator[av.Packet[Any]]:
        """Blocking iterator of video (and audio) packets; raises SourceError when the
        source goes silent, breaks or ends (a non-looping file ends with ``offline``)."""
        if self.container is None or self.video is None:
            raise RuntimeError("open() first")
        streams = [s for s in (self.video, self.audio) if s is not None]
        video = self.video
        pace = self.opts.realtime if self.opts.realtime is not None else self.kind == "file"
        looping = self.opts.loop and self.kind == "file"
        offset: dict[int, int] = {s.index: 0 for s in streams}  # added per stream (loops)
        end: dict[int, int] = {s.index: 0 for s in streams}  # last pts + duration
        base: dict[int, Fraction] = {}
        for s in streams:
            if s.time_base is None:  # demuxed streams have one; a broken container may not
                raise SourceError("fault", f"stream {s.index} has no time base")
            base[s.index] = s.time_base
        tb = {i: float(b) for i, b in base.items()}  # a float: no Fraction per packet
        started_video = False
        wall0: float | None = None
        media0 = 0.0
        monotonic = time.monotonic
        while True:
            got = False
            shifted = any(offset.values())
            try:
                # per-packet work is kept small on purpose: at 30 fps it runs 30+ times a
                # second per camera, each time with cold caches after waiting on the socket
                for pkt in self.container.demux(streams):
                    pts = pkt.pts
                    if pts is None or pkt.size == 0:
                        continue
                    if not started_video:
                        if pkt.stream is not video or not pkt.is_keyframe:
                            continue
                        started_video = True
                    got = True
                    if looping:
                        idx = pkt.stream.index
                        if shifted:
                            pts += offset[idx]
                            pkt.pts = pts
                            if pkt.dts is not None:
                                pkt.dts += offset[idx]
                        end[idx] = max(end[idx], pts + (pkt.duration or 0))
                    if pace:
                        t = pts * tb[pkt.stream.index]
                        if wall0 is None:
                            wall0, media0 = monotonic(), t
                        delay = (t - media0) - (monotonic() - wall0)
                        if delay > 0:
                            time.sleep(min(delay, 1.0))
                    yield pkt
            except (av.error.ExitError, TimeoutError):
                raise SourceError("offline", "no data from the camera (read timed out)") from None
            except av.error.EOFError:
                pass
            except av.error.FFmpegError as e:
                raise SourceError("offline", f"stream broke: {_ffmsg(e, self.opts.url)}") from None
            except OSError as e:
                raise SourceError("offline", "stream broke: "
                                  f"{scrub(e.strerror or str(e), self.opts.url)}") from None
            # the demuxer ended
            if not (self.opts.loop and self.kind == "file" and got):
                raise SourceError("offline", "end of stream")
            # next pass continues where this one ended, in every stream's own time base
            span = max(float(end[s.index] * base[s.index]) for s in streams)
            for s in streams:
                offset[s.index] = round(Fraction(span) / base[s.index])
                end[s.index] = offset[s.index]
            try:
                self.container.seek(0)
            except av.error.FFmpegError as e:
                raise SourceError("fault", f"cannot loop the file: {_ffmsg(e, self.opts.url)}"
                                  ) from None
            started_video = False

    def close(self) -> None:
        if self.container is not None:
            try:
                self.container.close()
            except Exception:  # closing a broken stream must not mask why it broke
                pass
        self.container = None


def _ffmsg(e: av.error.FFmpegError, url: str) -> str:
    """FFmpeg's words for an error; never the camera's password (``str(e)`` quotes the
    URL, strerror usually does not, but both are scrubbed)."""
    return scrub(e.strerror or str(e), url)


# FFmpeg's stream analysis reads ~1 s of a live stream and decodes its first frames
# (measured ~27 ms CPU, 0.95 s wall per probe of 1080p RTSP); with these it answers from
# the SDP and the first packet (~10 ms, 0.06 s). Idle cameras are probed all day.
LIGHT_PROBE = {"analyzeduration": "0", "probesize": "32"}


def probe(opts: SourceOptions, light: bool = True) -> StreamInfo:
    """Open, describe, close: is the camera there and what does it send?

    ``light`` (live sources): a short stream analysis first; when that cannot tell the
    resolution (a camera without parameter sets in its SDP) the full one follows, so a
    camera is never called faulty for the probe's haste. The frame rate of a light probe
    is what the SDP says (0 when it says nothing); a recording measures it again."""
    if light and source_kind(opts.url) == "live":
        quick = replace(opts, input_options={**LIGHT_PROBE, **opts.input_options})
        try:
            return _probe(quick)
        except SourceError as e:
            if e.status != "fault":
                raise  # unreachable / silent: a full probe would say the same, slower
    return _probe(opts)


def _probe(opts: SourceOptions) -> StreamInfo:
    src = CameraSource(opts)
    try:
        return src.open()
    finally:
        src.close()
