"""One capture event that cannot be applied (disk full while saving recording.json, the bus
refusing a device state) must not end the session's consumer: the events after it are
still applied, and ``stop`` does not wait on a queue nobody reads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from agent.recording import manifest as mf
from agent.recording.capture import CaptureEvent
from agent.recording.session import Session


def _session(tmp_path) -> Session:
    m = mf.Manifest(recording_id="rec-1", lesson_id="l1", title="", subject="", teacher="",
                    trigger="test", started=datetime.now(UTC),
                    cameras=[mf.CameraEntry(id="cam0", role="teacher", source="x")])
    return Session(m, tmp_path, "d/l1")


async def test_consume_survives_a_failing_event(tmp_path) -> None:
    s = _session(tmp_path)
    applied: list[str] = []
    failed: list[str] = []

    async def on_event(ev: CaptureEvent) -> None:
        if ev.kind == "segment_open" and not failed:
            raise OSError(28, "No space left on device")
        applied.append(ev.kind)

    consumer = asyncio.create_task(s.consume(on_event, lambda ev: failed.append(ev.kind)))
    try:
        for kind in ("online", "segment_open", "segment_closed", "stopped"):
            s.queue.put_nowait(CaptureEvent("cam0", kind))
        # every event is taken off the queue (join returns) and the consumer still runs
        await asyncio.wait_for(s.queue.join(), 30)
        assert not consumer.done()
        s.queue.put_nowait(CaptureEvent("cam0", "online"))
        await asyncio.wait_for(s.queue.join(), 30)
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
    assert applied == ["online", "segment_closed", "stopped", "online"]
    assert failed == ["segment_open"] and s.event_errors == 1


async def test_drain_applies_what_is_queued(tmp_path) -> None:
    s = _session(tmp_path)
    seen: list[str] = []

    async def on_event(ev: CaptureEvent) -> None:
        if ev.kind == "offline":
            raise RuntimeError("bus down")
        seen.append(ev.kind)

    for kind in ("online", "offline", "stopped"):
        s.queue.put_nowait(CaptureEvent("cam0", kind))
    assert await s.drain(on_event) == 2
    assert seen == ["online", "stopped"] and s.event_errors == 1
    assert s.queue.empty()
    await asyncio.wait_for(s.queue.join(), 5)  # every get was matched by task_done
