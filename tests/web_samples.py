"""Status sections shaped exactly like the services' ``status()`` output, for web tests
that stand in for a service the test agent does not run (a browser test showing tablets
numbers without tablets). tests/integration/test_web_contract.py checks that each sample
has the same keys as the real service's section, so the samples cannot drift either."""

from __future__ import annotations

from typing import Any


def recording(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "state": "idle", "recording_id": None, "lesson_id": None, "title": None,
        "subject": None, "started": None, "elapsed_s": 0.0, "last": None, "bytes": 0,
        "bitrate_bps": 0, "cameras": [], "free_bytes": 50 * 1024**3,
        "keep_free_bytes": 2 * 1024**3, "disk_low": False, "dir": "/tmp/recordings",
        "upload": "off",
    }
    doc.update(over)
    return doc


def tablets(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "connected": 0, "lesson": None, "checked_in": 0, "attendance": None, "question": None,
        "answers_current_question": 0, "hands_up": 0, "in_background": 0, "duplicates": 0,
        "errors": {}, "closes": {}, "xapi": None, "db_recovered_from": "",
    }
    doc.update(over)
    return doc


def engagement(**over: Any) -> dict[str, Any]:
    """Defaults: analysing during a lesson; override ``active``/``active_reason`` etc."""
    doc: dict[str, Any] = {
        "active": True, "active_reason": "lesson", "active_mode": "lessons",
        "camera": "cam-students", "mode": "sub_stream", "connected": True,
        "source_error": None, "fps": 4.8, "target_fps": 5.0, "frames": 100, "dropped": 0,
        "errors": 0, "faces": 30, "head_up_rate": 0.8, "hands_raised": 1,
        "latency_ms": 120.0, "hand_raise": True, "windows": 0, "last_window": None,
    }
    doc.update(over)
    return doc


def engagement_window(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "head_count_median": 30.0, "head_up_rate": 0.8, "hands_raised": 1, "fps": 4.8,
        "frames": 48, "end": "2026-03-02T08:30:00+00:00", "lesson_id": "l-1",
    }
    doc.update(over)
    return doc
