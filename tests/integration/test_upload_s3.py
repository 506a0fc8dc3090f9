"""S3 upload against a real S3-compatible server process (moto_server): keys per room,
resume by part after the uploading process is SIGKILLed, a server that lost everything,
and a server that cannot be reached."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import msgspec
import pytest

from agent.config import UploadConfig
from agent.recording.upload import UploadError, make_uploader
from agent.recording.upload import state as st
from tests.s3_server import BUCKET, S3Server, s3_server_fixture, upload_config  # noqa: F401

MIB = 1024**2
REL = "2026-03-02/L-7A-math-3"


def make_recording(root: Path, seed: bytes, video_bytes: int = 300_000) -> Path:
    d = root / REL
    (d / "cam").mkdir(parents=True)
    data = (hashlib.sha256(seed).digest() * (video_bytes // 32 + 1))[:video_bytes]
    (d / "cam" / "000001.mp4").write_bytes(data)
    (d / "recording.json").write_text(f'{{"recording_id": "{seed.decode()}"}}')
    return d


def cfg_for(server: S3Server, tmp: Path, **extra) -> UploadConfig:
    return msgspec.convert(upload_config(server, tmp, **extra), UploadConfig)


class Counts(dict):
    def __call__(self, name: str, n: int) -> None:
        self[name] = self.get(name, 0) + n


async def test_two_rooms_same_lesson_do_not_collide(s3_server: S3Server, tmp_path) -> None:
    cfg = cfg_for(s3_server, tmp_path, prefix="district")
    for room in ("r101", "r102"):
        root = tmp_path / room
        make_recording(root, room.encode())
        up = make_uploader(cfg, "school-7", room)
        try:
            assert await up.upload_recording(root, REL) > 300_000
        finally:
            await up.close()
    objects = s3_server.objects()
    assert sorted(objects) == sorted(
        f"district/school-7/{room}/{REL}/{f}" for room in ("r101", "r102")
        for f in ("cam/000001.mp4", "recording.json"))
    for room in ("r101", "r102"):
        local = tmp_path / room / REL
        for f in ("cam/000001.mp4", "recording.json"):
            assert objects[f"district/school-7/{room}/{REL}/{f}"] == (local / f).read_bytes()
    # the server's own checksum of what it stored is the one the agent verified
    head = s3_server.client().head_object(
        Bucket=BUCKET, Key=f"district/school-7/r101/{REL}/cam/000001.mp4",
        ChecksumMode="ENABLED")
    assert head.get("ChecksumSHA256")


CHILD = textwrap.dedent("""
    import asyncio, sys, time, msgspec
    from pathlib import Path
    from agent.config import UploadConfig
    from agent.recording.upload import make_uploader

    cfg = msgspec.json.decode(sys.argv[1].encode(), type=UploadConfig)
    root, rel, stop_after = Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    sent = 0

    def count(name, n):
        global sent
        if name == "parts_sent":
            sent += n
            if sent == stop_after:
                print("PARTS", sent, flush=True)
                time.sleep(600)  # hangs here until the test SIGKILLs this process

    async def main():
        await make_uploader(cfg, "school-7", "r101", count).upload_recording(root, rel)
        print("FINISHED", flush=True)

    asyncio.run(main())
