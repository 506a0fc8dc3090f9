"""Which recordings to delete when the disk runs low (pure logic, tested on its own).

Keep at least ``max(floor, one hour at the current bitrate)`` free. Delete oldest first,
never the recording in progress; recordings still waiting for upload are only taken when
free space is below the emergency level (the disk would otherwise fill and the lesson in
progress would be lost).
"""

from __future__ import annotations

from dataclasses import dataclass

HOUR_S = 3600.0


@dataclass(frozen=True)
class Candidate:
    id: str
    bytes: int
    awaiting_upload: bool  # pending / uploading / failed: not on the server yet


def threshold(floor: int, bitrate_bps: float) -> int:
    """Free bytes to keep: the floor or about an hour of recording, whichever is more."""
    return int(max(floor, bitrate_bps / 8 * HOUR_S))


def plan(free: int, keep_free: int, emergency_free: int,
         candidates: list[Candidate]) -> list[tuple[Candidate, str]]:
    """(candidate, reason) to delete in order; ``candidates`` oldest first, in progress
    already excluded. Stops as soon as enough is free."""
    out: list[tuple[Candidate, str]] = []
    if free >= keep_free:
        return out
    for c in candidates:
        if free >= keep_free:
            break
        if not c.awaiting_upload:
            out.append((c, f"low disk: {free} bytes free, keeping {keep_free}"))
            free += c.bytes
    if free < emergency_free:
        for c in candidates:
            if free >= emergency_free:
                break
            if c.awaiting_upload:
                out.append((c, f"disk nearly full: {free} bytes free; deleted before upload"))
                free += c.bytes
    return out
