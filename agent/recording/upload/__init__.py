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

from typing import TYPE_CHECKING

from agent.recording.upload.base import (
    ERROR_KINDS,
    Count,
    ErrorKind,
    Progress,
    Uploader,
    UploadError,
    recording_files,
    remote_base,
)

if TYPE_CHECKING:
    from agent.config import UploadConfig


def _nothing(_name: str, _n: int) -> None:
    pass


def make_uploader(cfg: UploadConfig, school: str, room: str,
                  count: Count | None = None) -> Uploader:
    base = remote_base(cfg.prefix, school, room)
    if cfg.protocol == "s3":
        from agent.recording.upload.s3 import S3Uploader  # lazy: boto3 is large, S3 is optional

        return S3Uploader(cfg, base, count if count is not None else _nothing)
    from agent.recording.upload.http import HttpUploader  # lazy: the one target in use loads

    return HttpUploader(cfg, base, count if count is not None else _nothing)


__all__ = ["ERROR_KINDS", "Count", "ErrorKind", "Progress", "UploadError", "Uploader",
           "make_uploader", "recording_files", "remote_base"]
