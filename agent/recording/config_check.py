"""Checks on the ``cameras`` and ``recording`` config that types alone cannot express."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from drivers.camera.visca import PRESET_MAX
from drivers.redact import redact

if TYPE_CHECKING:
    from agent.config import Config, PtzConfig, UploadConfig

CAMERA_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def check_config(cfg: Config) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for i, cam in enumerate(cfg.cameras):
        key = f"cameras[{i}]"
        if not CAMERA_ID.fullmatch(cam.id):
            problems.append(f"{key}.id: {cam.id!r} must be 1-32 letters, digits, '-' or '_' "
                            "(it names a directory and an MQTT topic)")
        elif cam.id in seen:
            problems.append(f"{key}.id: duplicate camera id {cam.id!r}")
        seen.add(cam.id)
        if not cam.url:
            problems.append(f"{key}.url: must not be empty")
        for name in ("connect_timeout_s", "read_timeout_s"):
            if getattr(cam, name) <= 0:
                problems.append(f"{key}.{name}: must be > 0")
        if cam.encode_bitrate < 100_000:
            problems.append(f"{key}.encode_bitrate: must be at least 100000 bit/s")
        if cam.ptz is not None:
            problems.extend(_check_ptz(f"{key}.ptz", cam.ptz))
    rec = cfg.recording
    from agent.lessons.rule import QUALITY_VARIABLES, RuleError, compile_rule

    try:
        compile_rule(rec.quality_rule, QUALITY_VARIABLES)
    except RuleError as e:
        problems.append(f"recording.quality_rule: {e}")
    if rec.segment_s < 1:
        problems.append("recording.segment_s: must be >= 1")
    if rec.stall_s < 1:
        problems.append("recording.stall_s: must be >= 1")
    if rec.reconnect_max_s < 1:
        problems.append("recording.reconnect_max_s: must be >= 1")
    if rec.min_free_bytes < 0 or rec.emergency_free_bytes < 0:
        problems.append("recording.min_free_bytes: must be >= 0")
    if rec.max_duration_s < 60:
        problems.append("recording.max_duration_s: must be >= 60")
    if not 0.1 <= rec.fsync_interval_s <= 60:
        problems.append("recording.fsync_interval_s: must be 0.1-60")
    problems.extend(_check_upload(rec.upload))
    return problems


def _check_upload(up: UploadConfig) -> list[str]:
    # lazy: the S3 module loads only when S3 upload is configured
    from agent.recording.upload.s3 import MAX_PART, MIN_PART

    problems: list[str] = []
    key = "recording.upload"
    if up.url:
        u = urlsplit(up.url)
        if u.scheme not in ("http", "https") or not u.hostname:
            problems.append(f"{key}.url: expected http(s)://host/…, got {redact(up.url)!r}")
        if up.protocol == "s3":
            if not up.bucket:
                problems.append(f"{key}.bucket: required when protocol = \"s3\" (the default; "
                                "a plain PUT server wants protocol = \"http\")")
            elif not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", up.bucket):
                problems.append(f"{key}.bucket: {up.bucket!r} is not an S3 bucket name "
                                "(3-63 lowercase letters, digits, '.' or '-')")
            if not (up.access_key or up.access_key_file) or not (
                    up.secret_key or up.secret_key_file):
                problems.append(f"{key}.access_key_file: S3 needs an access key and a secret "
                                "key (access_key_file and secret_key_file)")
    if up.prefix and (not re.fullmatch(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*", up.prefix)
                      or {".", ".."} & set(up.prefix.split("/"))):
        problems.append(f"{key}.prefix: {up.prefix!r} must be a plain path "
                        "(letters, digits, '-', '_', '.', separated by '/')")
    for name in ("token_file", "ca_file", "access_key_file", "secret_key_file"):
        value = getattr(up, name)
        if value and not Path(value).is_file():
            problems.append(f"{key}.{name}: file not found: {value}")
    if not MIN_PART <= up.part_size <= MAX_PART:
        problems.append(f"{key}.part_size: must be {MIN_PART}..{MAX_PART} bytes "
                        "(S3 parts are at least 5 MiB)")
    if up.timeout_s <= 0:
        problems.append(f"{key}.timeout_s: must be > 0")
    if up.retry_min_s <= 0 or up.retry_max_s < up.retry_min_s:
        problems.append(f"{key}.retry_min_s: must be > 0 and <= retry_max_s")
    return problems


def _check_ptz(key: str, ptz: PtzConfig) -> list[str]:
    problems = []
    if ptz.protocol.startswith("visca"):
        # the same range the VISCA frame builder accepts (0xFF ends a frame)
        if not isinstance(ptz.preset, int) or not 0 <= ptz.preset <= PRESET_MAX:
            problems.append(f"{key}.preset: VISCA presets are numbers 0-{PRESET_MAX}, "
                            f"got {ptz.preset!r}")
        if not 1 <= ptz.visca_address <= 7:
            problems.append(f"{key}.visca_address: must be 1-7")
    if ptz.protocol == "visca-udp" or ptz.protocol == "onvif":
        host, _, port = ptz.address.rpartition(":") if ":" in ptz.address else (
            ptz.address, "", "")
        if not (host or ptz.address) or (port and not port.isdigit()):
            problems.append(f"{key}.address: expected HOST[:PORT], got {ptz.address!r}")
    if ptz.password_file and not Path(ptz.password_file).is_file():
        problems.append(f"{key}.password_file: file not found: {ptz.password_file}")
    if ptz.timeout_s <= 0:
        problems.append(f"{key}.timeout_s: must be > 0")
    return problems
