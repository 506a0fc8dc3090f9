"""Which recordings to delete when the disk runs low (pure logic, tested on its own).

Keep at least ``max(floor, one hour at the current bitrate)`` free. Delete oldest first,
never the recording in progress; recordings still waiting for upload are only taken when
free space is below the emergency level (the disk would otherwise fill and the lesson in
progress would be lost).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

HOUR_S = 3600.0


class DeleteReason(StrEnum):
    """Why retention deleted a recording (the ``reason`` label of its metric)."""

    AGE = "age"  # older than max_age_days
    DISK = "disk"  # low disk, or nearly full (then even before upload)
    UPLOADED = "uploaded"  # delete_after_upload, once every file was verified


@dataclass(frozen=True)
class Why:
    """A deletion's reason: its kind, and the sentence the catalog and the event keep."""

    kind: DeleteReason
    text: str


@dataclass(frozen=True)
class Candidate:
    id: str
    bytes: int
    awaiting_upload: bool  # pending / uploading / failed: not on the server yet


def threshold(floor: int, bitrate_bps: float) -> int:
    """Free bytes to keep: the floor or about an hour of recording, whichever is more."""
    return int(max(floor, bitrate_bps / 8 * HOUR_S))


def plan(free: int, keep_free: int, emergency_free: int,
         candidates: list[Candidate]) -> list[tuple[Candidate, Why]]:
    """(candidate, reason) to delete in order; ``candidates`` oldest first, in progress
    already excluded. Stops as soon as enough is free."""
    out: list[tuple[Candidate, Why]] = []
    if free >= keep_free:
        return out
    for c in candidates:
        if free >= keep_free:
            break
        if not c.awaiting_upload:
            out.append((c, Why(DeleteReason.DISK,
                                   f"low disk: {free} bytes free, keeping {keep_free}")))
            free += c.bytes
    if free < emergency_free:
        for c in candidates:
            if free >= emergency_free:
                break
            if c.awaiting_upload:
                out.append((c, Why(DeleteReason.DISK,
                                   f"disk nearly full: {free} bytes free; deleted before upload")))
                free += c.bytes
    return out