""")


def upload_then_sigkill(cfg: UploadConfig, root: Path, stop_after: int) -> None:
    """Upload in a child process, SIGKILLed once ``stop_after`` parts are on the server."""
    repo = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, msgspec.json.encode(cfg).decode(), str(root), REL,
         str(stop_after)], stdout=subprocess.PIPE, cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("PARTS"), line
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


@pytest.mark.slow
async def test_agent_killed_mid_upload_resumes_by_listparts(s3_server: S3Server,
                                                            tmp_path) -> None:
    root = tmp_path / "rec"
    d = make_recording(root, b"big", video_bytes=18 * MIB)  # 4 parts of 5 MiB
    cfg = cfg_for(s3_server, tmp_path, part_size=5 * MIB)
    upload_then_sigkill(cfg, root, stop_after=2)

    state = st.load(d, f"s3:{cfg.url}/{BUCKET}")
    entry = state.files["cam/000001.mp4"]
    # killed after the server took part 2, before the agent wrote it down: the server
    # (ListParts) knows more than the state file, and it is what the resume goes by
    assert entry.upload_id and [p.number for p in entry.parts] == [1] and not entry.done
    s3 = s3_server.client()
    pending = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert [u["UploadId"] for u in pending] == [entry.upload_id]
    parts = s3.list_parts(Bucket=BUCKET, Key=entry.key, UploadId=entry.upload_id)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1, 2]

    counts = Counts()
    up = make_uploader(cfg, "school-7", "r101", counts)
    try:
        total = await up.upload_recording(root, REL)
    finally:
        await up.close()
    assert total == sum(f.stat().st_size for f in d.rglob("*") if f.is_file()
                        and f.name != st.STATE_FILE)
    assert counts.get("parts_reused") == 2, counts  # ListParts: the server had 1 and 2
    assert counts["parts_sent"] == 2 + 1, counts  # parts 3, 4 + recording.json
    key = f"school-7/r101/{REL}/cam/000001.mp4"
    assert s3_server.objects()[key] == (d / "cam/000001.mp4").read_bytes()
    assert not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads")
    assert st.load(d, f"s3:{cfg.url}/{BUCKET}").files["cam/000001.mp4"].done


@pytest.mark.slow
async def test_server_killed_mid_upload_fails_clearly_then_starts_again(
        s3_server: S3Server, tmp_path) -> None:
    """The server process is SIGKILLed after it took part 1: the attempt fails as a
    network error, files and state kept. moto keeps state in memory, so once restarted it
    no longer knows the upload id (NoSuchUpload): the agent starts that file again and
    still verifies the result (a persistent server would resume, as above)."""
    root = tmp_path / "rec"
    d = make_recording(root, b"lost", video_bytes=11 * MIB)  # 3 parts
    cfg = cfg_for(s3_server, tmp_path, part_size=5 * MIB)

    def kill_after_first_part(name: str, n: int) -> None:
        if name == "parts_sent":
            s3_server.kill()

    up = make_uploader(cfg, "school-7", "r101", kill_after_first_part)
    try:
        with pytest.raises(UploadError) as e:
            await up.upload_recording(root, REL)
        assert e.value.kind == "network", e.value
        entry = st.load(d, f"s3:{cfg.url}/{BUCKET}").files["cam/000001.mp4"]
        assert entry.upload_id and [p.number for p in entry.parts] == [1]
        assert (d / "cam/000001.mp4").exists()
        with pytest.raises(UploadError) as e:  # still down: the retry fails the same way
            await up.upload_recording(root, REL)
        assert e.value.kind == "network", e.value
        s3_server.start()  # a new, empty server (the district recreated the bucket)
        counts = Counts()
        up.count = counts
        await up.upload_recording(root, REL)
    finally:
        await up.close()
    assert counts.get("parts_reused", 0) == 0 and counts["parts_sent"] == 3 + 1
    assert s3_server.objects()[f"school-7/r101/{REL}/cam/000001.mp4"] == (
        d / "cam/000001.mp4").read_bytes()


async def test_wrong_credentials_and_missing_bucket_are_clear(s3_server: S3Server,
                                                              tmp_path) -> None:
    root = tmp_path / "rec"
    make_recording(root, b"x")
    up = make_uploader(cfg_for(s3_server, tmp_path, bucket="no-such-bucket"), "s", "r")
    try:
        with pytest.raises(UploadError) as e:
            await up.upload_recording(root, REL)
    finally:
        await up.close()
    assert e.value.kind == "config" and "NoSuchBucket" in str(e.value)


async def test_a_verified_object_is_not_sent_again(s3_server: S3Server, tmp_path) -> None:
    """The state file lost after the upload finished: the agent finds the object already
    there, checks its checksum against the local file, and sends nothing."""
    root = tmp_path / "rec"
    d = make_recording(root, b"again")
    cfg = cfg_for(s3_server, tmp_path)
    up = make_uploader(cfg, "s", "r")
    try:
        await up.upload_recording(root, REL)
        (d / st.STATE_FILE).unlink()
        counts = Counts()
        up.count = counts
        await up.upload_recording(root, REL)
        assert counts == {"files_skipped": 2}, counts
        # a different object under the key is replaced, not taken for ours
        s3_server.client().put_object(Bucket=BUCKET, Key=f"s/r/{REL}/recording.json",
                                      Body=b"x" * (d / "recording.json").stat().st_size)
        (d / st.STATE_FILE).unlink()
        counts.clear()
        await up.upload_recording(root, REL)
        assert counts["files_skipped"] == 1 and counts["parts_sent"] == 1, counts
    finally:
        await up.close()
    assert s3_server.objects()[f"s/r/{REL}/recording.json"] == (
        d / "recording.json").read_bytes()



async def test_md5_mode_for_stores_without_additional_checksums(s3_server: S3Server,
                                                                tmp_path) -> None:
    """checksum = "md5" (OSS, COS, OBS): no x-amz-checksum-* sent; verified by the part
    ETags and the multipart ETag MD5(part MD5s)-N."""
    root = tmp_path / "rec"
    d = make_recording(root, b"md5", video_bytes=6 * MIB)  # 2 parts
    up = make_uploader(cfg_for(s3_server, tmp_path, checksum="md5", part_size=5 * MIB),
                       "s", "r")
    try:
        await up.upload_recording(root, REL)
    finally:
        await up.close()
    key = f"s/r/{REL}/cam/000001.mp4"
    head = s3_server.client().head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    assert not head.get("ChecksumSHA256") and head["ETag"].strip('"').endswith("-2")
    assert s3_server.objects()[key] == (d / "cam/000001.mp4").read_bytes()


async def test_crash_between_complete_and_state_save(s3_server: S3Server, tmp_path) -> None:
    """The object is on the server but the state file still names an upload id the server
    no longer knows (as after a crash between Complete and the state save; here an
    aborted id stands in for the completed one): NoSuchUpload, then the object is found,
    verified against the local file, and nothing is sent."""
    root = tmp_path / "rec"
    d = make_recording(root, b"complete")
    cfg = cfg_for(s3_server, tmp_path)
    s3 = s3_server.client()
    key = f"s/r/{REL}/cam/000001.mp4"
    mu = s3.create_multipart_upload(Bucket=BUCKET, Key=key, ChecksumAlgorithm="SHA256")
    up = make_uploader(cfg, "s", "r")
    try:
        await up.upload_recording(root, REL)
        state = st.load(d, f"s3:{cfg.url}/{BUCKET}")
        state.files["cam/000001.mp4"].done = False  # as if the crash came just before
        state.files["cam/000001.mp4"].upload_id = mu["UploadId"]
        s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=mu["UploadId"])
        st.save(d, state)
        counts = Counts()
        up.count = counts
        await up.upload_recording(root, REL)
    finally:
        await up.close()
    assert counts == {"files_skipped": 2}, counts
