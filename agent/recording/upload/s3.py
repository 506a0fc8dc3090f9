"""S3-compatible object storage: multipart upload that resumes by part, verified before
anything counts as uploaded.

Client: boto3 (botocore), the S3 SDK every S3-compatible store tests against (MinIO, OSS,
COS and OBS document it); bounded to major version 1. It blocks, so every request runs in
a worker thread, one request per call, so a shutdown waits for one part at most. boto3 is
imported only when S3 upload is configured (it is large).

Per file: ``CreateMultipartUpload`` (its upload id saved at once), then parts in order
(``Content-MD5`` on each, and ``x-amz-checksum-sha256`` with ``checksum = "sha256"``, so a
server that checks refuses a part damaged on the way); each part saved as done when the
server's ETag equals its MD5. After a crash or a failure the saved upload id is resumed:
``ListParts`` tells what the server holds, each of those parts is compared with the local
bytes (size and MD5 ETag) and only the others are sent. Before ``CompleteMultipartUpload``
``ListParts`` must show every part with the right ETag; after it ``HeadObject`` must give
the file's size and its SHA-256 (the composite: SHA-256 of the part SHA-256s)
or, with ``checksum = "md5"`` (stores without S3 additional checksums), the multipart ETag
MD5 of the part MD5s.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import logging
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agent.config import read_secret
from agent.recording.upload import state as st
from agent.recording.upload.base import Count, ErrorKind, Progress, UploadError, recording_files

if TYPE_CHECKING:
    from agent.config import UploadConfig

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MIN_PART = 5 * 1024**2  # S3: every part but the last is at least 5 MiB
MAX_PART = 512 * 1024**2  # our bound: one part is held in memory while it is sent
MAX_PARTS = 10_000  # S3: at most this many parts per object

_NOT_FOUND = ("404", "NoSuchKey", "NotFound")
_AUTH = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403", "401",
         "InvalidToken", "ExpiredToken", "AuthorizationHeaderMalformed")
_CHECKSUM = ("BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "InvalidChecksum")
_CONFIG = ("NoSuchBucket", "InvalidBucketName", "PermanentRedirect", "InvalidArgument")


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _etag_md5(etag: str) -> str | None:
    """The MD5 hex an ETag carries, or None when it is not a plain MD5 (SSE-KMS, …)."""
    e = etag.strip().strip('"').lower()
    return e if re.fullmatch(r"[0-9a-f]{32}", e) else None


@dataclass
class _Part:
    number: int
    size: int
    md5: bytes
    sha256: bytes
    etag: str = ""


@dataclass
class _Local:
    parts: list[_Part] = field(default_factory=list)


def _read_part(path: Path, offset: int, length: int) -> tuple[bytes, bytes, bytes]:
    """One part's bytes, MD5 and SHA-256, off the loop."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    return data, hashlib.md5(data).digest(), hashlib.sha256(data).digest()


def _digests(path: Path, size: int, part_size: int) -> _Local:
    """MD5 and SHA-256 of every part of the local file."""
    out = _Local()
    with open(path, "rb") as f:
        for n in range(1, _count_parts(size, part_size) + 1):
            data = f.read(part_size)
            out.parts.append(_Part(n, len(data), hashlib.md5(data).digest(),
                                   hashlib.sha256(data).digest()))
    return out


