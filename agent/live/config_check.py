"""Checks on the ``[live]`` config that types alone cannot express."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.config import Config


def check_config(cfg: Config) -> list[str]:
    from agent.live.target import TargetError, parse

    live = cfg.live
    problems: list[str] = []
    if live.url and live.url_file:
        problems.append("live.url: give url or url_file, not both")
    elif live.url:
        try:
            parse(live.url)
        except TargetError as e:
            problems.append(f"live.url: {e}")
    if live.camera is not None and not any(c.id == live.camera for c in cfg.cameras):
        problems.append(f"live.camera: no camera {live.camera!r} in [[cameras]]")
    if (live.url or live.url_file) and not shutil.which(live.ffmpeg_command):
        problems.append(f"live.ffmpeg_command: {live.ffmpeg_command!r} not found; the live "
                        "push needs it (apt-get install ffmpeg)")
    if live.min_minutes < 0:
        problems.append("live.min_minutes: must be >= 0")
    if not 0 < live.backoff_min_s <= live.backoff_max_s:
        problems.append("live.backoff_min_s: must be > 0 and <= backoff_max_s")
    if live.write_timeout_s <= 0:
        problems.append("live.write_timeout_s: must be > 0")
    return problems
