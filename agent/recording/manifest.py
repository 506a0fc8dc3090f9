"""``recording.json``: the self-describing record next to the video files.

It is the source of truth on disk (the SQLite catalog is an index that can be rebuilt from
these files). Written atomically (temp file, fsync, rename, fsync of the directory) so a
crash leaves either the old or the new version, never half of one.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Literal

import msgspec

from agent.events import RecordingCamera, RecordingGap

MANIFEST = "recording.json"
ManifestState = Literal["recording", "finished", "failed", "partial"]


class SegmentEntry(msgspec.Struct, kw_only=True):
    file: str
    started: datetime  # wall clock when its first packet was written
    duration_s: float = 0.0
    bytes: int = 0
    closed: bool = False  # False: being written, or cut short by a crash


class CameraEntry(msgspec.Struct, kw_only=True):
    id: str
    role: str
    source: str  # URL without password
    codec: str = ""
    profile: str = ""
    width: int = 0
    height: int = 0
    fps: float = 0.0
    audio: str = ""
    mode: str = ""  # remux | encode
    source_codec: str = ""
    status: str = "connecting"  # online | offline | fault | connecting
    reason: str = ""
    segments: list[SegmentEntry] = msgspec.field(default_factory=list)

    def summary(self) -> RecordingCamera:
        return RecordingCamera(
            id=self.id, role=self.role, codec=self.codec, profile=self.profile,
            width=self.width, height=self.height, fps=self.fps, audio=self.audio,
            mode=self.mode, segments=len(self.segments),
            bytes=sum(s.bytes for s in self.segments),
        )


class Manifest(msgspec.Struct, kw_only=True):
    version: int = 1
    recording_id: str
    lesson_id: str
    title: str = ""
    subject: str = ""
    teacher: str = ""
    trigger: str = ""
    school: str = ""
    room: str = ""
    state: ManifestState = "recording"
    reason: str = ""
    started: datetime
    ended: datetime | None = None
    duration_s: float = 0.0
    bytes: int = 0
    segment_s: float = 0.0
    cameras: list[CameraEntry] = msgspec.field(default_factory=list)
    gaps: list[RecordingGap] = msgspec.field(default_factory=list)
    # kept by the teacher as a showcase lesson (and judged by recording.quality_rule)
    showcase: bool = False
    showcase_at: datetime | None = None
    quality: bool = False

    def camera(self, cam_id: str) -> CameraEntry | None:
        return next((c for c in self.cameras if c.id == cam_id), None)


_enc = msgspec.json.Encoder()


def write(directory: Path, m: Manifest, tmp_suffix: str = ".tmp") -> None:
    """Atomically replace ``directory/recording.json`` (blocking: call from a thread).
    A writer that may overlap another one (shutdown's last resort) uses its own
    ``tmp_suffix`` so the two never write into the same temporary file."""
    path = directory / MANIFEST
    tmp = directory / (MANIFEST + tmp_suffix)
    data = msgspec.json.format(_enc.encode(m), indent=2)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read(directory: Path) -> Manifest:
    """Raises OSError / msgspec.ValidationError / msgspec.DecodeError."""
    return msgspec.json.decode((directory / MANIFEST).read_bytes(), type=Manifest)
