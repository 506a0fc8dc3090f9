"""S3 upload: the agent's verified, resumable multipart upload side by side with a bare
boto3 multipart upload of the same file, same part size, to the same server.

    .venv/bin/python bench/upload.py [--mib 64] [--rounds 3]

The server is moto's S3 server (a separate process on a free loopback port, killed at the
end). "bare" = CreateMultipartUpload + UploadPart in order + Complete, nothing else; the
agent also sends Content-MD5 and SHA-256 per part, writes its state file after each part,
lists the parts before completing and checks HeadObject after. Also: the process's RSS
before and after boto3 is imported and a client made (boto3 is loaded only when S3 upload
is configured). Prints one JSON document; docs/BENCHMARKS.md quotes it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MIB = 1024**2
REL = "2026-03-02/L-bench"


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / MIB


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def bare(client, bucket: str, key: str, path: Path, part: int) -> None:
    mu = client.create_multipart_upload(Bucket=bucket, Key=key)
    parts = []
    with open(path, "rb") as f:
        n = 1
        while data := f.read(part):
            r = client.upload_part(Bucket=bucket, Key=key, UploadId=mu["UploadId"],
                                   PartNumber=n, Body=data)
            parts.append({"PartNumber": n, "ETag": r["ETag"]})
            n += 1
    client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=mu["UploadId"],
                                     MultipartUpload={"Parts": parts})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--part-mib", type=int, default=8)
    args = ap.parse_args()

    import msgspec

    from agent.config import UploadConfig
    from tests.s3_server import BUCKET, S3Server, upload_config

    rss_before = rss_mb()
    tmp = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    server = S3Server(tmp)
    try:
        server.start()
        client = server.client()
        rss_client = rss_mb()
        rec = tmp / "rec" / REL
        (rec / "cam").mkdir(parents=True)
        video = rec / "cam" / "000001.mp4"
        video.write_bytes(os.urandom(args.mib * MIB))
        cfg = msgspec.convert(upload_config(server, tmp, part_size=args.part_mib * MIB),
                              UploadConfig)
        from agent.recording.upload import make_uploader
        from agent.recording.upload import state as st

        times: dict[str, list[float]] = {"bare": [], "agent": []}
        cpus: dict[str, list[float]] = {"bare": [], "agent": []}
        for i in range(args.rounds):
            t, c = time.perf_counter(), cpu_s()
            bare(client, BUCKET, f"bare/{i}", video, args.part_mib * MIB)
            times["bare"].append(time.perf_counter() - t)
            cpus["bare"].append(cpu_s() - c)

            (rec / st.STATE_FILE).unlink(missing_ok=True)
            up = make_uploader(cfg, "school", f"room{i}")
            t, c = time.perf_counter(), cpu_s()
            asyncio.run(up.upload_recording(tmp / "rec", REL))
            times["agent"].append(time.perf_counter() - t)
            cpus["agent"].append(cpu_s() - c)
            asyncio.run(up.close())
        med = {k: statistics.median(v) for k, v in times.items()}
        out = {
            "file_mib": args.mib, "part_mib": args.part_mib, "rounds": args.rounds,
            "bare_s": round(med["bare"], 3), "agent_s": round(med["agent"], 3),
            "agent_over_bare_time": round(med["agent"] / med["bare"], 2),
            "bare_mib_per_s": round(args.mib / med["bare"], 1),
            "agent_mib_per_s": round(args.mib / med["agent"], 1),
            "bare_cpu_s": round(statistics.median(cpus["bare"]), 3),
            "agent_cpu_s": round(statistics.median(cpus["agent"]), 3),
            "rss_mb_before_boto3": round(rss_before, 1),
            "rss_mb_with_boto3_client": round(rss_client, 1),
            "rss_mb_after_uploads": round(rss_mb(), 1),
        }
        print(json.dumps(out, indent=2))
    finally:
        server.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
