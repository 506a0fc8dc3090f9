"""The seams between services are typed: each service that others look up by a protocol of
agent/interfaces.py names it among its bases, and a context finds it by that protocol."""

from __future__ import annotations

from datetime import UTC, datetime

from agent.events import AgentStatus, RecordingCamera, RecordingEvent
from agent.interfaces import (
    CameraTaps,
    ClassTablets,
    LivePusher,
    PanelHooks,
    Recorder,
    RecordingFiles,
)
from agent.lessons.signals import to_signal
from agent.live.service import LiveService
from agent.panel.service import PanelService
from agent.recording.retention import Candidate, DeleteReason, plan
from agent.recording.service import RecordingService
from agent.tablets.service import TabletService

T0 = datetime(2026, 9, 7, 8, 0, tzinfo=UTC)


def test_each_provider_declares_its_protocols() -> None:
    for cls, protos in [(RecordingService, (Recorder, CameraTaps, RecordingFiles)),
                        (LiveService, (LivePusher,)), (PanelService, (PanelHooks,)),
                        (TabletService, (ClassTablets,))]:
        for proto in protos:
            assert proto in cls.__mro__, (cls, proto)  # declared, so the checker holds it


def test_signals_dispatch_on_the_event_type() -> None:
    assert to_signal(AgentStatus(state="online")) is None  # not a lesson's business
    start = RecordingEvent(recording_id="r1", action="started", lesson_id="L1",
                           title="t" * 300, started=T0)
    kind, data = to_signal(start)
    assert kind == "rec_start" and data["lesson"] == "L1" and len(data["title"]) == 200
    end = RecordingEvent(recording_id="r1", action="partial", lesson_id="L1", started=T0,
                         duration_s=60, cameras=[RecordingCamera(id="a", segments=3),
                                                 RecordingCamera(id="b", segments=2)])
    assert to_signal(end) == ("rec_end", {"id": "r1", "action": "partial", "files": 5,
                                          "duration_s": 60.0})
    deleted = RecordingEvent(recording_id="r1", action="deleted", lesson_id="L1", started=T0)
    assert to_signal(deleted) is None


def test_deletion_reasons_are_an_enum_not_parsed_text() -> None:
    out = plan(5, 100, 20, [Candidate("a", 30, True), Candidate("b", 10, False)])
    assert [(c.id, why.kind) for c, why in out] == [("b", DeleteReason.DISK),
                                                    ("a", DeleteReason.DISK)]
    assert {r.value for r in DeleteReason} == {"age", "disk", "uploaded"}
