"""The collector's configuration: one TOML file, typed with msgspec.

Unknown keys and wrong types are errors that name the key path, like the agent's
(``mqtt.share_group: expected str, got 3``). `config/district.example.toml` documents
every key and a test keeps the two in step.
"""

from __future__ import annotations

import re
import socket
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from agent.config import (  # same wording as the agent
    ConfigError,
    convert_checked,
    parse_listen,
    read_toml,
)
from agent.web.credentials import is_loopback_host, parse_hash

__all__ = ["ConfigError", "DistrictConfig", "from_dict", "load"]


class _SectionMeta(msgspec.StructMeta):
    def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, Any], **kw: Any) -> Any:
        kw.setdefault("kw_only", True)
        return super().__new__(mcls, name, bases, ns, **kw)


class Section(msgspec.Struct, metaclass=_SectionMeta, forbid_unknown_fields=True):
    """Base of every config section: keyword-only fields; unknown keys are errors."""


class DistrictSection(Section):
    name: str = "district"
    timezone: str = "Asia/Shanghai"


class MqttSection(Section):
    url: str = "mqtt://127.0.0.1:1883"
    topic_prefix: str = "classroom"
    share_group: str = "district"  # MQTT 5 shared subscription group; "" = not shared
    client_id: str = ""  # default: classroom-district-{hostname}; unique per collector
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    tls_insecure: bool = False
    keepalive_s: int = 30
    session_expiry_s: int = 7 * 24 * 3600  # the broker keeps our queue this long offline
    receive_maximum: int = 1000  # unacknowledged QoS 1 messages the broker may send us
    subscribe_health: bool = True
    reconnect_max_s: float = 30.0


class StorageSection(Section):
    url: str = "sqlite:///var/lib/classroom-district/district.sqlite"
    batch_max: int = 500  # messages per transaction
    batch_ms: int = 50  # longest a message waits for its batch to fill
    dead_letter_max: int = 100_000  # rows kept; older ones are deleted (counters stay)


class WebSection(Section):
    listen: str = "127.0.0.1:8090"  # "" = no HTTP API
    token: str | None = None
    token_file: str | None = None
    username: str | None = None
    password_hash: str | None = None  # pbkdf2_sha256$... (classroom-agent hash-password)


class TermSection(Section):
    name: str
    start: date
    end: date
    holidays: list[str] = msgspec.field(default_factory=list)  # "YYYY-MM-DD" or "A..B"

    def holiday_dates(self) -> set[date]:
        out: set[date] = set()
        for item in self.holidays:
            a, _, b = item.partition("..")
            first, last = date.fromisoformat(a.strip()), date.fromisoformat((b or a).strip())
            d = first
            while d <= last:
                out.add(d)
                d = date.fromordinal(d.toordinal() + 1)
        return out


class TargetsSection(Section):
    required_smart_lessons: int = 96  # per classroom per term (课时)
    required_subjects: int = 3  # per classroom (学科)
    quality_recordings_per_subject: int = 5  # per school, subject and term (精品课)
    live_lessons: int = 4  # remote synchronous lessons per school per term (异地同步)
    homework_per_subject_week: int = 2  # tablet classes
    homework_per_subject_term: int = 30
    homework_per_subject_week_no_tablets: int = 1
    homework_per_subject_term_no_tablets: int = 15


class SchoolSection(Section):
    """The roster: rooms expected to report. A listed room that never sends anything is in
    the report as silent; rooms not listed are added when they first send."""

    id: str
    name: str = ""
    rooms: list[str] = msgspec.field(default_factory=list)


class DistrictConfig(Section):
    district: DistrictSection = msgspec.field(default_factory=DistrictSection)
    mqtt: MqttSection = msgspec.field(default_factory=MqttSection)
    storage: StorageSection = msgspec.field(default_factory=StorageSection)
    web: WebSection = msgspec.field(default_factory=WebSection)
    terms: list[TermSection] = msgspec.field(default_factory=list)
    targets: TargetsSection = msgspec.field(default_factory=TargetsSection)
    schools: list[SchoolSection] = msgspec.field(default_factory=list)

    def term(self, name: str) -> TermSection:
        for t in self.terms:
            if t.name == name:
                return t
        known = ", ".join(repr(t.name) for t in self.terms) or "none configured"
        raise ConfigError(f"terms: no term named {name!r} (known: {known})")

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"classroom-district-{socket.gethostname()}"


