"""Disk-full policy with an injected free-space source, on real recordings."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from agent.events import RecordingEvent
from drivers.emulators.camera import ensure_demo_clip
from tests.recording_helpers import wait_for

GB = 10**10  # fake disk scale: far above an hour of the demo clip's bitrate


def _config(make_config, tmp_path: Path):
    """A looping demo-clip camera, 1 s segments, a free-space floor of GB, retention run
    by the test (not on its own timer)."""
    clip = ensure_demo_clip(tmp_path / "clips")
    return make_config(cameras=[{"id": "cam", "url": str(clip), "loop": True}],
                       recording={"segment_s": 1.0, "min_free_bytes": GB,
                                  "emergency_free_bytes": 0, "retention_interval_s": 3600.0})


def _with_fake_disk(agent, events: list[RecordingEvent]) -> tuple[Any, dict[str, int]]:
    """The recording service, its events collected into ``events``, and its free space
    read from the returned dict (``free["v"]``, bytes) instead of the disk."""
    agent.ctx.bus.add_listener(lambda e: isinstance(e, RecordingEvent) and events.append(e))
    svc = agent.ctx.services["recording"]
    free = {"v": GB * 10}
    svc.free_space = lambda path: free["v"]
    return svc, free


async def _record(svc, title: str) -> dict:
    await svc.start_recording(title=title, trigger="test")
    await wait_for(lambda: svc.session.m.cameras[0].segments, 20, "a segment")
    return await svc.stop_recording()


async def test_low_disk_deletes_oldest_finished_never_current(make_config, run_agent,
                                                              tmp_path) -> None:
    events: list[RecordingEvent] = []
    async with run_agent(_config(make_config, tmp_path)) as agent:
        svc, free = _with_fake_disk(agent, events)
        a = await _record(svc, "A")
        b = await _record(svc, "B")
        c = await _record(svc, "C")
        svc.catalog.update(a["recording_id"], upload_state="pending", upload_next=4e9)
        await svc.start_recording(title="D (in progress)", trigger="test")
        d_id = svc.session.m.recording_id
        assert await svc.enforce_retention() == []  # plenty free: nothing goes
        free["v"] = GB - 1  # below the floor: the oldest finished one goes (A awaits upload)
        assert await svc.enforce_retention() == [b["recording_id"]]
        assert not shutil.os.path.exists(b["dir"])
        # disk nearly full: even the upload-pending one goes, the recording in progress never
        svc.cfg.emergency_free_bytes = GB * 2
        free["v"] = 1000
        gone = await svc.enforce_retention()
        assert gone == [c["recording_id"], a["recording_id"]]
        assert svc.session.m.recording_id == d_id
        rows = {r["id"]: r for r in await svc.recordings(include_deleted=True)}
        # space again before D ends: a finished recording wakes the retention pass, which
        # would (rightly) delete D too on a nearly full disk, racing the test's end
        free["v"] = GB * 10
        await svc.stop_recording()
        metrics = agent.ctx.metrics.render().decode()
    assert rows[a["recording_id"]]["state"] == "deleted"
    assert rows[d_id]["state"] == "recording"
    deleted = [e for e in events if e.action == "deleted"]
    assert [e.recording_id for e in deleted] == [b["recording_id"], c["recording_id"],
                                                a["recording_id"]]
    assert all(e.reason for e in deleted) and "before upload" in deleted[-1].reason
    assert 'classroom_recording_deleted_total{reason="disk"} 3.0' in metrics


def _pin(path, on: bool) -> bool:
    """Make ``path`` undeletable (root: the immutable attribute; others: a read-only
    directory) or deletable again. False where the file system cannot."""
    import os
    import subprocess

    if os.geteuid() == 0:
        r = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True)
        return r.returncode == 0
    os.chmod(path.parent, 0o555 if on else 0o755)
    return True


async def test_files_that_will_not_go_are_not_marked_deleted(make_config, run_agent,
                                                             tmp_path) -> None:
    events: list[RecordingEvent] = []
    async with run_agent(_config(make_config, tmp_path)) as agent:
        svc, free = _with_fake_disk(agent, events)
        a = await _record(svc, "A")
        segment = next(p for p in Path(a["dir"]).rglob("*") if p.is_file()
                       and p.name != "recording.json")
        if not _pin(segment, True):
            pytest.skip("cannot make a file undeletable on this file system")
        try:
            free["v"] = GB - 1
            assert await svc.enforce_retention() == []  # the files would not go
            row = svc.catalog.get(a["recording_id"])
            assert row["state"] != "deleted"
            assert segment.exists()
            metrics = agent.ctx.metrics.render().decode()
            assert "classroom_recording_delete_failed_total 1.0" in metrics
            assert not [e for e in events if e.action == "deleted"]
        finally:
            _pin(segment, False)
        # deletable again: the next pass deletes it and says so (the service's own
        # retention loop may be the one that gets there first)
        await svc.enforce_retention()
        assert svc.catalog.get(a["recording_id"])["state"] == "deleted"
        assert not Path(a["dir"]).exists()
        assert [e.recording_id for e in events if e.action == "deleted"] == [a["recording_id"]]
