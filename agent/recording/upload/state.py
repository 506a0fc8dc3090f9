"""What an upload has done so far, kept next to the recording so a crash, a restart or a
network failure resumes instead of starting over.

One JSON file per recording, ``.upload-state.json`` in its directory (it goes with the
recording when retention deletes it). Written atomically (temp file, fsync, rename).
Blocking: callers run these functions in a thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)

STATE_FILE = ".upload-state.json"


class PartState(msgspec.Struct, array_like=True):
    number: int
    etag: str  # as the server answered UploadPart
    sha256: str = ""  # base64, as sent


class FileState(msgspec.Struct):
    key: str  # remote key (or URL path) the file goes to
    size: int
    mtime_ns: int  # a changed local file is uploaded again from the start
    done: bool = False  # the server's copy is verified
    upload_id: str | None = None  # S3 multipart upload under way
    part_size: int = 0
    parts: list[PartState] = []  # parts the server confirmed (ListParts stays the truth)
    sha256: str = ""  # http: hex SHA-256 of the whole file, once verified


class UploadState(msgspec.Struct):
    target: str = ""  # protocol + endpoint + bucket: another target starts over
    files: dict[str, FileState] = {}


def load(directory: Path, target: str) -> UploadState:
    path = directory / STATE_FILE
    try:
        state = msgspec.json.decode(path.read_bytes(), type=UploadState)
    except FileNotFoundError:
        return UploadState(target=target)
    except (OSError, msgspec.DecodeError) as e:
        # worst case the files are sent again; the server's copy is verified either way
        log.warning("upload state %s unreadable (%s); starting over", path, e)
        return UploadState(target=target)
    if state.target != target:
        return UploadState(target=target)
    return state


def save(directory: Path, state: UploadState) -> None:
    path = directory / STATE_FILE
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(msgspec.json.encode(state))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):  # the rename itself durable (not on every FS)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
