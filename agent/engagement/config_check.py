"""Checks of the ``[engagement]`` section that need more than types."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def select_camera(cfg: Any) -> Any | None:
    """The camera the engagement section analyses: the named one, else the first enabled
    camera whose role is "students", else the first enabled camera."""
    e = cfg.engagement
    cams = [c for c in cfg.cameras if c.enabled]
    if e.camera:
        return next((c for c in cfg.cameras if c.id == e.camera), None)
    return next((c for c in cams if c.role == "students"), cams[0] if cams else None)


def check_config(cfg: Any) -> list[str]:
    e = cfg.engagement
    problems: list[str] = []
    if e.camera and not any(c.id == e.camera for c in cfg.cameras):
        ids = ", ".join(c.id for c in cfg.cameras) or "none configured"
        problems.append(f"engagement.camera: no camera with id {e.camera!r} (cameras: {ids})")
    if e.enabled and not e.source and not e.camera and select_camera(cfg) is None:
        problems.append("engagement.camera: engagement is enabled but no camera is configured")
    for key in ("analysis_fps", "window_s", "hands_every_s"):
        if getattr(e, key) <= 0:
            problems.append(f"engagement.{key}: must be > 0")
    for key in ("queue_size", "intra_threads", "inter_threads", "hold_frames", "timeline_minutes"):
        if getattr(e, key) < 1:
            problems.append(f"engagement.{key}: must be >= 1")
    if not 1.0 <= e.pose_upscale <= 4.0:
        problems.append("engagement.pose_upscale: must be between 1 and 4")
    if e.pose_tile < 64:
        problems.append("engagement.pose_tile: must be >= 64")
    if not 0 < e.face_score < 1:
        problems.append("engagement.face_score: must be between 0 and 1")
    if e.max_pose_faces < 0:
        problems.append("engagement.max_pose_faces: must be >= 0 (0 = every face)")
    for key, lo, hi in (("hand_crop_above", 0.0, 6.0), ("hand_crop_below", 0.0, 12.0),
                        ("hand_crop_sideways", 0.0, 6.0), ("hand_kp_score", 0.0, 1.0)):
        if not lo <= getattr(e, key) <= hi:
            problems.append(f"engagement.{key}: must be between {lo:g} and {hi:g}")
    for key in ("face_detector_model", "face_landmarks_model", "pose_model", "hand_pose_model"):
        value = getattr(e, key)
        if value and not Path(value).expanduser().is_file():
            problems.append(f"engagement.{key}: file not found: {value}")
    return problems
