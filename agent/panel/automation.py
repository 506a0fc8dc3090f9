"""The energy-saving rules of a room controller, as a pure policy (times in epoch seconds).

- ``power_on_at_lesson_start``: switch on (and select ``lesson_input``) when a lesson starts;
- ``power_off_after_last_lesson``: switch off ``after_last_lesson_min`` after the day's last
  lesson ended, if the panel has stayed on since;
- ``idle_off_min``: switch off when the panel has been on for that long with no lesson
  running (counted from the later of: it was switched on, the last lesson ended).

The service feeds events in and asks ``decide(now)`` every few seconds; it never sends
"off" while a lesson runs, and retries a failed "off" at most once a minute.
"""

from __future__ import annotations

from typing import Any

RETRY_S = 60.0


class AutomationPolicy:
    def __init__(self, cfg: Any, started: float) -> None:
        self.cfg = cfg
        self.lesson_active = False
        self.last_end: float | None = None
        self.last_was_final = False
        self.on_since: float | None = None
        self.started = started
        self._last_off_try: float | None = None
        self.last_action: str = ""

    @property
    def enabled(self) -> bool:
        c = self.cfg
        return bool(c.power_on_at_lesson_start or c.power_off_after_last_lesson
                    or c.idle_off_min > 0)

    def lesson_start(self, now: float) -> list[tuple[str, Any]]:
        """Actions for a lesson start: ``[("power", True), ("input", "hdmi1")]``."""
        self.lesson_active = True
        self.last_was_final = False
        if not self.cfg.power_on_at_lesson_start:
            return []
        actions: list[tuple[str, Any]] = [("power", True)]
        if self.cfg.lesson_input:
            actions.append(("input", self.cfg.lesson_input))
        return actions

    def lesson_end(self, now: float, last: bool) -> None:
        self.lesson_active = False
        self.last_end = now
        self.last_was_final = last

    def power_seen(self, now: float, on: bool | None) -> None:
        if on and self.on_since is None:
            self.on_since = now
            self._last_off_try = None
        elif on is False:
            self.on_since = None

    def decide(self, now: float) -> str | None:
        """``"off"`` when a rule says to switch off now, else None."""
        if self.lesson_active or self.on_since is None:
            return None
        if self._last_off_try is not None and now - self._last_off_try < RETRY_S:
            return None
        reason = self._off_reason(now)
        if reason:
            self._last_off_try = now
            self.last_action = reason
            return "off"
        return None

    def _off_reason(self, now: float) -> str | None:
        c = self.cfg
        assert self.on_since is not None
        if c.power_off_after_last_lesson and self.last_was_final and self.last_end is not None:
            deadline = self.last_end + c.after_last_lesson_min * 60
            # only for the panel left on from the last lesson, not one switched on later
            if now >= deadline and self.on_since <= deadline:
                return "after_last_lesson"
        if c.idle_off_min > 0:
            idle_since = max(self.on_since, self.last_end or self.started)
            if now - idle_since >= c.idle_off_min * 60:
                return "idle"
        return None

    def status(self, now: float) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "lesson_active": self.lesson_active,
            "last_lesson_end": self.last_end,
            "last_was_final": self.last_was_final,
            "last_action": self.last_action,
        }
