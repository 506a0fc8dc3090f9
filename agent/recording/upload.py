"""Upload finished recordings to an HTTP(S) endpoint with PUT, resuming after failures.

Protocol (documented in docs/recording.md): every file of a recording is PUT to
``{url}/{date}/{lesson_dir}/{relative path}``, the video segments first and
``recording.json`` last (its arrival tells the server the set is complete). Before each
file a ``HEAD`` asks what the server already has: ``Content-Length`` equal to the file
size means done; a smaller one means resume with ``PUT`` + ``Content-Range: bytes
N-(size-1)/size``; 404 means start from zero. 200, 201 and 204 are success.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import quote

import aiohttp

CHUNK = 256 * 1024


class UploadError(Exception):
    pass


class Uploader:
    def __init__(self, url: str, header: str = "Authorization", header_value: str | None = None,
                 timeout_s: float = 60.0, ca_file: str | None = None,
                 tls_insecure: bool = False) -> None:
        self.base = url.rstrip("/")
        self.headers = {header: header_value} if header_value else {}
        self.timeout = aiohttp.ClientTimeout(total=None, connect=timeout_s,
                                             sock_read=timeout_s, sock_connect=timeout_s)
        self.ssl: ssl.SSLContext | bool = True
        if ca_file:
            self.ssl = ssl.create_default_context(cafile=ca_file)
        if tls_insecure:
            self.ssl = False

    def target(self, rel: str) -> str:
        return f"{self.base}/{quote(rel)}"

    async def upload_recording(
        self, root: Path, rel_dir: str, progress: Callable[[int], None] | None = None
    ) -> int:
        """Upload every file under ``root/rel_dir``; returns bytes on the server."""
        directory = root / rel_dir
        files = sorted(p for p in directory.rglob("*") if p.is_file()
                       and not p.name.endswith(".tmp"))
        files.sort(key=lambda p: p.name == "recording.json")  # manifest last
        total = 0
        async with aiohttp.ClientSession(timeout=self.timeout, headers=self.headers) as s:
            for f in files:
                rel = f"{rel_dir}/{f.relative_to(directory).as_posix()}"
                total += await self._upload_file(s, f, rel)
                if progress:
                    progress(total)
        return total

    async def _upload_file(self, s: aiohttp.ClientSession, path: Path, rel: str) -> int:
        size = path.stat().st_size  # noqa: ASYNC240 - one stat, microseconds
        url = self.target(rel)
        have = 0
        async with s.head(url, ssl=self.ssl) as r:
            if r.status in (200, 206):
                have = int(r.headers.get("Content-Length", "0") or 0)
            elif r.status in (401, 403):
                raise UploadError(f"HEAD {rel}: HTTP {r.status} (check the upload token)")
            elif r.status != 404 and r.status >= 400 and r.status != 405:
                raise UploadError(f"HEAD {rel}: HTTP {r.status}")
        if have == size:
            return size
        if have > size:
            have = 0  # the server holds something else under that name: replace it
        headers = {"Content-Length": str(size - have),
                   "Content-Type": "application/json" if rel.endswith(".json") else "video/mp4"}
        if have:
            headers["Content-Range"] = f"bytes {have}-{size - 1}/{size}"
        async with s.put(url, data=_read(path, have), headers=headers, ssl=self.ssl) as r:
            if r.status not in (200, 201, 204):
                text = (await r.text())[:200]
                raise UploadError(f"PUT {rel}: HTTP {r.status} {text}".strip())
        return size


async def _read(path: Path, offset: int) -> AsyncIterator[bytes]:
    import asyncio

    with open(path, "rb") as f:  # noqa: ASYNC230 - reads go to a thread below
        f.seek(offset)
        while True:
            chunk = await asyncio.to_thread(f.read, CHUNK)
            if not chunk:
                return
            yield chunk
