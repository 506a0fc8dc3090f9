"""Judging a recording kept as a showcase lesson: the values ``recording.quality_rule``
sees (names in ``agent.lessons.rule.QUALITY_VARIABLES``), from its ``recording.json``."""

from __future__ import annotations

from typing import Any

from agent.recording.manifest import Manifest


def quality_values(m: Manifest, configured: list[str]) -> dict[str, Any]:
    """``configured``: the camera ids enabled in the config now (a camera left out of the
    recording, or one that delivered no file, is missing)."""
    end = m.ended or m.started
    gap_s = 0.0
    for g in m.gaps:
        a, b = max(g.start, m.started), min(g.end or end, end)
        if b > a:
            gap_s += (b - a).total_seconds()
    with_files = {c.id for c in m.cameras if c.segments}
    missing = [c for c in dict.fromkeys([*configured, *(c.id for c in m.cameras)])
               if c not in with_files]
    return {
        "finished": m.state == "finished",
        "minutes": round(m.duration_s / 60.0, 2),
        "gap_s": round(gap_s, 1),
        "gaps": len(m.gaps),
        "cameras": len(m.cameras),
        "cameras_missing": len(missing),
        "all_cameras": not missing and bool(m.cameras),
        "subject": bool(m.subject),
    }
