"""Usage accounting for one panel: on-time and time per input source over any interval.

The tracker keeps a timeline of segments ``[start, end)`` during which the panel's state
was constant: ``on`` (True / False / None = unknown, e.g. offline or fault) and, while on,
the input. ``usage(t0, t1)`` integrates that timeline over the interval:

- ``on_s``: seconds the panel was on (power "on" or "warming");
- ``by_input``: of those, seconds per input name (``"unknown"`` when the input was not
  readable);
- ``off_s``: seconds known to be off (standby, cooling, asleep);
- ``unknown_s``: the rest of the interval up to now: panel offline / in fault, or the agent
  not running. Future time (after now) is not counted at all.

Closed segments are appended to a JSON-lines file so a restart keeps the day's figures;
segments older than ``keep_days`` are forgotten.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

log = logging.getLogger(__name__)


@dataclass
class Segment:
    start: float  # epoch seconds
    end: float | None  # None: still open
    on: bool | None
    input: str | None


class UsageTracker:
    def __init__(self, path: Path | None = None, keep_days: int = 35,
                 now: float | None = None) -> None:
        """``now`` (epoch s, the agent's clock) dates the ``keep_days`` horizon on load."""
        self.path = path
        self.keep_s = keep_days * 86400.0
        self.segments: list[Segment] = []
        if path is not None:
            self._load(time.time() if now is None else now)

    def _load(self, now: float) -> None:
        assert self.path is not None
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return
        except OSError as e:
            log.warning("cannot read panel usage file %s: %s", self.path, e)
            return
        horizon = now - self.keep_s
        for line in lines:
            try:
                d = json.loads(line)
                seg = Segment(float(d["start"]), float(d["end"]), d.get("on"), d.get("input"))
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line after power loss
            if seg.end is not None and seg.end >= horizon and seg.end >= seg.start:
                self.segments.append(seg)
        self.segments.sort(key=lambda s: s.start)
        if len(lines) > 2 * len(self.segments) + 100:
            self._rewrite()

    def _rewrite(self) -> None:
        assert self.path is not None
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text("".join(_line(s) for s in self.segments if s.end is not None))
            tmp.replace(self.path)
        except OSError as e:
            log.warning("cannot rewrite panel usage file %s: %s", self.path, e)

    def _append(self, seg: Segment) -> None:
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(_line(seg))
        except OSError as e:
            log.warning("cannot write panel usage file %s: %s", self.path, e)

    @property
    def current(self) -> Segment | None:
        s = self.segments[-1] if self.segments else None
        return s if s is not None and s.end is None else None

    def observe(self, t: datetime | float, on: bool | None, input: str | None) -> None:
        """Record the state from time ``t`` on. Call on every change (repeats are free)."""
        ts = t.timestamp() if isinstance(t, datetime) else float(t)
        if not on:
            input = None  # time per input only counts while on
        cur = self.current
        if cur is not None:
            if (cur.on, cur.input) == (on, input):
                return
            cur.end = max(ts, cur.start)
            self._append(cur)
        self.segments.append(Segment(ts, None, on, input))
        self._prune(ts)

    def close(self, t: datetime | float) -> None:
        """The agent stops: end the open segment (what follows is unknown)."""
        ts = t.timestamp() if isinstance(t, datetime) else float(t)
        cur = self.current
        if cur is not None:
            cur.end = max(ts, cur.start)
            self._append(cur)

    def _prune(self, now: float) -> None:
        horizon = now - self.keep_s
        while self.segments and self.segments[0].end is not None and self.segments[0].end < horizon:
            self.segments.pop(0)

    def usage(self, t0: datetime | float, t1: datetime | float,
              now: datetime | float | None = None) -> dict[str, Any]:
        """Seconds on / off / unknown and on-seconds per input within ``[t0, t1)``."""
        a = t0.timestamp() if isinstance(t0, datetime) else float(t0)
        b = t1.timestamp() if isinstance(t1, datetime) else float(t1)
        n = time.time() if now is None else (
            now.timestamp() if isinstance(now, datetime) else float(now))
        b = min(b, n)
        on_s = off_s = 0.0
        by_input: dict[str, float] = {}
        for seg in self.segments:
            end = n if seg.end is None else seg.end
            overlap = min(end, b) - max(seg.start, a)
            if overlap <= 0:
                continue
            if seg.on is True:
                on_s += overlap
                key = seg.input or "unknown"
                by_input[key] = by_input.get(key, 0.0) + overlap
            elif seg.on is False:
                off_s += overlap
        span = max(0.0, b - a)
        return {
            "on_s": round(on_s, 3),
            "off_s": round(off_s, 3),
            "unknown_s": round(max(0.0, span - on_s - off_s), 3),
            "by_input": {k: round(v, 3) for k, v in sorted(by_input.items())},
        }

    def day(self, day: date, tz: ZoneInfo, now: datetime | float | None = None) -> dict[str, Any]:
        """Usage over one local calendar day (midnight to midnight in ``tz``)."""
        t0 = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        t1 = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        return {"day": day.isoformat(), **self.usage(t0, t1, now)}


def _line(seg: Segment) -> str:
    return json.dumps({"start": round(seg.start, 3), "end": round(seg.end or seg.start, 3),
                       "on": seg.on, "input": seg.input}) + "\n"
