"""Retention policy: oldest first, enough and no more, upload-pending only in emergency."""

from __future__ import annotations

from agent.recording.retention import Candidate, plan, threshold


def test_threshold_is_floor_or_an_hour_of_video() -> None:
    assert threshold(2_000_000_000, 0) == 2_000_000_000
    assert threshold(1_000, 8_000_000) == 3_600_000_000  # 1 MB/s for an hour


def test_nothing_to_do_when_enough_free() -> None:
    assert plan(100, 100, 10, [Candidate("a", 50, False)]) == []


def test_oldest_finished_first_and_stop_when_enough() -> None:
    cands = [Candidate("a", 30, True), Candidate("b", 30, False), Candidate("c", 30, False),
             Candidate("d", 30, False)]
    out = [c.id for c, _ in plan(50, 100, 0, cands)]
    assert out == ["b", "c"]  # a waits for upload; 50+30+30 >= 100


def test_upload_pending_only_when_disk_would_fill() -> None:
    cands = [Candidate("a", 30, True), Candidate("b", 10, False)]
    assert [c.id for c, _ in plan(40, 100, 20, cands)] == ["b"]  # 50 free > emergency 20
    out = plan(5, 100, 20, cands)
    assert [c.id for c, _ in out] == ["b", "a"]
    assert "before upload" in out[1][1].text and out[1][1].kind == "disk"
