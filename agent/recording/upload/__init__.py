"""Upload finished recordings to district storage; nothing counts as uploaded until the
server's copy of every file is verified.

Two targets (docs/recording.md, "Upload"), chosen by ``recording.upload.protocol``:

- ``s3`` (s3.py): S3-compatible object storage (MinIO, Alibaba OSS, Tencent COS, Huawei
  OBS, AWS). Multipart upload that resumes by part: the upload id and the parts done are
  kept on disk, and ``ListParts`` tells what the server really has. Verified by the part
  ETags (MD5) and the object's SHA-256 checksum (or its multipart MD5 ETag) against the
  local file.
- ``http`` (http.py): one plain ``PUT`` per whole file for simple servers; verified by a
  ``HEAD`` whose ``Content-Length`` must equal the file size (and a SHA-256 digest where the
  server returns one). No partial PUT: a server that ignores ``Content-Range`` would keep
  only the tail.

Remote keys start with school and room, so rooms never collide on a shared server:
``{prefix}/{school}/{room}/{date}/{lesson_dir}/{camera}/{file}``. Segments go first,
``recording.json`` last (its arrival means the set is complete). Per-file progress is kept
in ``.upload-state.json`` inside the recording's directory (state.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from agent.recording.upload.state import STATE_FILE

if TYPE_CHECKING:
    from agent.config import UploadConfig

# what went wrong, for counters and the catalog's upload reason
ErrorKind = Literal["network", "auth", "checksum", "size", "server", "config", "local"]
ERROR_KINDS: tuple[ErrorKind, ...] = ("network", "auth", "checksum", "size", "server",
                                      "config", "local")

Progress = Callable[[int, int], None]  # (bytes verified or sent so far, bytes in total)
Count = Callable[[str, int], None]  # ("bytes" | "parts_sent" | "parts_reused" | "files_skipped", n)


class UploadError(Exception):
    """An upload attempt failed; ``kind`` says why (retried later, never fatal)."""

    def __init__(self, kind: ErrorKind, message: str, code: str = "") -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.code = code  # the server's error code, when it gave one (S3: "NoSuchUpload" …)


class Uploader(Protocol):
    target: str  # where uploads go, without secrets (status page)

    async def upload_recording(self, root: Path, rel_dir: str,
                               progress: Progress | None = None) -> int:
        """Upload and verify every file of ``root/rel_dir``; returns the bytes verified."""
        ...

    async def close(self) -> None: ...


def remote_base(prefix: str, school: str, room: str) -> str:
    """The key prefix of one room: ``[prefix/]school/room`` (site names are key-safe)."""
    return "/".join(p for p in (prefix.strip("/"), school, room) if p)


def recording_files(directory: Path) -> list[Path]:
    """The files of one recording to upload: segments first, ``recording.json`` last."""
    files = sorted(p for p in directory.rglob("*") if p.is_file()
                   and not p.name.endswith(".tmp") and p.name != STATE_FILE)
    files.sort(key=lambda p: p.name == "recording.json")
    return files


def _nothing(_name: str, _n: int) -> None:
    pass


def make_uploader(cfg: UploadConfig, school: str, room: str,
                  count: Count | None = None) -> Uploader:
    base = remote_base(cfg.prefix, school, room)
    if cfg.protocol == "s3":
        from agent.recording.upload.s3 import S3Uploader

        return S3Uploader(cfg, base, count if count is not None else _nothing)
    from agent.recording.upload.http import HttpUploader

    return HttpUploader(cfg, base, count if count is not None else _nothing)


__all__ = ["ERROR_KINDS", "ErrorKind", "UploadError", "Uploader", "make_uploader",
           "recording_files", "remote_base"]
