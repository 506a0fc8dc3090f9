"""Retention at work: measures the free space and deletes recordings by the plan of
``retention.py`` (age, low disk) or after a verified upload. The recording service owns
one; it tells it what must not be touched (the recording in progress, the one uploading)
and hears of every deletion, to publish it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from agent.clock import Clock
from agent.config import RecordingConfig
from agent.metrics import Metrics
from agent.recording import manifest as mf
from agent.recording import retention
from agent.recording.catalog import Catalog
from agent.recording.retention import DeleteReason, Why

log = logging.getLogger(__name__)

AWAITING_UPLOAD = ("pending", "uploading", "failed")


class Retention:
    def __init__(
        self, cfg: RecordingConfig, root: Path, clock: Clock, metrics: Metrics,
        measure_free: Callable[[], int], busy: Callable[[], set[str]],
        bitrate_bps: Callable[[], float],
        deleted: Callable[[mf.Manifest, str], Awaitable[None]],
    ) -> None:
        self.cfg = cfg
        self.root = root
        self.clock = clock
        self.catalog: Catalog | None = None  # the service's, once started
        self._measure = measure_free
        self._busy = busy
        self._bitrate = bitrate_bps
        self._deleted = deleted
        self.free = -1
        self.keep_free = cfg.min_free_bytes
        self.wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self.m_deleted = metrics.counter("classroom_recording_deleted_total",
                                         "Recordings deleted by retention", ["reason"])
        self.m_delete_failed = metrics.counter("classroom_recording_delete_failed_total",
                                               "Recordings whose files could not be deleted")
        self.m_free = metrics.gauge("classroom_recording_free_bytes",
                                    "Free bytes on the recordings disk")

    async def measure(self) -> int:
        self.free = await asyncio.to_thread(self._measure)
        return self.free

    async def loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.cfg.retention_interval_s):
                    await self.wake.wait()
            self.wake.clear()
            try:
                await self.enforce()
            except Exception:
                log.exception("retention pass failed")

    async def enforce(self) -> list[str]:
        """One pass: returns the ids deleted."""
        async with self._lock:
            return await self._enforce()

    async def _enforce(self) -> list[str]:
        assert self.catalog is not None
        free = await self.measure()
        self.m_free.set(free)
        bitrate = self._bitrate()
        self.keep_free = keep = retention.threshold(self.cfg.min_free_bytes, bitrate)
        busy = self._busy()
        rows = [r for r in await asyncio.to_thread(self.catalog.deletion_candidates)
                if r["id"] not in busy]
        todo: list[tuple[dict[str, Any], Why]] = []
        if self.cfg.max_age_days > 0:
            now = self.clock.now().astimezone(UTC)  # started is stored as UTC ISO text
            cutoff = (now - timedelta(days=self.cfg.max_age_days)).isoformat()
            for r in rows:
                if r["started"] < cutoff and r["upload_state"] not in AWAITING_UPLOAD:
                    todo.append((r, Why(DeleteReason.AGE,
                                        f"older than {self.cfg.max_age_days} days")))
        if free >= 0:
            by_id = {r["id"]: r for r in rows}
            cands = [retention.Candidate(r["id"], int(r["bytes"] or 0),
                                         r["upload_state"] in AWAITING_UPLOAD)
                     for r in rows if all(r is not t for t, _ in todo)]
            emergency = max(self.cfg.emergency_free_bytes, int(bitrate / 8 * 300))
            todo += [(by_id[c.id], why) for c, why in
                     retention.plan(free, keep, emergency, cands)]
        deleted = []
        for row, why in todo:
            if await self.delete(row, why):
                deleted.append(row["id"])
        if deleted:
            await self.measure()
        return deleted

    async def delete(self, row: dict[str, Any], why: Why) -> bool:
        """Delete a recording's files, then mark it deleted; False (files left, counted,
        the catalog unchanged so a later pass tries again) when the files would not go."""
        assert self.catalog is not None
        directory = self.root / row["path"]
        m = None
        with contextlib.suppress(Exception):
            m = await asyncio.to_thread(mf.read, directory)
        left = await asyncio.to_thread(_remove_tree, directory)
        if left:
            self.m_delete_failed.inc()
            log.warning("retention: recording %s not deleted: %d file(s) could not be removed "
                        "from %s; it stays in the catalog and is tried again", row["id"],
                        left, directory)
            return False
        await asyncio.to_thread(self.catalog.update, row["id"], state="deleted",
                                reason=why.text,
                                deleted_at=self.clock.now().astimezone(UTC).isoformat())
        self.m_deleted.labels(why.kind.value).inc()
        log.warning("retention: deleted recording %s (%s, %d bytes): %s", row["id"],
                    row["path"], row["bytes"] or 0, why.text)
        if m is None:
            m = mf.Manifest(recording_id=row["id"], lesson_id=row["lesson_id"],
                            title=row["title"], subject=row["subject"], teacher=row["teacher"],
                            trigger=row["trigger"],
                            started=datetime.fromisoformat(row["started"]),
                            duration_s=row["duration_s"], bytes=row["bytes"] or 0)
        await self._deleted(m, why.text)
        return True


def _remove_tree(directory: Path) -> int:
    """Remove as much of ``directory`` as possible; the number of entries left (0 = gone)."""
    shutil.rmtree(directory, ignore_errors=True)
    if not directory.exists():
        return 0
    return sum(1 for _ in directory.rglob("*")) or 1