_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _check(cfg: DistrictConfig) -> list[str]:
    problems: list[str] = []
    try:
        ZoneInfo(cfg.district.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"district.timezone: unknown time zone {cfg.district.timezone!r}")
    u = urlsplit(cfg.mqtt.url)
    if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not u.hostname:
        problems.append("mqtt.url: expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT]")
    else:
        try:
            u.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            problems.append("mqtt.url: bad port")
    if not re.fullmatch(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*", cfg.mqtt.topic_prefix):
        problems.append(f"mqtt.topic_prefix: {cfg.mqtt.topic_prefix!r} is not a plain topic path")
    if not re.fullmatch(r"[A-Za-z0-9_-]{0,64}", cfg.mqtt.share_group):
        problems.append(f"mqtt.share_group: {cfg.mqtt.share_group!r} must be 0-64 letters, "
                        "digits, '-' or '_' (\"\" = a plain, unshared subscription)")
    if cfg.mqtt.client_id and not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", cfg.mqtt.client_id):
        problems.append("mqtt.client_id: 1-128 letters, digits, '-', '_' or '.'")
    for key, lo, hi in (("keepalive_s", 5, 3600), ("receive_maximum", 1, 65535),
                        ("session_expiry_s", 0, 2**32 - 1)):
        v = getattr(cfg.mqtt, key)
        if not lo <= v <= hi:
            problems.append(f"mqtt.{key}: must be between {lo} and {hi}, got {v}")
    if not 0.5 <= cfg.mqtt.reconnect_max_s <= 3600:
        problems.append("mqtt.reconnect_max_s: must be between 0.5 and 3600")
    for key in ("password_file", "ca_file"):
        value = getattr(cfg.mqtt, key)
        if value and not Path(value).is_file():
            problems.append(f"mqtt.{key}: file not found: {value}")
    scheme = urlsplit(cfg.storage.url).scheme
    if scheme not in ("sqlite", "postgresql", "postgres"):
        problems.append("storage.url: expected sqlite:///PATH or postgresql://...")
    if not 1 <= cfg.storage.batch_max <= 10_000:
        problems.append("storage.batch_max: must be between 1 and 10000")
    if not 1 <= cfg.storage.batch_ms <= 10_000:
        problems.append("storage.batch_ms: must be between 1 and 10000")
    if cfg.storage.dead_letter_max < 100:
        problems.append("storage.dead_letter_max: must be at least 100")
    if cfg.web.listen:
        try:
            host, _ = parse_listen(cfg.web.listen)
        except ValueError as e:
            problems.append(f"web.listen: {e}")
        else:
            has_creds = bool(cfg.web.token or cfg.web.token_file
                             or (cfg.web.username and cfg.web.password_hash))
            if not is_loopback_host(host) and not has_creds:
                problems.append(f"web.listen: {cfg.web.listen} is not loopback: set web.token, "
                                "web.token_file or web.username + web.password_hash")
            if cfg.web.password_hash:
                try:
                    parse_hash(cfg.web.password_hash)
                except ValueError as e:
                    problems.append(f"web.password_hash: {e}")
    if cfg.web.token_file and not Path(cfg.web.token_file).is_file():
        problems.append(f"web.token_file: file not found: {cfg.web.token_file}")
    seen: set[str] = set()
    for i, t in enumerate(cfg.terms):
        if t.name in seen:
            problems.append(f"terms[{i}].name: duplicate term {t.name!r}")
        seen.add(t.name)
        if not t.name.strip():
            problems.append(f"terms[{i}].name: must not be empty")
        if t.end < t.start:
            problems.append(f"terms[{i}].end: before start")
        try:
            t.holiday_dates()
        except ValueError:
            problems.append(f"terms[{i}].holidays: expected YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD")
    for key in TargetsSection.__struct_fields__:
        if getattr(cfg.targets, key) < 1:
            problems.append(f"targets.{key}: must be at least 1")
    for i, s in enumerate(cfg.schools):
        for j, r in enumerate([s.id, *s.rooms]):
            if not _ID_RE.fullmatch(r):
                where = f"schools[{i}].id" if j == 0 else f"schools[{i}].rooms[{j - 1}]"
                problems.append(f"{where}: {r!r} must be 1-64 letters, digits, '-', '_' or '.'")
    return problems


def from_dict(data: dict[str, Any]) -> DistrictConfig:
    """Build a config from parsed TOML; raises ConfigError naming the key path."""
    return convert_checked(data, DistrictConfig, _check)


def load(path: str | Path) -> DistrictConfig:
    """Read and validate the collector's TOML file; raises ConfigError."""
    return from_dict(read_toml(path))
