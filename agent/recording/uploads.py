"""Upload at work: sends the recordings the catalog says are due, one at a time, through
the uploader of ``upload/`` (S3 or HTTP); every failure is recorded by its kind and retried
later with a growing delay; after a verified upload ``delete_after_upload`` hands the
recording to retention. The recording service owns one and wakes it when a recording
ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.clock import Clock
from agent.config import SiteConfig, UploadConfig
from agent.metrics import Metrics
from agent.recording.catalog import Catalog
from agent.recording.cleanup import Retention
from agent.recording.retention import DeleteReason, Why
from drivers.redact import redact

if TYPE_CHECKING:
    from agent.recording.upload import ErrorKind, Uploader

log = logging.getLogger(__name__)


class Uploads:
    def __init__(self, cfg: UploadConfig, site: SiteConfig, root: Path, clock: Clock,
                 metrics: Metrics, retention: Retention) -> None:
        self.cfg = cfg
        self.site = site
        self.root = root
        self.clock = clock
        self.retention = retention
        self.catalog: Catalog | None = None  # the service's, once started
        self.wake = asyncio.Event()
        self.active: str | None = None  # the recording being uploaded
        self._done = (0, 0)  # bytes done / in total of the active upload
        self._errors: dict[str, int] = {}  # failed attempts by kind, since start
        self._last_error: dict[str, Any] | None = None
        m = metrics
        self.m_uploads = m.counter("classroom_recording_uploads_total",
                                   "Upload attempts, by outcome", ["outcome"])
        self.m_upload_errors = m.counter(
            "classroom_recording_upload_errors_total",
            "Failed upload attempts, by kind (network, auth, checksum, size, server, "
            "config, local)", ["kind"])
        self.m_upload_bytes = m.counter("classroom_recording_upload_bytes_total",
                                        "Bytes sent to the upload server")
        self.m_upload_units = m.counter(
            "classroom_recording_upload_units_total",
            "Upload work: parts_sent, parts_reused (resumed: the server had them), "
            "files_skipped (already verified)", ["what"])

    def status(self) -> dict[str, Any]:
        up = self.cfg
        target = redact(up.url or "") + (f" bucket {up.bucket}" if up.protocol == "s3" else "")
        done, total = self._done
        return {"active": self.active, "protocol": up.protocol, "target": target,
                "progress": ({"bytes": done, "total": total} if self.active else None),
                "errors": dict(self._errors), "last_error": self._last_error}

    async def loop(self) -> None:
        from agent.recording.upload import make_uploader

        uploader = make_uploader(self.cfg, self.site.school, self.site.room, self._count)
        assert self.catalog is not None
        try:
            while True:
                due = await asyncio.to_thread(self.catalog.upload_due, time.time())
                for row in due:
                    await self.upload_one(uploader, row)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(2.0):
                        await self.wake.wait()
                self.wake.clear()
        finally:
            with contextlib.suppress(Exception):
                await uploader.close()

    def _count(self, name: str, n: int) -> None:
        match name:
            case "bytes":
                self.m_upload_bytes.inc(n)
            case "parts_sent" | "parts_reused" | "files_skipped":
                self.m_upload_units.labels(name).inc(n)

    def _progress(self, done: int, total: int) -> None:
        self._done = (done, total)

    async def upload_one(self, uploader: Uploader, row: dict[str, Any]) -> None:
        """One attempt at one recording; every failure is recorded and retried later."""
        from agent.recording.upload import UploadError

        assert self.catalog is not None
        up = self.cfg
        self.active = row["id"]
        self._done = (0, 0)
        attempts = int(row["upload_attempts"] or 0)
        await asyncio.to_thread(self.catalog.update, row["id"], upload_state="uploading")
        try:
            sent = await uploader.upload_recording(self.root, row["path"], self._progress)
        except Exception as e:  # every failure is retried later, never fatal
            kind: ErrorKind
            if isinstance(e, UploadError):
                kind = e.kind
            elif isinstance(e, OSError):
                kind = "local"
            else:
                kind = "server"
                log.exception("upload of %s failed", row["id"])
            why = f"{kind}: {str(e) or type(e).__name__}"
            delay = min(up.retry_max_s, up.retry_min_s * 2 ** min(attempts, 16))
            await asyncio.to_thread(
                self.catalog.update, row["id"], upload_state="failed",
                upload_reason=why[:300], upload_attempts=attempts + 1,
                upload_next=time.time() + delay,
            )
            self.m_uploads.labels("failed").inc()
            self.m_upload_errors.labels(kind).inc()
            self._errors[kind] = self._errors.get(kind, 0) + 1
            self._last_error = {"recording_id": row["id"], "kind": kind,
                                "reason": why[:300],
                                "at": self.clock.now().astimezone(UTC).isoformat()}
            log.warning("upload of %s failed (%s); retry in %.1f s; local files kept",
                        row["id"], why, delay)
            return
        finally:
            self.active = None
        await asyncio.to_thread(
            self.catalog.update, row["id"], upload_state="uploaded", upload_reason="",
            upload_attempts=attempts + 1, uploaded_bytes=sent, upload_next=0.0,
        )
        self.m_uploads.labels("ok").inc()
        log.info("recording %s uploaded and verified (%d bytes)", row["id"], sent)
        if up.delete_after_upload:  # only now: every file's server copy was verified
            fresh = await asyncio.to_thread(self.catalog.get, row["id"])
            if fresh:
                await self.retention.delete(fresh, Why(DeleteReason.UPLOADED,
                                                       "uploaded; delete_after_upload is on"))
