"""The open segment is fsynced on a timer, off the event loop and off the capture thread:
the bound on what a power cut takes (docs/recording.md)."""

from __future__ import annotations

import time
from pathlib import Path

from agent.recording.segments import OpenSegmentSyncer


def wait(pred, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_open_files_are_fsynced_as_they_grow_and_the_thread_ends(tmp_path: Path) -> None:
    syncer = OpenSegmentSyncer(interval_s=0.05)
    a, b = tmp_path / "00001.mp4", tmp_path / "00002.mp4"
    with open(a, "wb") as fa, open(b, "wb") as fb:
        fa.write(b"x" * 1000)
        fa.flush()
        syncer.add(a)
        wait(lambda: syncer.synced_bytes(a) == 1000)
        fa.write(b"y" * 500)  # the writer goes on; the next round catches up
        fa.flush()
        fb.write(b"z" * 10)
        fb.flush()
        syncer.add(b)
        wait(lambda: syncer.synced_bytes(a) == 1500 and syncer.synced_bytes(b) == 10)
        n = syncer.fsyncs
        assert syncer.sync_now() == 0 and syncer.fsyncs == n  # nothing grew: no fsync
    syncer.remove(a)
    b.unlink()  # gone under it (retention, a crash): counted, never raised
    fsyncs = syncer.fsyncs
    with open(b, "wb"):
        pass
    assert syncer.sync_now() == 0 and syncer.fsyncs == fsyncs
    syncer.remove(b)
    wait(lambda: syncer._thread is None)  # nothing open: the thread ended by itself
    assert syncer.synced_bytes(a) is None
