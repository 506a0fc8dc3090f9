"""What the upload targets share: the error kinds, the uploader interface and the file
order. The targets (http.py, s3.py) import this module, never the package, so the package's
factory can import them without a cycle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

from agent.recording.upload.state import STATE_FILE

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
