"""One capture thread per camera while recording: source -> segment files.

PyAV blocks (demuxing waits for the network), so each camera gets its own thread and the
event loop stays free. The thread is its own watchdog: a source silent for ``stall_s``
(the read timeout, or no video while audio still flows) is closed and reopened with
exponential backoff; the thread reports what happens through ``post(CaptureEvent)``,
which the service turns into gaps, device states and manifest updates.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import av

from agent.recording.segments import SegmentInfo, SegmentWriter
from agent.runtime.worker import ThreadWorker
from drivers.backoff import Backoff
from drivers.camera.source import CameraSource, SourceError, SourceOptions, StreamInfo
from drivers.redact import scrub

log = logging.getLogger(__name__)


class PacketTap(Protocol):
    """Another consumer of the same camera connection (the live push): told of every
    (re)opened source, then handed each packet before the recording writes it. Must never
    block; the capture thread detaches a tap that raises."""

    def source_opened(self, info: StreamInfo, video: av.VideoStream,
                      audio: av.AudioStream | None) -> None: ...

    def packet(self, pkt: av.Packet[Any]) -> None: ...


@dataclass
class CaptureEvent:
    camera: str
    kind: str  # online | offline | fault | segment_open | segment_closed | stopped
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    reason: str = ""
    info: StreamInfo | None = None
    mode: str = ""  # remux | encode
    audio_mode: str = ""  # copy | encode | ""
    out_codec: str = ""
    out_audio: str = ""
    segment: SegmentInfo | None = None
    last_packet: datetime | None = None  # offline/fault: when the last packet arrived


class CameraCapture(ThreadWorker):
    def __init__(
        self,
        camera_id: str,
        opts: SourceOptions,
        directory: Path,
        segment_s: float,
        stall_s: float,
        reconnect_max_s: float,
        encode_bitrate: int,
        post: Callable[[CaptureEvent], None],
    ) -> None:
        self.camera_id = camera_id
        self.opts = opts
        self.dir = directory
        self.segment_s = segment_s
        self.stall_s = stall_s
        self.reconnect_max_s = reconnect_max_s
        self.encode_bitrate = encode_bitrate
        self.post = post
        super().__init__(f"capture-{camera_id}")
        self.last_packet_mono = time.monotonic()
        self._last_packet_time = 0.0  # time.time() of the last packet (0: none yet)
        self.packets = 0
        self.dropped = 0  # packets the muxer refused (non-monotonic timestamps)
        self.bytes_closed = 0
        self.writer: SegmentWriter | None = None
        self.online = False
        self.tap: PacketTap | None = None  # set/cleared from the loop thread (live push)

    @property
    def bytes_written(self) -> int:
        w = self.writer
        return self.bytes_closed + (w.open_bytes if w is not None else 0)

    @property
    def last_packet_wall(self) -> datetime | None:
        t = self._last_packet_time
        return datetime.fromtimestamp(t, UTC) if t else None

    @property
    def media_end_s(self) -> float | None:
        """Source time of the end of the last recorded video packet (None when no segment
        is open yet): seconds of video actually received, for benches and status."""
        w = self.writer
        return w.media_end_s if w is not None else None

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        backoff = Backoff(1.0, self.reconnect_max_s)
        next_index = 1
        url = self.opts.url  # never in a reason as is: it may carry the camera's password
        while not self._stop.is_set():
            src = CameraSource(self.opts)
            writer: SegmentWriter | None = None
            status, reason = "offline", ""
            try:
                info = src.open()
                assert src.video is not None  # open() raises SourceError without a video stream
                writer = SegmentWriter(
                    self.dir, src.video, src.audio, info, self.segment_s,
                    encode_bitrate=self.encode_bitrate, first_index=next_index,
                    on_open=self._on_open, on_close=self._on_close,
                )
                self.writer = writer
                last_video = time.monotonic()
                # hot loop (every packet): locals instead of attribute lookups, no
                # datetime objects, nothing handed to other threads
                video, stop, monotonic, wall = src.video, self._stop, time.monotonic, time.time
                write = writer.write
                fed: PacketTap | None = None  # the tap told of this source
                for pkt in src.packets():
                    if stop.is_set():
                        break
                    now = monotonic()
                    if pkt.stream is video:
                        last_video = now
                    elif now - last_video > self.stall_s:
                        raise SourceError("offline", f"no video for {self.stall_s:g} s")
                    if not self.online and pkt.stream is video and pkt.is_keyframe:
                        # the source hands out nothing before a keyframe: this one opens
                        # the next segment, so "online" (gap end) comes just before it
                        self.online = True
                        backoff.reset()
                        self.post(CaptureEvent(
                            self.camera_id, "online", info=info, mode=writer.mode,
                            audio_mode=writer.audio_mode, out_codec=writer.out_codec,
                            out_audio=writer.out_audio_codec,
                        ))
                    tap = self.tap
                    if tap is not None:
                        try:
                            if fed is not tap:
                                tap.source_opened(info, src.video, src.audio)
                                fed = tap
                            tap.packet(pkt)
                        except Exception:  # the live output never costs the recording
                            log.exception("%s: packet tap failed; detached", self.camera_id)
                            self.tap = None
                    try:
                        write(pkt)
                    # PyAV's data and argument errors are ValueErrors (there is no
                    # av.error.ValueError: naming it raised AttributeError here instead)
                    except ValueError as e:
                        self.dropped += 1  # e.g. a timestamp going backwards: drop, go on
                        log.debug("%s: packet dropped: %s", self.camera_id, e)
                        continue
                    self.last_packet_mono = now
                    self._last_packet_time = wall()
                    self.packets += 1
            except SourceError as e:
                status, reason = e.status, e.reason
            except OSError as e:  # writing: disk full, permissions
                status, reason = "fault", f"cannot write recording: {e.strerror or e}"
            except av.error.FFmpegError as e:
                status, reason = "fault", f"recording error: {scrub(e.strerror or str(e), url)}"
            except Exception as e:  # never let one camera's bug end the thread silently
                log.exception("%s: capture failed", self.camera_id)
                why = scrub(str(e), url)
                status, reason = "fault", f"internal error: {type(e).__name__}: {why}"
            finally:
                if writer is not None:
                    try:
                        writer.close()
                    except Exception as e:
                        log.warning("%s: closing the segment failed: %s", self.camera_id, e)
                    next_index = writer.next_index
                self.writer = None
                src.close()
            if self._stop.is_set():
                break
            self.online = False
            wait = backoff.next()
            log.warning("%s: %s (%s); reopening in %.0f s", self.camera_id, status, reason,
                        wait)
            self.post(CaptureEvent(self.camera_id, status, reason=reason,
                                   last_packet=self.last_packet_wall))
            if self._stop.wait(wait):
                break
        self.post(CaptureEvent(self.camera_id, "stopped"))

    def _on_open(self, seg: SegmentInfo) -> None:
        self.post(CaptureEvent(self.camera_id, "segment_open", segment=seg))

    def _on_close(self, seg: SegmentInfo) -> None:
        self.bytes_closed += seg.bytes
        self.post(CaptureEvent(self.camera_id, "segment_closed", segment=seg))
