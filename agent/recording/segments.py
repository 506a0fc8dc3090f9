"""Writes one camera's packets into fragmented-MP4 segment files.

Why fragmented MP4 (``frag_keyframe+empty_moov+default_base_moof``): the header is written
first and every keyframe closes a self-contained fragment that is flushed to the OS at
once, so a SIGKILL loses at most the fragment being written; the open segment is fsynced
every ``recording.fsync_interval_s`` (``OpenSegmentSyncer``), so a power cut loses at most
that much more; every file stays playable. Segments are cut on keyframes once
``segment_s`` has passed, so each one starts with a picture a player can show.
Timestamps are rebased to 0 in every segment.

Two modes, chosen from the source:
- ``remux`` (H.264/H.265): packets are copied, never decoded - the cheap, lossless path.
- ``encode`` (raw/MJPEG USB cameras): decoded and encoded with libx264 at a set bitrate.
Audio is copied when MP4 can hold it, otherwise encoded to AAC (G.711 from IP cameras).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from drivers.camera.source import StreamInfo

log = logging.getLogger(__name__)

MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
# audio codecs the MP4 muxer takes as they are
MP4_AUDIO = frozenset({"aac", "mp3", "opus", "ac3", "eac3", "alac", "flac"})


class OpenSegmentSyncer:
    """Bounds what a power cut takes from the segments being written. Fragments are
    flushed to the OS as they complete, but only an fsync puts them on the disk: one thread
    (neither the event loop nor a capture thread, so neither waits for the disk) fsyncs
    every open segment that grew, every ``interval_s``. It runs while segments are open
    and ends by itself when none is."""

    def __init__(self, interval_s: float = 2.0) -> None:
        self.interval_s = interval_s
        self.fsyncs = 0
        self.errors = 0
        self._synced: dict[Path, int] = {}  # open segment -> bytes on disk at its last fsync
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, path: Path) -> None:
        with self._lock:
            self._synced[path] = 0
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="segment-fsync",
                                                daemon=True)
                self._thread.start()

    def remove(self, path: Path) -> None:
        with self._lock:
            self._synced.pop(path, None)

    def synced_bytes(self, path: Path) -> int | None:
        with self._lock:
            return self._synced.get(path)

    def sync_now(self) -> int:
        """One round: fsync each open segment that grew; returns how many were."""
        with self._lock:
            todo = list(self._synced.items())
        done = 0
        for path, synced in todo:
            try:
                size = path.stat().st_size
                if size <= synced:
                    continue
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as e:  # deleted or closed meanwhile, a disk error: try again later
                self.errors += 1
                log.debug("fsync of %s failed: %s", path, e)
                continue
            done += 1
            with self._lock:
                if path in self._synced:
                    self._synced[path] = size
        self.fsyncs += done
        return done

    def _run(self) -> None:
        stop = threading.Event()
        while True:
            stop.wait(self.interval_s)
            with self._lock:
                if not self._synced:
                    self._thread = None
                    return
            self.sync_now()


# one for the process: every camera's open segment, fsynced on one timer
SYNCER = OpenSegmentSyncer()


@dataclass
class SegmentInfo:
    file: str  # name inside the camera directory
    index: int
    start_pts_s: float  # source time of its first packet (seconds)
    duration_s: float = 0.0
    bytes: int = 0
    closed: bool = False


def _time_base(stream: av.stream.Stream) -> Fraction:
    """A demuxed stream's time base (PyAV types it optional; an opened stream has one)."""
    tb = stream.time_base
    if tb is None:
        raise ValueError(f"stream {stream.index} has no time base")
    return tb