def _count_parts(size: int, part_size: int) -> int:
    return max(1, -(-size // part_size))


class S3Uploader:
    def __init__(self, cfg: UploadConfig, base: str, count: Count) -> None:
        self.cfg = cfg
        self.base = base
        self.bucket = cfg.bucket or ""
        self.count = count
        self.sha256 = cfg.checksum == "sha256"
        self.target = f"s3:{cfg.url}/{self.bucket}"
        self._client: Any = None
        self._worker = _Worker()

    async def _run(self, fn: Callable[..., _T], *args: Any, **kw: Any) -> _T:
        return await self._worker.run(functools.partial(fn, *args, **kw))

    # ------------------------------------------------------------------ client

    def _make_client(self) -> Any:
        # lazy: boto3 is slow to import; only the S3 client needs it
        import boto3
        from botocore.config import Config as BotoConfig


        c = self.cfg
        try:
            access = read_secret(c.access_key, c.access_key_file)
            secret = read_secret(c.secret_key, c.secret_key_file)
        except OSError as e:
            raise UploadError("config", f"cannot read the S3 credentials: {e}") from None
        if not access or not secret:
            raise UploadError("config", "no S3 access key / secret key configured")
        verify: bool | str = c.ca_file or True
        if c.tls_insecure:
            verify = False
        return boto3.session.Session().client(
            "s3", endpoint_url=c.url, region_name=c.region, aws_access_key_id=access,
            aws_secret_access_key=secret, verify=verify,
            config=BotoConfig(
                connect_timeout=c.timeout_s, read_timeout=c.timeout_s,
                retries={"max_attempts": 2, "mode": "standard"},  # our own backoff retries
                s3={"addressing_style": c.addressing_style},
                # botocore >= 1.36 adds CRC32 trailers to every upload unless told not to;
                # several S3-compatible stores refuse those. We send our own checksums.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                signature_version="s3v4",
            ),
        )

    def _call(self, op: str, **kw: Any) -> dict[str, Any]:
        """One S3 request (blocking), its failures turned into UploadError."""
        # lazy: botocore loads with the first S3 request
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
        from botocore.exceptions import ConnectionError as BotoConnectionError

        if self._client is None:
            self._client = self._make_client()
        what = f"{op} {kw.get('Key', '')}".strip()
        try:
            reply: dict[str, Any] = getattr(self._client, op)(**kw)  # boto3: built at run time
            return reply
        except ClientError as e:
            err = e.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            text = f"{what}: {code or 'HTTP ' + str(status)} {err.get('Message', '')}".strip()
            kind: ErrorKind = ("auth" if code in _AUTH or status in (401, 403) else
                    "checksum" if code in _CHECKSUM else
                    "config" if code in _CONFIG else "server")
            raise UploadError(kind, text, code) from None
        except (BotoConnectionError, TimeoutError, ConnectionError) as e:
            raise UploadError("network", f"{what}: {e}") from None
        except NoCredentialsError as e:
            raise UploadError("config", f"{what}: {e}") from None
        except BotoCoreError as e:
            raise UploadError("server", f"{what}: {e}") from None

    async def _req(self, op: str, **kw: Any) -> dict[str, Any]:
        return await self._run(self._call, op, Bucket=self.bucket, **kw)

    async def close(self) -> None:
        # never waits: a part still in flight (shutdown mid-upload) ends in its own time,
        # bounded by timeout_s; the next start resumes by ListParts
        client, self._client = self._client, None
        self._worker.stop(client.close if client is not None else None)

    # ------------------------------------------------------------------ recordings

    async def upload_recording(self, root: Path, rel_dir: str,
                               progress: Progress | None = None) -> int:
        directory = root / rel_dir
        try:
            files = await self._run(recording_files, directory)
            sizes = [await self._run(lambda f=f: f.stat().st_size) for f in files]
        except OSError as e:
            raise UploadError("local", f"cannot list {rel_dir}: {e}") from None
        state = await self._run(st.load, directory, self.target)
        total, done = sum(sizes), 0
        for f in files:
            rel = f.relative_to(directory).as_posix()
            key = f"{self.base}/{rel_dir}/{rel}"
            done = await self._upload_file(directory, state, f, rel, key, done, total,
                                           progress)
        return done

    async def _save(self, directory: Path, state: st.UploadState) -> None:
        try:
            await self._run(st.save, directory, state)
        except OSError as e:
            raise UploadError("local", f"cannot save the upload state: {e}") from None

    async def _upload_file(self, directory: Path, state: st.UploadState, path: Path,
                           rel: str, key: str, done: int, total: int,
                           progress: Progress | None) -> int:
        try:
            stat = await self._run(path.stat)
        except OSError as e:
            raise UploadError("local", f"{rel}: {e}") from None
        size, mtime = stat.st_size, stat.st_mtime_ns
        entry = state.files.get(rel)
        if entry and (entry.key != key or entry.size != size or entry.mtime_ns != mtime):
            if entry.upload_id:  # the local file changed: that upload is of no use
                with contextlib.suppress(UploadError):
                    await self._req("abort_multipart_upload", Key=entry.key,
                                    UploadId=entry.upload_id)
            entry = None
        if entry and entry.done:
            self.count("files_skipped", 1)
            return done + size
        if entry is None:
            part_size = max(self.cfg.part_size, -(-size // MAX_PARTS))
            entry = st.FileState(key=key, size=size, mtime_ns=mtime, part_size=part_size)
            state.files[rel] = entry
            # an earlier attempt may have finished this object before its state was saved
            if await self._remote_matches(path, entry):
                entry.done = True
                await self._save(directory, state)
                self.count("files_skipped", 1)
                return done + size

        server: dict[int, dict[str, Any]] = {}
        if entry.upload_id:
            try:
                server = await self._list_parts(key, entry.upload_id)
            except UploadError as e:
                if e.code != "NoSuchUpload":
                    raise
                log.info("upload of %s: the server no longer knows upload %s (completed, "
                         "expired or aborted)", key, entry.upload_id)
                entry.upload_id, entry.parts = None, []
                # completed just before a crash? then the object is there and verifiable
                if await self._remote_matches(path, entry):
                    entry.done = True
                    await self._save(directory, state)
                    self.count("files_skipped", 1)
                    return done + size
        if not entry.upload_id:
            kw: dict[str, Any] = {"ContentType": _content_type(rel)}
            if self.sha256:
                kw["ChecksumAlgorithm"] = "SHA256"
            resp = await self._req("create_multipart_upload", Key=key, **kw)
            if not resp.get("UploadId"):
                raise UploadError("server", f"CreateMultipartUpload {key}: no upload id")
            entry.upload_id, entry.parts = str(resp["UploadId"]), []
            await self._save(directory, state)
        upload_id = entry.upload_id
        assert upload_id is not None

        parts: list[_Part] = []
        n_parts = _count_parts(size, entry.part_size)
        for n in range(1, n_parts + 1):
            offset = (n - 1) * entry.part_size
            length = min(entry.part_size, size - offset)
            try:
                data, md5, sha = await self._run(_read_part, path, offset, length)
            except OSError as e:
                raise UploadError("local", f"{rel}: {e}") from None
            if len(data) != length:
                raise UploadError("local", f"{rel} changed while it was uploaded")
            part = _Part(n, length, md5, sha)
            have = server.get(n)
            if have is not None and self._part_is(have, part):
                part.etag = have["ETag"]
                self.count("parts_reused", 1)
            else:
                part.etag = await self._send_part(key, upload_id, part, data)
                entry.parts = [p for p in entry.parts if p.number != n]
                entry.parts.append(st.PartState(n, part.etag, _b64(part.sha256)))
                await self._save(directory, state)
            del data
            parts.append(part)
            if progress:
                progress(done + offset + length, total)

        # what the server holds, before it makes the object of it
        server = await self._list_parts(key, upload_id)
        for p in parts:
            have = server.get(p.number)
            if have is None or not self._part_is(have, p):
                raise UploadError("checksum", f"{key}: part {p.number} on the server is not "
                                  "the local one (size or MD5 differ)")
        complete = []
        for p in parts:
            item: dict[str, Any] = {"PartNumber": p.number, "ETag": p.etag}
            if self.sha256:
                item["ChecksumSHA256"] = _b64(p.sha256)
            complete.append(item)
        await self._req("complete_multipart_upload", Key=key, UploadId=upload_id,
                        MultipartUpload={"Parts": complete})
        local = _Local(parts)
        await self._verify(key, size, local)
        entry.done, entry.upload_id, entry.parts = True, None, []
        await self._save(directory, state)
        return done + size

    # ------------------------------------------------------------------ requests

    async def _send_part(self, key: str, upload_id: str, part: _Part, data: bytes) -> str:
        kw: dict[str, Any] = {"ContentMD5": _b64(part.md5)}
        if self.sha256:
            kw["ChecksumSHA256"] = _b64(part.sha256)
        resp = await self._req("upload_part", Key=key, UploadId=upload_id,
                               PartNumber=part.number, Body=data, **kw)
        etag = str(resp.get("ETag", ""))
        got = _etag_md5(etag)
        if got is not None and got != part.md5.hex():
            raise UploadError("checksum", f"{key}: part {part.number} arrived damaged (the "
                              f"server stored MD5 {got}, {part.md5.hex()} was sent)")
        self.count("bytes", part.size)
        self.count("parts_sent", 1)
        return etag

    async def _list_parts(self, key: str, upload_id: str) -> dict[int, dict[str, Any]]:
        out: dict[int, dict[str, Any]] = {}
        marker = 0
        while True:
            resp = await self._req("list_parts", Key=key, UploadId=upload_id,
                                   PartNumberMarker=marker)
            for p in resp.get("Parts") or []:
                with contextlib.suppress(KeyError, TypeError, ValueError):  # odd entry: resend
                    out[int(p["PartNumber"])] = p
            if not resp.get("IsTruncated"):
                return out
            try:
                marker = int(resp.get("NextPartNumberMarker", 0))
            except (TypeError, ValueError):
                marker = 0
            if not marker:
                raise UploadError("server", f"ListParts {key}: truncated without a marker")

    @staticmethod
    def _part_is(have: dict[str, Any], part: _Part) -> bool:
        """Does the server's part (ListParts) hold these local bytes?"""
        try:
            if int(have.get("Size", -1)) != part.size:
                return False
        except (TypeError, ValueError):
            return False
        md5 = _etag_md5(str(have.get("ETag", "")))
        if md5 is not None and md5 != part.md5.hex():
            return False
        sha = have.get("ChecksumSHA256")
        return not sha or sha == _b64(part.sha256)

    async def _head(self, key: str) -> dict[str, Any] | None:
        kw = {"ChecksumMode": "ENABLED"} if self.sha256 else {}
        try:
            return await self._req("head_object", Key=key, **kw)
        except UploadError as e:
            if e.code in _NOT_FOUND:
                return None
            raise

    async def _verify(self, key: str, size: int, local: _Local, strict: bool = False) -> None:
        """The object on the server is the local file (size and checksum), or UploadError.
        ``strict``: a checksum must have been compared (not only the parts' ETags)."""
        h = await self._head(key)
        if h is None:
            raise UploadError("server", f"{key}: missing on the server after completion")
        if int(h.get("ContentLength", -1)) != size:
            raise UploadError("size", f"{key}: the server holds {h.get('ContentLength')} "
                              f"bytes, the local file has {size}")
        n = len(local.parts)
        if self.sha256:
            got = str(h.get("ChecksumSHA256") or "")
            if not got:
                raise UploadError("checksum", f"{key}: the server returned no SHA-256 "
                                  "checksum (for stores without S3 additional checksums, "
                                  "e.g. OSS, COS, OBS, set recording.upload.checksum = "
                                  "\"md5\")")
            value = got.split("-")[0]  # a composite checksum is written "…-N"
            composite = _b64(hashlib.sha256(b"".join(p.sha256 for p in local.parts)).digest())
            if value != composite:
                raise UploadError("checksum", f"{key}: the server's SHA-256 {got} is not the "
                                  "local file's")
        etag = str(h.get("ETag", "")).strip('"').lower()
        if re.fullmatch(r"[0-9a-f]{32}-[0-9]+", etag):
            want = hashlib.md5(b"".join(p.md5 for p in local.parts)).hexdigest() + f"-{n}"
            if etag != want:
                raise UploadError("checksum", f"{key}: the server's ETag {etag} is not the "
                                  f"local file's ({want})")
        elif strict and not self.sha256:
            raise UploadError("checksum", f"{key}: no multipart ETag to compare")

    async def _remote_matches(self, path: Path, entry: st.FileState) -> bool:
        """Is the object already on the server this very file?"""
        h = await self._head(entry.key)
        if h is None or int(h.get("ContentLength", -1)) != entry.size:
            return False
        try:
            local = await self._run(_digests, path, entry.size, entry.part_size)
        except OSError as e:
            raise UploadError("local", f"{path.name}: {e}") from None
        try:
            await self._verify(entry.key, entry.size, local, strict=True)
        except UploadError as e:
            if e.kind in ("checksum", "size"):
                return False  # something else under that key: replace it
            raise
        return True


class _Worker:
    """One daemon thread for every blocking step of an uploader. One thread: requests go
    one at a time anyway, and it keeps part buffers in one malloc arena (a pool of
    threads each kept its own 8 MiB leftovers: +30 MB RSS measured, bench/upload.py).
    Daemon: a request hung on a dead network never holds up the agent's exit (an
    executor's threads are joined at exit); the upload resumes at the next start."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Any, Any] | None] = (
            queue.SimpleQueue())
        self._thread: threading.Thread | None = None

    async def run(self, fn: Callable[[], _T]) -> _T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[_T] = loop.create_future()
        if self._thread is None:
            self._thread = threading.Thread(target=_work, args=(self._jobs,), name="s3-upload",
                                            daemon=True)
            self._thread.start()
        self._jobs.put((fn, loop, fut))
        return await fut

    def stop(self, last: Callable[[], Any] | None = None) -> None:
        if self._thread is not None:
            if last is not None:
                self._jobs.put((last, None, None))
            self._jobs.put(None)
            self._thread, self._jobs = None, queue.SimpleQueue()  # a later run: new thread


def _work(jobs: queue.SimpleQueue[Any]) -> None:
    while (job := jobs.get()) is not None:
        fn, loop, fut = job
        try:
            result, error = fn(), None
        except BaseException as e:  # handed to the awaiting coroutine
            result, error = None, e
        if loop is None:
            continue
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(_settle, fut, result, error)


def _settle(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if fut.done():  # the awaiting coroutine was cancelled
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


def _content_type(rel: str) -> str:
    return "application/json" if rel.endswith(".json") else "video/mp4"
