"""Upload config: what types alone cannot say, and the pieces of the upload protocol that
need no server (key prefix, the digests a server may state)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from agent.config import ConfigError, from_dict
from agent.recording.upload import remote_base
from agent.recording.upload.http import server_sha256


def load(tmp_path, **upload) -> list[str]:
    data = {"site": {"school": "s", "room": "r"},
            "storage": {"data_dir": str(tmp_path)},
            "cameras": [{"id": "cam", "url": "/dev/null"}],
            "recording": {"upload": upload}}
    try:
        from_dict(data)
    except ConfigError as e:
        return e.problems
    return []


def test_s3_needs_a_bucket_and_keys(tmp_path) -> None:
    problems = load(tmp_path, url="https://minio.example:9000")
    assert any(p.startswith("recording.upload.bucket: required") for p in problems)
    assert any("access key" in p for p in problems)


def test_s3_complete_config_passes(tmp_path) -> None:
    (tmp_path / "a").write_text("ak\n")
    (tmp_path / "s").write_text("sk\n")
    assert load(tmp_path, url="https://oss-cn-hangzhou.aliyuncs.com", bucket="rec-2026",
                addressing_style="virtual", region="cn-hangzhou", checksum="md5",
                access_key_file=str(tmp_path / "a"),
                secret_key_file=str(tmp_path / "s"), prefix="district/east") == []


@pytest.mark.parametrize(("key", "value", "why"), [
    ("bucket", "Bad_Bucket", "not an S3 bucket name"),
    ("part_size", 1024 * 1024, "at least 5 MiB"),
    ("prefix", "../up", "plain path"),
    ("secret_key_file", "/nonexistent/secret", "file not found"),
    ("timeout_s", 0.0, "must be > 0"),
    ("checksum", "crc32", "invalid enum value"),
])
def test_bad_values_are_named(tmp_path, key, value, why) -> None:
    (tmp_path / "a").write_text("ak\n")
    base = {"url": "http://127.0.0.1:9000", "bucket": "rec", "access_key_file":
            str(tmp_path / "a"), "secret_key": "x"}
    problems = load(tmp_path, **{**base, key: value})
    assert any(p.startswith(f"recording.upload.{key}") and why in p for p in problems), problems


def test_http_needs_no_bucket(tmp_path) -> None:
    assert load(tmp_path, protocol="http", url="https://media.example/up") == []


def test_keys_start_with_school_and_room() -> None:
    assert remote_base("", "school-7", "r101") == "school-7/r101"
    assert remote_base("/district/east/", "school-7", "r101") == "district/east/school-7/r101"


def test_server_stated_sha256_is_read_from_any_usual_header() -> None:
    d = hashlib.sha256(b"x").digest()
    b64 = base64.b64encode(d).decode()
    assert server_sha256({"Repr-Digest": f"sha-512=:AA==:, sha-256=:{b64}:"}) == d
    assert server_sha256({"Content-Digest": f"sha-256=:{b64}:"}) is None  # message body
    assert server_sha256({"Repr-Digest": f"sha-256=:{b64}:"}, head=False) is None
    assert server_sha256({"x-amz-checksum-sha256": b64}) == d
    assert server_sha256({"X-Checksum-Sha256": d.hex()}) == d
    assert server_sha256({"ETag": '"abc"'}) is None
    assert server_sha256({"X-Checksum-Sha256": "zz"}) == b""  # unreadable never matches


def test_odd_server_headers_and_parts_never_raise() -> None:
    """Whatever a server puts in its headers or its ListParts entries, the checks answer
    match / no match and never raise."""
    from hypothesis import given, settings
    from hypothesis import strategies as sx

    from agent.recording.upload.s3 import S3Uploader, _etag_md5, _Part

    part = _Part(1, 3, hashlib.md5(b"abc").digest(), hashlib.sha256(b"abc").digest())
    value = sx.one_of(sx.text(max_size=80), sx.integers(), sx.none(), sx.binary(max_size=20))

    @settings(max_examples=300, deadline=None)
    @given(sx.dictionaries(sx.sampled_from(
        ["Repr-Digest", "Content-Digest", "x-amz-checksum-sha256", "X-Checksum-Sha256",
         "ETag"]), sx.text(max_size=120)),
        sx.dictionaries(sx.sampled_from(["Size", "ETag", "ChecksumSHA256", "PartNumber"]),
                        value))
    def check(headers: dict, have: dict) -> None:
        got = server_sha256(headers)
        assert got is None or isinstance(got, bytes)
        server_sha256(headers, head=False)
        _etag_md5(str(headers.get("ETag", "")))
        assert S3Uploader._part_is(have, part) in (True, False)

    check()
