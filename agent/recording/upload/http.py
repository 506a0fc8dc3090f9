"""Plain HTTP(S): one ``PUT`` per whole file, for simple servers (WebDAV, nginx, …).

Each file is PUT whole to ``{url}/{key}`` with the configured auth header and its SHA-256
in ``Content-Digest`` / ``Repr-Digest`` (RFC 9530; a server that checks them refuses a
damaged body). 200, 201 and 204 are success. Then a ``HEAD`` must report a
``Content-Length`` equal to the file size, and where the server returns a SHA-256
(``x-amz-checksum-sha256`` or ``X-Checksum-Sha256`` on the PUT or the HEAD,
``Repr-Digest`` on the HEAD) it must be the file's: only then is the file uploaded. There is
no partial PUT (``Content-Range``): a server that ignores it stores only the tail and
still answers 2xx. A failed file is sent again whole on the next attempt; verified files
are not sent again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import aiohttp

from agent.config import read_secret
from agent.recording.upload import state as st
from agent.recording.upload.base import Count, ErrorKind, Progress, UploadError, recording_files

if TYPE_CHECKING:
    from agent.config import UploadConfig

CHUNK = 256 * 1024


def _sha256(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.digest()


def server_sha256(headers: Mapping[str, str], head: bool = True) -> bytes | None:
    """A SHA-256 of the stored file that the server states in its response headers, if
    any. ``Repr-Digest`` counts only on a HEAD (on a PUT response it may describe the
    response itself); ``Content-Digest`` never does (it is about the message body)."""
    if head and (m := re.search(r"sha-256=:([A-Za-z0-9+/=]+):",
                                headers.get("Repr-Digest", ""))):
        try:
            return base64.b64decode(m.group(1), validate=True)
        except ValueError:
            return b""  # unparseable counts as not matching
    if v := headers.get("x-amz-checksum-sha256"):
        try:
            return base64.b64decode(v.split("-")[0], validate=True)
        except ValueError:
            return b""
    if v := headers.get("X-Checksum-Sha256"):
        try:
            return bytes.fromhex(v.strip())
        except ValueError:
            return b""
    return None


class HttpUploader:
    def __init__(self, cfg: UploadConfig, base: str, count: Count) -> None:
        self.cfg = cfg
        self.count = count
        self.base_url = f"{(cfg.url or '').rstrip('/')}/{quote(base)}"
        self.target = f"http:{cfg.url}"
        self._token_error = ""
        self.headers: dict[str, str] = {}
        try:
            token = read_secret(cfg.token, cfg.token_file)
        except OSError as e:
            self._token_error = f"cannot read the upload token: {e}"
            token = None
        if token:
            self.headers[cfg.header] = f"{cfg.token_prefix}{token}"
        self.timeout = aiohttp.ClientTimeout(total=None, connect=cfg.timeout_s,
                                             sock_read=cfg.timeout_s,
                                             sock_connect=cfg.timeout_s)
        self.ssl: ssl.SSLContext | bool = True
        if cfg.ca_file:
            self.ssl = ssl.create_default_context(cafile=cfg.ca_file)
        if cfg.tls_insecure:
            self.ssl = False

    async def close(self) -> None:
        pass

    def url(self, key: str) -> str:
        return f"{self.base_url}/{quote(key)}"

    async def upload_recording(self, root: Path, rel_dir: str,
                               progress: Progress | None = None) -> int:
        if self._token_error:
            raise UploadError("config", self._token_error)
        directory = root / rel_dir
        try:
            files = await asyncio.to_thread(recording_files, directory)
            sizes = [(await asyncio.to_thread(f.stat)).st_size for f in files]
        except OSError as e:
            raise UploadError("local", f"cannot list {rel_dir}: {e}") from None
        state = await asyncio.to_thread(st.load, directory, self.target)
        total, done = sum(sizes), 0
        try:
            async with aiohttp.ClientSession(timeout=self.timeout, headers=self.headers) as s:
                for f in files:
                    rel = f.relative_to(directory).as_posix()
                    done += await self._upload_file(s, directory, state, f, rel,
                                                    f"{rel_dir}/{rel}")
                    if progress:
                        progress(done, total)
        except (aiohttp.ClientError, TimeoutError) as e:
            raise UploadError("network", f"{type(e).__name__}: {e}".rstrip(": ")) from None
        return done

    async def _upload_file(self, s: aiohttp.ClientSession, directory: Path,
                           state: st.UploadState, path: Path, rel: str, key: str) -> int:
        try:
            stat = await asyncio.to_thread(path.stat)
            size = stat.st_size
            entry = state.files.get(rel)
            if (entry and entry.done and entry.key == key and entry.size == size
                    and entry.mtime_ns == stat.st_mtime_ns):
                self.count("files_skipped", 1)
                return size
            digest = await asyncio.to_thread(_sha256, path)
        except OSError as e:
            raise UploadError("local", f"{rel}: {e}") from None
        url = self.url(key)
        b64 = base64.b64encode(digest).decode()
        headers = {"Content-Length": str(size),
                   "Content-Type": "application/json" if rel.endswith(".json") else "video/mp4",
                   "Content-Digest": f"sha-256=:{b64}:", "Repr-Digest": f"sha-256=:{b64}:"}
        async with s.put(url, data=_read(path), headers=headers, ssl=self.ssl) as r:
            if r.status not in (200, 201, 204):
                text = (await r.text())[:200]
                kind: ErrorKind = "auth" if r.status in (401, 403) else "server"
                hint = " (check the upload token)" if kind == "auth" else ""
                raise UploadError(kind, f"PUT {key}: HTTP {r.status}{hint} {text}".strip())
            said = server_sha256(r.headers, head=False)
        self.count("bytes", size)
        # verify what the server stored before anything counts as uploaded
        async with s.head(url, ssl=self.ssl) as r:
            if r.status != 200:
                raise UploadError("size", f"HEAD {key}: HTTP {r.status}; the server cannot "
                                  "confirm the file, so it is not counted as uploaded")
            length = r.headers.get("Content-Length")
            if length is None or not length.isdigit() or int(length) != size:
                raise UploadError("size", f"{key}: the server holds {length} bytes, the "
                                  f"local file has {size}")
            said = server_sha256(r.headers) if said is None else said
        if said is not None and said != digest:
            raise UploadError("checksum", f"{key}: the server's SHA-256 is not the local "
                              "file's")
        state.files[rel] = st.FileState(key=key, size=size, mtime_ns=stat.st_mtime_ns,
                                        done=True, sha256=digest.hex())
        try:
            await asyncio.to_thread(st.save, directory, state)
        except OSError as e:
            raise UploadError("local", f"cannot save the upload state: {e}") from None
        return size


async def _read(path: Path) -> AsyncIterator[bytes]:
    with open(path, "rb") as f:  # noqa: ASYNC230 - reads go to a thread below
        while True:
            chunk = await asyncio.to_thread(f.read, CHUNK)
            if not chunk:
                return
            yield chunk
