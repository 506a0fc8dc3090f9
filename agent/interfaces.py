"""What one service needs of another, named once.

A service that calls another looks it up by one of these types, ``ctx.service(Recorder)``,
never by a name string or by guessing method names: a rename then fails the type check
instead of switching a feature off in silence. The providing service names the protocol
among its bases, so the checker holds it to the signatures below.

Where a service only needs to know that something happened (a recording started), it
listens to the bus event instead of reading another service's state.

Adding a capability: declare the few methods its users call as a Protocol here, subclass
it in the service that provides them, and look it up with ``ctx.service(Protocol)``
(None when the room does not run that service).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from agent.events import AttendanceEvent
    from agent.recording.capture import PacketTap


@runtime_checkable
class Recorder(Protocol):
    """Recording on demand, as the lessons' timetable drives it."""

    async def start_recording(
        self, title: str | None = None, subject: str | None = None,
        lesson_id: str | None = None, teacher: str | None = None, trigger: str = "api",
        cameras: list[str] | None = None,
    ) -> dict[str, Any]:
        """Start recording; CommandError when already recording or a camera is unknown."""
        ...

    async def stop_recording(self, trigger: str = "api", reason: str = "") -> dict[str, Any]:
        """Stop the recording in progress; CommandError when idle."""
        ...


@dataclass(frozen=True)
class RecordingNow:
    """The recording in progress, as another service sees it."""

    recording_id: str
    lesson_id: str
    cameras: frozenset[str]


@runtime_checkable
class CameraTaps(Recorder, Protocol):
    """The live push rides on the recording's camera connections: it starts a recording
    when none runs and taps one camera's packets."""

    def recording_now(self) -> RecordingNow | None:
        """The recording in progress, None when idle."""
        ...

    def set_tap(self, camera: str, tap: PacketTap | None,
                replacing: PacketTap | None = None) -> bool:
        """Hand ``camera``'s packets of the recording in progress to ``tap`` (None: to
        nobody). With ``replacing``, only if that tap still has them. False: nothing
        changed (idle, camera not recorded, or another tap meanwhile)."""
        ...


@runtime_checkable
class RecordingFiles(Protocol):
    """Where the recordings are, for the downloads."""

    @property
    def recordings_dir(self) -> Path:
        """Where recordings are written (the catalog's paths are relative to it)."""
        ...


@runtime_checkable
class LivePusher(Protocol):
    """Pushing the lesson live, for timetabled ``live = true`` periods."""

    async def start_live(self, trigger: str = "api") -> dict[str, Any]:
        """Go live; CommandError (code ``already_live``, ...) when refused."""
        ...

    async def stop_live(self, trigger: str = "api", reason: str = "") -> dict[str, Any]:
        """Stop pushing; CommandError (``not_live``) when nothing is live."""
        ...


@runtime_checkable
class PanelHooks(Protocol):
    """Panel automation follows the lessons (power on at the start, off after the last)."""

    def on_lesson_start(self, switch_on: bool = True) -> None:
        """A lesson runs; ``switch_on`` only for a timetabled start."""
        ...

    def on_lesson_end(self, last: bool = False) -> None:
        """A lesson ended; ``last``: no more lessons today."""
        ...


@runtime_checkable
class ClassTablets(Protocol):
    """The tablets gateway as the lessons drive it: which lesson check-ins count for."""

    def set_lesson(self, lesson_id: str, start: datetime, class_id: str) -> None:
        """Check-ins from now count for this lesson (late after ``start`` + grace)."""
        ...

    def end_lesson(self, lesson_id: str | None = None) -> AttendanceEvent | None:
        """End the lesson; its final attendance (also published), None if not current."""
        ...

    def lesson_tally(self, lesson_id: str) -> dict[str, Any] | None:
        """The lesson's counters (tablets_active, checkins, answers, hands), if known."""
        ...