class SegmentWriter:
    """Not thread-safe: one writer per capture thread.

    ``on_open(seg)`` / ``on_close(seg)`` are called from the writing thread.
    """

    def __init__(
        self,
        directory: Path,
        video: av.VideoStream,
        audio: av.AudioStream | None,
        info: StreamInfo,
        segment_s: float,
        encode_bitrate: int = 4_000_000,
        first_index: int = 1,
        on_open: Callable[[SegmentInfo], None] | None = None,
        on_close: Callable[[SegmentInfo], None] | None = None,
        fsync: bool = True,
        syncer: OpenSegmentSyncer | None = None,
    ) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.in_video = video
        self.in_audio = audio
        self.info = info
        self.segment_s = segment_s
        self.encode_bitrate = encode_bitrate
        self.next_index = first_index
        self._first_index = first_index
        self.on_open = on_open or (lambda s: None)
        self.on_close = on_close or (lambda s: None)
        self.fsync = fsync
        self.syncer = (syncer or SYNCER) if fsync else None
        self.mode = "remux" if info.remux else "encode"
        self.audio_mode = ""
        if audio is not None:
            self.audio_mode = "copy" if audio.codec_context.name in MP4_AUDIO else "encode"
        self.out_codec = info.codec if self.mode == "remux" else "h264"
        self.out_audio_codec = (
            "" if audio is None else (audio.codec_context.name if self.audio_mode == "copy"
                                      else "aac")
        )
        self.seg: SegmentInfo | None = None
        self._out: av.container.OutputContainer | None = None
        self._ov: av.VideoStream | None = None
        self._oa: av.AudioStream | None = None
        self._base_s = 0.0  # source time (s) that is 0 in the current segment
        self._last_s = 0.0  # end of the last written video packet (source seconds)
        # time bases as floats and segment bases in ticks, computed once: Fraction maths
        # per packet was half of the remux path's own CPU (see docs/BENCHMARKS.md)
        self._vtb = float(_time_base(video))
        self._vbase = 0  # source video pts that is 0 in the current segment
        self._abase = 0  # the same instant in the audio stream's time base
        self._vdec: av.VideoCodecContext | None = None
        self._adec: av.AudioCodecContext | None = None
        self._last_dts: dict[int, int] = {}
        self.dropped = 0

    # ------------------------------------------------------------------ public

    def write(self, pkt: av.Packet[Any]) -> None:
        if pkt.stream is self.in_video:
            self._write_video(pkt)
        elif self.in_audio is not None and pkt.stream is self.in_audio:
            self._write_audio(pkt)

    def close(self) -> SegmentInfo | None:
        """Finish the open segment (flush encoders, write the tail, fsync)."""
        return self._close_segment()

    # ------------------------------------------------------------------ video

    def _cut_due(self, t: float) -> bool:
        return self._out is None or (t - self._base_s) >= self.segment_s

    def _write_video(self, pkt: av.Packet[Any]) -> None:
        pts = pkt.pts
        assert pts is not None  # the source drops packets without a pts (flush packets)
        t = pts * self._vtb
        if self.mode == "remux":
            if pkt.is_keyframe and self._cut_due(t):
                self._close_segment()
                self._open_segment(t, pts)
            if self._out is None or self._ov is None:
                return  # no keyframe yet
            self._mux_copy(pkt, self._ov, self._vbase)
            dur = pkt.duration
            end = t + dur * self._vtb if dur else t
            if end > self._last_s:
                self._last_s = end
            return
        # encode: decode, cut on any frame (a fresh encoder starts with a keyframe)
        if self._vdec is None:
            vdec = av.CodecContext.create(self.in_video.codec_context.name, "r")
            assert isinstance(vdec, av.VideoCodecContext)  # a video codec's context
            vdec.extradata = self.in_video.codec_context.extradata
            self._vdec = vdec
        for frame in self._vdec.decode(pkt):
            ftb = frame.time_base  # decoded frames carry the packet's
            ft = float(frame.pts * ftb) if frame.pts is not None and ftb is not None else t
            if self._cut_due(ft):
                self._close_segment()
                self._open_segment(ft)
            out, ov = self._out, self._ov
            assert out is not None and ov is not None  # _open_segment just set them
            tb = ov.codec_context.time_base
            assert tb is not None  # set by _open_segment (1/90000)
            frame.pts = round(Fraction(ft - self._base_s) / tb)
            frame.time_base = tb
            for out_pkt in ov.encode(frame.reformat(format="yuv420p")
                                     if frame.format.name != "yuv420p" else frame):
                out.mux(out_pkt)
            self._last_s = max(self._last_s, ft)

    # ------------------------------------------------------------------ audio

    def _write_audio(self, pkt: av.Packet[Any]) -> None:
        out, oa, in_audio = self._out, self._oa, self.in_audio
        if out is None or oa is None or in_audio is None:
            return  # audio before the first video keyframe of a segment has nowhere to go
        if pkt.pts is None or pkt.pts < self._abase:  # the source drops pts-less packets
            return
        if self.audio_mode == "copy":
            self._mux_copy(pkt, oa, self._abase)
            return
        if self._adec is None:
            adec = av.CodecContext.create(in_audio.codec_context.name, "r")
            assert isinstance(adec, av.AudioCodecContext)  # an audio codec's context
            ic = in_audio.codec_context
            adec.sample_rate = ic.sample_rate
            if ic.layout is not None:
                adec.layout = ic.layout
            self._adec = adec
        for frame in self._adec.decode(pkt):
            frame.pts = None  # the encoder's FIFO numbers samples itself
            for out_pkt in oa.encode(frame):
                out.mux(out_pkt)

    # ------------------------------------------------------------------ muxing

    def _mux_copy(self, pkt: av.Packet[Any], out_stream: av.stream.Stream, base: int) -> None:
        """Copy one packet, its timestamps moved by ``base`` ticks (its stream's)."""
        out = self._out
        assert out is not None and pkt.pts is not None  # callers checked both
        pts = pkt.pts - base
        if pts < 0:
            return
        dts = pkt.dts
        pkt.pts = pts
        if dts is not None:
            dts -= base
            pkt.dts = dts
            key = out_stream.index
            last = self._last_dts.get(key)
            if last is not None and dts <= last:
                self.dropped += 1  # a camera glitch sent time backwards: the muxer refuses
                return
            self._last_dts[key] = dts
        pkt.stream = out_stream
        out.mux(pkt)

    def _open_segment(self, t: float, video_pts: int | None = None) -> None:
        index = self.next_index
        self.next_index += 1
        name = f"{index:05d}.mp4"
        path = self.dir / name
        out = av.open(
            str(path), "w", format="mp4",
            options={"movflags": MOVFLAGS, "flush_packets": "1"},
        )
        if self.mode == "remux":
            ov = out.add_stream_from_template(self.in_video)
        else:
            fps = Fraction(self.info.fps).limit_denominator(1001) if self.info.fps else 25
            ov = out.add_stream("libx264", rate=fps)
            ov.width = self.info.width
            ov.height = self.info.height
            ov.pix_fmt = "yuv420p"
            ov.bit_rate = self.encode_bitrate
            ov.codec_context.time_base = Fraction(1, 90000)
            ov.codec_context.gop_size = max(1, round(float(fps) * 2))
            ov.options = {"preset": "veryfast", "tune": "zerolatency"}
        oa = None
        if self.in_audio is not None:
            if self.audio_mode == "copy":
                oa = out.add_stream_from_template(self.in_audio)
            else:
                ic = self.in_audio.codec_context
                oa = out.add_stream("aac", rate=ic.sample_rate or 8000)
                if ic.layout is not None:
                    oa.layout = ic.layout
                oa.bit_rate = 64000
        self._out, self._ov, self._oa = out, ov, oa
        self._last_dts = {}
        self._base_s = t
        self._last_s = t
        tv = _time_base(self.in_video)
        self._vbase = video_pts if video_pts is not None else round(Fraction(t) / tv)
        if self.in_audio is not None:  # the same instant, exactly, in audio ticks
            self._abase = round(Fraction(self._vbase) * tv / _time_base(self.in_audio))
        self.seg = SegmentInfo(file=name, index=index, start_pts_s=t)
        if self.syncer is not None:
            self.syncer.add(path)
        self.on_open(self.seg)

    def _close_segment(self) -> SegmentInfo | None:
        out, seg = self._out, self.seg
        if out is None or seg is None:
            return None
        try:
            if self.mode == "encode" and self._ov is not None:
                for p in self._ov.encode(None):
                    out.mux(p)
            if self.audio_mode == "encode" and self._oa is not None:
                for p in self._oa.encode(None):
                    out.mux(p)
        finally:
            self._out = self._ov = self._oa = None
            self.seg = None
            out.close()
        path = self.dir / seg.file
        if self.syncer is not None:
            self.syncer.remove(path)  # fsynced below, once and for all
        if self.fsync:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        seg.duration_s = round(max(0.0, self._last_s - self._base_s), 3)
        seg.bytes = path.stat().st_size
        seg.closed = True
        self.on_close(seg)
        return seg

    @property
    def media_end_s(self) -> float | None:
        """Source time (s) where the last written video packet ends; None before the
        first segment (benches count seconds of video received with it)."""
        return None if self.seg is None and self.next_index == self._first_index else (
            self._last_s)

    @property
    def open_bytes(self) -> int:
        """Bytes of the segment being written (what is on disk so far)."""
        if self.seg is None:
            return 0
        try:
            return (self.dir / self.seg.file).stat().st_size
        except OSError:
            return 0
