"""The live output: packets the recording's capture thread already has, pushed to a server.

There is one camera connection: the recording's capture thread hands each packet to
``LivePush.packet`` (a copy into a bounded queue, microseconds, never blocking), and this
module's own thread muxes them to the server. The recording therefore never waits on the
network: a slow or dead server fills the queue, packets are dropped there (counted) and
the push starts again on the next keyframe.

This thread muxes in process (PyAV: FLV for RTMP/RTMPS, MPEG-TS for SRT, packets copied)
into a pipe read by a child ``ffmpeg -c copy`` (Debian's) that makes the connection and
sends. Why a child: PyAV opens network outputs (connect, RTMP handshake, header) holding
the GIL and without timeouts, so a server that hangs froze the whole agent; and PyAV's
FFmpeg has no SRT. See docs/live.md.

Audio is copied when it is AAC, otherwise decoded and encoded to AAC here (G.711 from IP
cameras). Timestamps start at 0 on every connection.

Failures: a connection that cannot be made or breaks is an *outage* (reconnect with
exponential backoff and full jitter while live lasts); a server that takes the connection
and then drops it at once, twice in a row, is *refusing the stream* (wrong key): that ends
the push with a clear reason instead of reconnecting forever.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import random
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction

import av

from agent.live.target import Target
from agent.runtime.worker import ThreadWorker
from drivers.camera.source import StreamInfo

log = logging.getLogger(__name__)

QUEUE_PACKETS = 600  # ~10 s of 30 fps video + audio: a server hiccup is ridden out
# The push thread wakes this often and sends what queued up, instead of being woken for
# every packet: a third of the thread switches at 30 fps (bench/live.py), for at most
# this much more latency on a stream whose players buffer seconds.
WAKE_S = 0.1
# a backlog this long that does not move is a stalled server (see ``stalled_s``)
STALL_BACKLOG = 30
# a connection that breaks this soon after it was made, without the network being at
# fault, is the server refusing the stream
REFUSED_WITHIN_S = 3.0
REFUSED_AFTER = 2  # ... this many times in a row
# errors that say the server or the network is away (an outage), not that it refuses
NETWORK_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ETIMEDOUT, errno.EHOSTUNREACH,
                            errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN,
                            errno.EAI_AGAIN if hasattr(errno, "EAI_AGAIN") else -3})
FLV_VIDEO = frozenset({"h264"})
SRT_LINGER_S = 2


@dataclass
class PushEvent:
    kind: str  # connected | outage | refused | fault | stopped
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    reason: str = ""


@dataclass
class _Source:
    """Stream parameters of one camera connection, kept in a container of our own (the
    capture may close its input while this thread still needs them)."""

    holder: av.container.OutputContainer
    video: av.VideoStream
    audio: av.AudioStream | None  # AAC, copied
    info: StreamInfo
    vtb: float
    atb: float
    has_audio: bool = False
    a_codec: str = ""  # to decode (anything else than AAC)
    a_rate: int = 0
    a_layout: str = ""
    a_time_base: Fraction | None = None
    v_time_base: Fraction | None = None


class LivePush(ThreadWorker):
    def __init__(self, target: Target, audio: bool, post: Callable[[PushEvent], None],
                 backoff_min_s: float = 1.0, backoff_max_s: float = 30.0,
                 write_timeout_s: float = 10.0,
                 ffmpeg_command: str = "ffmpeg") -> None:
        self.target = target
        self.audio = audio
        self.post = post
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.write_timeout_s = write_timeout_s
        self.ffmpeg_command = ffmpeg_command
        # deque append/popleft are atomic: no lock, no wake-up per packet
        self._q: deque = deque()
        super().__init__("live-push")
        # capture side (only the capture thread writes these)
        self._in_video: av.VideoStream | None = None
        self._in_audio: av.AudioStream | None = None
        self._resync = True  # drop until the next video keyframe (after a full queue)
        # counters read by the service (ints: a torn read is harmless)
        self.dropped = 0  # packets the full queue refused
        self.bytes_sent = 0
        self.packets_sent = 0
        self.connects = 0
        self.media_s = 0.0  # media seconds the server received, all connections
        self.connected = False
        self.refused = False
        self.audio_mode = ""  # copy | encode | ""

        self._current: _Output | None = None  # the connection in use (read for live_s)
        self._seen_sent, self._seen_at = 0, time.monotonic()

    @property
    def live_s(self) -> float:
        """Media seconds the server received so far, every connection."""
        out = self._current
        return self.media_s + (out.media_s() if out is not None else 0.0)

    def stalled_s(self) -> float:
        """Seconds nothing was sent while packets wait (a server that stopped reading, a
        handshake nobody answers); 0 while it moves. The child's ``-rw_timeout`` ends
        such a connection; this is the backstop: the service polls it and replaces a
        stalled push (the blocked thread is abandoned, not waited for)."""
        now, sent = time.monotonic(), self.packets_sent
        if sent != self._seen_sent or len(self._q) < STALL_BACKLOG:
            self._seen_sent, self._seen_at = sent, now
            return 0.0
        return now - self._seen_at

    # ------------------------------------------------------------------ capture side

    def source_opened(self, info: StreamInfo, video: av.VideoStream,
                      audio: av.AudioStream | None) -> None:
        """A (new) camera connection: called from the capture thread while its input is
        open, so the stream parameters are copied here."""
        self._in_video, self._in_audio = video, (audio if self.audio else None)
        holder = av.open(io.BytesIO(), "w", format="matroska")
        tv = holder.add_stream_from_template(video)
        ia = self._in_audio
        aac = ia is not None and ia.codec_context.name == "aac"
        ta = holder.add_stream_from_template(ia) if aac else None
        src = _Source(holder, tv, ta, info, float(video.time_base),
                      float(ia.time_base) if ia is not None else 0.0)
        if ia is not None:
            ac = ia.codec_context
            src.has_audio, src.a_codec, src.a_rate = True, ac.name, ac.sample_rate or 8000
            # by channel count: a layout without names ("1 channels") is no layout string
            channels = ac.layout.nb_channels if ac.layout is not None else 1
            src.a_layout = "mono" if channels <= 1 else "stereo"
            src.a_time_base = ia.time_base
        src.v_time_base = video.time_base
        self._resync = True
        self._put_control(src)

    def packet(self, pkt: av.Packet) -> None:
        """Called by the capture thread for every packet, before the recording writes it
        (the segment writer changes the packet's timestamps). Never blocks."""
        video = pkt.stream is self._in_video
        if not video and (self._in_audio is None or pkt.stream is not self._in_audio):
            return
        if self._resync:
            if not (video and pkt.is_keyframe):
                return
            self._resync = False
        c = av.Packet(bytes(pkt))
        c.pts, c.dts, c.duration = pkt.pts, pkt.dts, pkt.duration
        c.is_keyframe = pkt.is_keyframe
        if len(self._q) >= QUEUE_PACKETS:  # one producer: the check cannot race
            self.dropped += 1
            self._resync = True  # a hole in the stream: start again on a keyframe
            return
        self._q.append((video, c))

    def _put_control(self, item: object) -> None:
        # control items always get through (the bound is for media)
        self._q.append(item)

    # ------------------------------------------------------------------ push thread

    def _run(self) -> None:
        src: _Source | None = None
        out: _Output | None = None
        backoff = self.backoff_min_s
        next_try = 0.0
        rejections = 0
        outage = False
        announced = settled = False
        try:
            q, stop = self._q, self._stop
            while not stop.is_set():
                if not q:
                    stop.wait(WAKE_S)
                    continue
                item = q.popleft()
                if isinstance(item, _Source):
                    if out is not None:  # the camera reconnected: timestamps start over
                        self.media_s += out.media_s()
                        out.close()
                        out = self._current = None
                        self.connected = False
                        if not outage:
                            outage = True
                            self.post(PushEvent("outage", reason="camera reconnecting"))
                    src = item
                    if not self._supported(src):
                        return
                    continue
                if src is None or self.refused:
                    continue
                video, pkt = item
                try:
                    if out is None:
                        if not (video and pkt.is_keyframe) or time.monotonic() < next_try:
                            continue
                        out = _Output(self, src)
                        self._current = out
                        out.write(video, pkt)  # connects (header) and sends the keyframe
                        announced = settled = False
                        continue
                    out.write(video, pkt)
                    if settled:
                        continue  # the per-packet path: nothing more to decide
                    age = out.age_s()
                    if not announced and age > REFUSED_WITHIN_S and out.server_bytes > 0:
                        # said once the server kept it a while (a refusing server takes
                        # the first packets, then hangs up) and really received bytes (a
                        # hung one never does), dated when it connected
                        announced = True
                        self.connected = True
                        self.connects += 1
                        outage = False
                        self.post(PushEvent("connected", at=out.opened_at))
                    if age > 10.0:
                        rejections, backoff, settled = 0, self.backoff_min_s, True
                except FileNotFoundError as e:
                    if out is not None:
                        raise
                    self.refused = True  # nothing to retry: the child cannot be started
                    self.post(PushEvent("fault", reason=f"cannot run {self.ffmpeg_command!r}: "
                                        f"{e.strerror or e} (apt-get install ffmpeg)"))
                    return
                except (av.error.FFmpegError, OSError) as e:
                    log.debug("live push error", exc_info=True)
                    reason = self.target.scrub(_why(e, out))
                    said = out.child_error() if out is not None else ""
                    network = _network(e) or _network_text(said)
                    quick = out is not None and out.age_s() < REFUSED_WITHIN_S
                    if out is not None:
                        self.media_s += out.media_s()
                        out.close()
                    out = self._current = None
                    self.connected = False
                    if quick and not network:
                        rejections += 1
                    else:
                        rejections = 0
                    if rejections >= REFUSED_AFTER:
                        self.refused = True
                        self.post(PushEvent(
                            "refused", reason=f"the server refused the stream (check the "
                            f"stream key in live.url): {reason}"))
                        continue
                    delay = random.uniform(self.backoff_min_s, backoff)  # full jitter
                    backoff = min(backoff * 2, self.backoff_max_s)
                    next_try = time.monotonic() + delay
                    log.warning("live push to %s failed (%s); again in %.1f s",
                                self.target.shown, reason, delay)
                    if not outage:
                        outage = True
                        self.post(PushEvent("outage", reason=reason))
        except Exception as e:  # a bug here must never reach the recording
            log.exception("live push failed")
            self.post(PushEvent("fault", reason=f"internal error: {type(e).__name__}: "
                                f"{self.target.scrub(str(e))}"))
        finally:
            if out is not None:
                self.media_s += out.media_s()
                self._current = None
                with contextlib.suppress(Exception):
                    out.close()
            self.connected = False
            self.post(PushEvent("stopped"))

    def _supported(self, src: _Source) -> bool:
        if self.target.protocol != "srt" and src.info.codec not in FLV_VIDEO:
            self.refused = True
            self.post(PushEvent("fault", reason=f"RTMP (FLV) carries H.264 only; camera sends "
                                f"{src.info.codec} (use an srt:// server or set the camera "
                                "to H.264)"))
            return False
        return True


class _Output:
    """One connection to the server: created on a keyframe, closed on the first error."""

    def __init__(self, push: LivePush, src: _Source) -> None:
        self.push = push
        self.src = src
        self.opened = time.monotonic()
        self.opened_at = datetime.now(UTC)
        self.proc: subprocess.Popen[bytes] | None = None
        self._err: str | None = None
        t = push.target
        fmt = "mpegts" if t.protocol == "srt" else "flv"
        # The connection is made by a child ffmpeg reading our copied packets from a
        # pipe. In process, PyAV opens network outputs (avio_open, the RTMP handshake,
        # avformat_write_header) holding the GIL, without timeouts: a server that
        # accepts and never answers froze the whole agent, recording included
        # (tests/integration/test_live_rtmp.py, hung server). The child has timeouts
        # (rw_timeout) and SRT, which PyAV's FFmpeg lacks; docs/live.md.
        cmd = [push.ffmpeg_command, "-hide_banner", "-nostdin", "-loglevel", "error",
               "-fflags", "+nobuffer", "-probesize", "500000", "-analyzeduration", "500000",
               "-f", fmt, "-i", "pipe:0", "-map", "0", "-c", "copy", "-f", fmt]
        if t.protocol == "srt":
            # without linger SRT drops what is still unsent when the pipe closes
            # (measured: the last ~1 s of every live lesson)
            cmd += ["-linger", str(SRT_LINGER_S)]
        else:
            cmd += ["-rw_timeout", str(int(push.write_timeout_s * 1_000_000))]
        # -progress: the child reports bytes delivered once the server took the
        # connection; a server that accepts TCP and never answers reports none, however
        # long our writes into the pipe keep succeeding
        cmd += ["-progress", "pipe:1", "-stats_period", "0.5"]
        self.proc = subprocess.Popen([*cmd, t.url], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.proc.stdin is not None
        self.server_bytes = 0
        threading.Thread(target=self._read_progress, name="live-progress",
                         daemon=True).start()
        self.out = av.open(f"pipe:{self.proc.stdin.fileno()}", "w", format=fmt)
        self.ov = self.out.add_stream_from_template(src.video)
        self.oa: av.AudioStream | None = None
        self.adec: av.AudioCodecContext | None = None
        if src.audio is not None:
            self.oa = self.out.add_stream_from_template(src.audio)
            push.audio_mode = "copy"
        elif src.has_audio:
            self.oa = self.out.add_stream("aac", rate=src.a_rate)
            if src.a_layout:
                self.oa.layout = src.a_layout
            self.oa.bit_rate = 64000
            self.adec = av.CodecContext.create(src.a_codec, "r")
            self.adec.sample_rate = src.a_rate
            if src.a_layout:
                self.adec.layout = src.a_layout
            push.audio_mode = "encode"
        self.vbase: int | None = None
        self.abase = 0
        self.last_dts: dict[bool, int] = {}
        self.first_s = 0.0
        self.last_s = 0.0

    def age_s(self) -> float:
        return time.monotonic() - self.opened

    def _read_progress(self) -> None:
        """Drains the child's progress reports (ends at its exit) for ``server_bytes``."""
        assert self.proc is not None and self.proc.stdout is not None
        with contextlib.suppress(OSError, ValueError), self.proc.stdout as progress:
            for line in progress:
                key, _, value = line.partition(b"=")
                if key == b"total_size" and value.strip().isdigit():
                    self.server_bytes = max(self.server_bytes, int(value))

    def media_s(self) -> float:
        return max(0.0, self.last_s - self.first_s)

    def write(self, video: bool, pkt: av.Packet) -> None:
        src = self.src
        if self.vbase is None:
            if not video:
                return
            self.vbase = pkt.pts
            self.first_s = self.last_s = pkt.pts * src.vtb
            if src.has_audio:  # the same instant in audio ticks
                self.abase = round(pkt.pts * src.vtb / src.atb)
        if video:
            base, stream, tb = self.vbase, self.ov, src.v_time_base
        else:
            if self.oa is None:
                return
            base, stream, tb = self.abase, self.oa, src.a_time_base
        orig = pkt.pts
        pts = orig - base
        if pts < 0:
            return
        if not video and self.adec is not None:
            for frame in self.adec.decode(pkt):
                frame.pts = None  # the encoder's FIFO numbers samples itself
                for op in self.oa.encode(frame):  # type: ignore[union-attr]
                    self._mux(op)
            return
        dts = pkt.dts - base if pkt.dts is not None else pts
        last = self.last_dts.get(video)
        if last is not None and dts <= last:
            return  # time going backwards: the muxer would refuse it
        self.last_dts[video] = dts
        pkt.pts, pkt.dts, pkt.time_base = pts, dts, tb
        pkt.stream = stream
        size = pkt.size
        self._mux(pkt)
        if video:
            self.last_s = max(self.last_s, (orig + (pkt.duration or 0)) * src.vtb)
        self.push.bytes_sent += size

    def _mux(self, pkt: av.Packet) -> None:
        self.out.mux(pkt)
        self.push.packets_sent += 1

    def child_error(self, wait_s: float = 2.0) -> str:
        """What the child ffmpeg said when it ended ("" while it runs)."""
        if self.proc is None or self.proc.stderr is None:
            return ""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(wait_s)
        if self.proc.poll() is None:
            return ""
        if self._err is None:
            self._err = ""
            with contextlib.suppress(OSError, ValueError):
                self._err = self.proc.stderr.read(4000).decode(errors="replace").strip()
        return self._err

    def close(self) -> None:
        try:
            with contextlib.suppress(Exception):
                self.out.close()
        finally:
            if self.proc is not None:
                with contextlib.suppress(OSError):
                    self.proc.stdin.close()  # type: ignore[union-attr]
                try:
                    self.proc.wait(SRT_LINGER_S + 3)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(3)
                if self.proc.stderr is not None:
                    self.proc.stderr.close()


def _network(e: BaseException) -> bool:
    code = getattr(e, "errno", None)
    if code is not None and abs(code) in NETWORK_ERRNOS:
        return True
    return isinstance(e, TimeoutError | av.error.ExitError)


# what the child ffmpeg says when the server or the network is away (an outage), as
# opposed to a server that answered and hung up (a refusal)
NETWORK_WORDS = ("connection refused", "timed out", "no route to host", "unreachable",
                 "name or service not known", "temporary failure in name resolution",
                 "cannot assign requested address")


def _network_text(text: str) -> bool:
    low = text.lower()
    return "reject" not in low and any(w in low for w in NETWORK_WORDS)


def _why(e: BaseException, out: _Output | None) -> str:
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    if out is not None and (err := out.child_error()):
        # the child's own words say more than our broken pipe to it
        return err.splitlines()[-1]
    return text
