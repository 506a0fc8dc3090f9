"""The agent's configuration: one TOML file, typed with msgspec.

Every section is a ``Section`` struct. Unknown keys and wrong types are errors that name
the key path (``mqtt.port: expected int, got "abc"``). Each capability owns one section
below; `config/agent.example.toml` documents every key and a test keeps the two in step.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec


class ConfigError(Exception):
    """A configuration problem, worded as one line per problem for the operator."""

    def __init__(self, problems: list[str] | str) -> None:
        from drivers.redact import redact_text  # problems are printed and logged

        problems = [problems] if isinstance(problems, str) else list(problems)
        self.problems = [redact_text(p) for p in problems]  # never a URL's password
        super().__init__("; ".join(self.problems))


class _SectionMeta(msgspec.StructMeta):
    # msgspec does not inherit kw_only; every section wants it (required after optional)
    def __new__(mcls, name, bases, ns, **kw):
        kw.setdefault("kw_only", True)
        return super().__new__(mcls, name, bases, ns, **kw)


class Section(msgspec.Struct, metaclass=_SectionMeta, forbid_unknown_fields=True):
    """Base of every config section: keyword-only fields; unknown keys are errors."""


# --------------------------------------------------------------------------- foundation


class SiteConfig(Section):
    school: str = "school"
    room: str = "room"
    timezone: str = "UTC"
    name: str = ""  # human-friendly room name shown on the pages


class MqttConfig(Section):
    url: str | None = None  # mqtt://host:1883 or mqtts://host:8883; None = uplink disabled
    topic_prefix: str = "classroom"
    client_id: str | None = None  # default: ca-{school}-{room}
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    tls_insecure: bool = False  # skip hostname verification (lab brokers only)
    protocol: Literal["auto", "5", "3.1.1"] = "auto"
    keepalive_s: int = 30
    max_inflight: int = 100
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    max_command_bytes: int = 16384


class StorageConfig(Section):
    data_dir: str = "/var/lib/classroom-agent"


class OutboxConfig(Section):
    max_bytes: int = 256 * 1024 * 1024
    synchronous: Literal["NORMAL", "FULL"] = "FULL"
    batch_max: int = 500  # messages per commit and per drain batch


class WebConfig(Section):
    listen: str = "127.0.0.1:8080"
    language: Literal["auto", "en", "zh-CN"] = "auto"
    token: str | None = None
    token_file: str | None = None
    username: str | None = None
    password_hash: str | None = None  # pbkdf2_sha256$iterations$salt_hex$hash_hex
    max_request_bytes: int = 1024 * 1024
    tls_cert_file: str | None = None  # PEM certificate (chain): serve https:// and wss://
    tls_key_file: str | None = None  # PEM private key of that certificate
    # requests from this box to a loopback Host (kiosk panel browser, CLI) need no login
    trust_loopback: bool = True


class HealthConfig(Section):
    interval_s: float = 30.0


class LoggingConfig(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


# --------------------------------------------------------------------------- lessons
# Timetable and lesson settings; semantics (times, dates, the smart_use rule) are checked
# by agent.lessons.timetable.check_config, registered in SEMANTIC_CHECKS below.


class TermConfig(Section):
    name: str = ""
    start: str  # YYYY-MM-DD, first school day of the term
    end: str  # YYYY-MM-DD, last school day (inclusive)


class MakeupDayConfig(Section):
    date: str  # YYYY-MM-DD: a weekend day that is a school day ...
    follows: str  # ... following this weekday's timetable (mon..sun)


class ClassConfig(Section):
    name: str = ""
    roster_size: int = 0  # enrolled students; 0 = unknown (absent is then not counted)


class PeriodConfig(Section):
    days: list[str]  # weekdays: mon tue wed thu fri sat sun
    bell: str = ""  # a name in timetable.bells, or give start/end
    start: str = ""  # HH:MM local time
    end: str = ""
    id: str = ""  # period id used in lesson ids; default: bell name or start as HHMM
    class_: str = msgspec.field(default="", name="class")  # roster class sourcedId
    subject: str = ""
    teacher: str = ""  # roster teacher sourcedId
    title: str = ""
    record: bool = False  # recorded automatically (with pre-/post-roll)
    live: bool = False  # pushed live to [live] url from its start to its end


class TimetableConfig(Section):
    terms: list[TermConfig] = []  # empty = every date is in term
    holidays: list[str] = []  # "YYYY-MM-DD" or "YYYY-MM-DD..YYYY-MM-DD"
    makeup_days: list[MakeupDayConfig] = []
    bells: dict[str, str] = {}  # name -> "HH:MM-HH:MM"
    classes: dict[str, ClassConfig] = {}  # class sourcedId -> info
    periods: list[PeriodConfig] = []


class LessonsConfig(Section):
    enabled: bool = True
    timetable: TimetableConfig | None = None
    timetable_file: str | None = None  # TOML or JSON with the same keys as [lessons.timetable]
    smart_use: str = "panel_on_ratio >= 0.5 or recorded or tablets_used"
    pre_roll_s: int = 60  # recorded periods: start recording this early
    post_roll_s: int = 60  # ... and stop this late
    late_after_s: int = 300  # a check-in later than this after the start counts as late
    idle_end_s: int = 300  # an ad-hoc lesson ends this long after its recording stopped
    adhoc_max_s: int = 3 * 3600  # ... and never lasts longer than this
    max_extend_min: int = 60  # lesson/extend limit per lesson
    daily_report_time: str = "23:30"  # local time the day's UsageDaily is published
    keep_days: int = 730  # lesson summaries kept in SQLite
    tick_s: float = 5.0  # how often the schedule is re-evaluated (clock seconds)


# --------------------------------------------------------------------------- tablets
# Tablet gateway (/ws/tablet), roster and attendance; see docs/tablet-protocol.md.


class XapiConfig(Section):
    enabled: bool = False  # render attendance/interaction events as xAPI statements
    endpoint: str | None = None  # LRS base URL (…/xapi/); statements are POSTed to …/statements
    username: str | None = None  # LRS basic auth
    password: str | None = None
    password_file: str | None = None
    home_page: str = "https://sis.example.org"  # actor account homePage (the roster system)
    activity_base: str = "https://classroom-agent.local/xapi"  # base IRI of lesson/question ids
    batch_max: int = 50  # statements per POST
    queue_max: int = 10000  # statements waiting for the LRS; oldest dropped (counted) beyond
    retry_max_s: float = 300.0  # backoff ceiling between failed POSTs


class TabletsConfig(Section):
    enabled: bool = False
    join_code: str | None = None  # class join code typed into the tablet app
    join_code_file: str | None = None
    device_tokens_file: str | None = None  # JSON {"device_id": "token", ...}
    roster_file: str | None = None  # OneRoster-style CSV or JSON (docs/tablet-protocol.md)
    late_after_min: float | None = None  # None: lessons.late_after_s
    early_checkin_min: float = 15.0  # check-ins this long before a lesson count for it
    max_backdate_s: float = 600.0  # how far a check-in's own `at` may lie in the past
    max_message_bytes: int = 8192
    rate_per_s: float = 20.0  # per connection, token bucket
    rate_burst: int = 40
    heartbeat_s: float = 15.0  # tablets send a heartbeat this often (told in welcome)
    heartbeat_timeout_s: float = 45.0  # silence before the agent closes a connection
    hello_timeout_s: float = 10.0
    max_tablets: int = 200
    send_queue_max: int = 256  # messages waiting for one tablet before it is closed
    dedupe_keep_days: int = 2  # replayed message ids recognised for this many days
    xapi: XapiConfig = msgspec.field(default_factory=XapiConfig)


# --------------------------------------------------------------------------- cameras, recording
# Cameras (drivers/camera) and lesson recording (agent/recording); see docs/recording.md.


class PtzConfig(Section):
    protocol: Literal["visca-serial", "visca-udp", "onvif"]
    address: str  # visca-serial: device path; visca-udp / onvif: host[:port]
    preset: int | str  # recalled when a recording starts (VISCA: number; ONVIF: token)
    baudrate: int = 9600  # visca-serial
    visca_address: int = 1  # VISCA camera address 1-7
    username: str | None = None  # onvif
    password: str | None = None
    password_file: str | None = None
    timeout_s: float = 3.0


class CameraConfig(Section):
    id: str
    url: str  # rtsp://…, /dev/video0 (V4L2) or a file path
    role: Literal["teacher", "students", "board"] = "teacher"
    enabled: bool = True
    sub_stream: str | None = None  # low-resolution stream for analysis (engagement)
    loop: bool = False  # file sources: start again at the end (demo camera)
    transport: Literal["tcp", "udp"] = "tcp"  # RTSP lower transport
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 5.0
    input_format: str | None = None  # force an FFmpeg demuxer, e.g. "video4linux2"
    input_options: dict[str, str] = {}  # demuxer options, e.g. {video_size = "1280x720"}
    encode_bitrate: int = 4_000_000  # bit/s of libx264 for raw / MJPEG sources
    audio: bool = True  # record the audio track when the source has one
    ptz: PtzConfig | None = None


class UploadConfig(Section):
    # where: "s3" = S3-compatible object storage (MinIO, OSS, COS, OBS, AWS) with resumable
    # multipart upload; "http" = one plain PUT per whole file (simple servers)
    protocol: Literal["s3", "http"] = "s3"
    url: str | None = None  # s3: endpoint URL; http: base URL; None = upload off
    # keys are {prefix}/{school}/{room}/{date}/{lesson_dir}/{camera}/{file}
    prefix: str = ""
    bucket: str | None = None  # s3: required
    region: str = "us-east-1"  # s3: signing region (MinIO ignores it)
    addressing_style: Literal["auto", "path", "virtual"] = "auto"  # s3: OSS/COS want virtual
    access_key: str | None = None  # s3; prefer access_key_file
    access_key_file: str | None = None
    secret_key: str | None = None  # s3; prefer secret_key_file
    secret_key_file: str | None = None
    part_size: int = 8 * 1024**2  # s3: multipart part size, 5 MiB .. 512 MiB
    checksum: Literal["sha256", "md5"] = "sha256"  # s3: what proves the server's copy
    header: str = "Authorization"  # http: auth header name
    token: str | None = None  # http: header value = token_prefix + token
    token_file: str | None = None
    token_prefix: str = "Bearer "
    ca_file: str | None = None
    tls_insecure: bool = False
    timeout_s: float = 60.0  # per request without progress
    retry_min_s: float = 5.0
    retry_max_s: float = 900.0
    # free the disk once the server's copy of every file is verified (size + checksum)
    delete_after_upload: bool = False


class RecordingConfig(Section):
    dir: str | None = None  # default {storage.data_dir}/recordings
    segment_s: float = 300.0  # cut a new segment file on the first keyframe after this
    stall_s: float = 10.0  # no packets this long: the source is reopened (gap recorded)
    reconnect_max_s: float = 30.0  # backoff ceiling between reopen attempts
    probe_interval_s: float = 60.0  # idle cameras are probed this often (device state)
    min_free_bytes: int = 2 * 1024**3  # retention floor; also ~1 h at the current bitrate
    emergency_free_bytes: int = 512 * 1024**2  # below this, recordings awaiting upload go too
    max_age_days: int = 0  # also delete finished recordings older than this (0 = off)
    retention_interval_s: float = 30.0
    fsync_interval_s: float = 2.0  # the open segment is fsynced this often (power-loss bound)
    max_duration_s: float = 4 * 3600.0  # a forgotten recording stops by itself
    # a showcase recording that passes this rule is a quality (精品) recording; same
    # expression language as lessons.smart_use, names in docs/lessons.md
    quality_rule: str = "finished and minutes >= 35 and gap_s < 30 and all_cameras"
    upload: UploadConfig = msgspec.field(default_factory=UploadConfig)


# --------------------------------------------------------------------------- live lessons
# Live remote lessons: one camera pushed to the district's streaming server (agent/live);
# see docs/live.md.


class LiveConfig(Section):
    url: str | None = None  # rtmp://, rtmps:// or srt:// target; None/absent = off
    url_file: str | None = None  # a file holding the url (it carries the stream key)
    camera: str | None = None  # camera id; default: the first enabled teacher camera
    audio: bool = True  # push the camera's audio (copied if AAC, else encoded to AAC)
    min_minutes: float = 20.0  # a lesson counts as a live lesson from this many live minutes
    backoff_min_s: float = 1.0  # reconnect delay after a failure: from this ...
    backoff_max_s: float = 30.0  # ... doubling up to this, each with random jitter
    write_timeout_s: float = 10.0  # no progress this long (connecting, sending): an outage
    ffmpeg_command: str = "ffmpeg"  # the child that connects (Debian ffmpeg: RTMP, SRT)


# --------------------------------------------------------------------------- engagement
# On-device engagement metrics (agent/engagement); see docs/ENGAGEMENT.md.


class EngagementConfig(Section):
    enabled: bool = False  # off unless a room turns it on
    # "lessons": analyse only while a lesson is current or a recording runs (idle costs
    # nothing); "always": analyse all the time (rooms without lessons/recording act so)
    active: Literal["lessons", "always"] = "lessons"
    camera: str | None = None  # id of a [[cameras]] entry; None = the first "students" camera
    source: str | None = None  # analyse this URL/file instead of a camera (tests, demo)
    loop: bool = False  # file source: start again at the end
    analysis_fps: float = 5.0  # frames analysed per second at most
    window_s: float = 10.0  # one EngagementWindow per this many seconds
    queue_size: int = 2  # frames waiting for the worker; older ones are dropped
    intra_threads: int = 1  # ONNX Runtime threads inside one operator
    inter_threads: int = 1
    providers: list[str] = []  # ONNX Runtime execution providers; [] = CPU
    detect_width: int = 1280  # frames are scaled to this width before detection (0 = native)
    face_score: float = 0.15  # RetinaFace threshold (FaceMesh then verifies each face)
    min_face_px: float = 10.0
    head_pose: bool = True
    max_pose_faces: int = 16  # head pose for at most this many faces a frame (rotating sample)
    pitch_down_deg: float = -20.0  # head pitch below this = looking down
    pitch_offset_deg: float = 0.0  # camera mounted high: add its tilt here
    max_yaw_deg: float = 60.0  # turned further sideways = not facing the front
    hand_raise: bool = True
    hands_every_s: float = 4.0  # the body model runs this often (it is the costly part)
    hold_frames: int = 2  # consecutive body-model runs a hand must stay up to count
    # "top_down": a pose model on a crop around each known person; "tiles": the multipose
    # model on frame tiles (the method before issue 15)
    hand_method: Literal["top_down", "tiles"] = "top_down"
    hand_crop_above: float = 2.0  # crop: face sizes above the face top
    hand_crop_below: float = 3.0  # face sizes below the face bottom
    hand_crop_sideways: float = 1.6  # at least this many face sizes each side
    hand_kp_score: float = 0.35  # keypoint score a wrist/shoulder/elbow needs
    pose_tile: int = 384  # body-model tile side (it sees at most 6 people per tile)
    pose_upscale: float = 1.0  # >1 enlarges each tile's region first (small people; costs more)
    timeline_minutes: int = 300  # per-minute timeline kept in memory
    face_detector_model: str | None = None  # replace a default model file
    face_landmarks_model: str | None = None
    pose_model: str | None = None
    hand_pose_model: str | None = None


# --------------------------------------------------------------------------- panels
# Interactive panels and projectors (drivers/panel, agent/panel); see docs/panels.md.


class PanelAutomationConfig(Section):
    power_on_at_lesson_start: bool = False
    lesson_input: str | None = None  # select this input when a lesson starts (e.g. "hdmi1")
    power_off_after_last_lesson: bool = False
    after_last_lesson_min: float = 5.0  # grace after the day's last lesson before "off"
    idle_off_min: float = 0.0  # off after this many minutes on with no lesson (0 = never)


class PanelConfig(Section):
    id: str
    protocol: Literal["pjlink", "smart", "viewsonic", "mdc"]
    name: str = ""
    serial: str | None = None  # serial port path (prefer /dev/serial/by-id/...)
    baud: int | None = None  # default: smart 19200, viewsonic 9600, mdc 9600
    host: str | None = None  # LAN devices (or a serial-to-Ethernet adapter)
    port: int | None = None  # default: pjlink 4352, viewsonic 5000, mdc 1515
    password: str | None = None  # PJLink
    password_file: str | None = None
    display_id: int = 1  # viewsonic / mdc address on the RS-232 daisy chain
    notify_port: int = 0  # PJLink Class 2: UDP port for status notifications (4352; 0 = off)
    notify_bind: str = "0.0.0.0"
    poll_s: float = 10.0
    timeout_s: float = 2.0  # per reply
    connect_timeout_s: float = 5.0
    retries: int = 1  # a failed exchange is retried this often before the panel is a fault
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    input_names: dict[str, str] = {}  # driver input -> name reported, {DIGITAL1 = "HDMI1"}
    automation: PanelAutomationConfig = msgspec.field(default_factory=PanelAutomationConfig)


class Config(Section):
    site: SiteConfig = msgspec.field(default_factory=SiteConfig)
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    storage: StorageConfig = msgspec.field(default_factory=StorageConfig)
    outbox: OutboxConfig = msgspec.field(default_factory=OutboxConfig)
    web: WebConfig = msgspec.field(default_factory=WebConfig)
    health: HealthConfig = msgspec.field(default_factory=HealthConfig)
    logging: LoggingConfig = msgspec.field(default_factory=LoggingConfig)
    lessons: LessonsConfig = msgspec.field(default_factory=LessonsConfig)
    tablets: TabletsConfig = msgspec.field(default_factory=TabletsConfig)
    cameras: list[CameraConfig] = []
    recording: RecordingConfig = msgspec.field(default_factory=RecordingConfig)
    live: LiveConfig = msgspec.field(default_factory=LiveConfig)
    panels: list[PanelConfig] = []
    engagement: EngagementConfig = msgspec.field(default_factory=EngagementConfig)

    @property
    def data_dir(self) -> Path:
        return Path(self.storage.data_dir)


# --------------------------------------------------------------------------- loading

_PATH_RE = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_UNKNOWN_RE = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`")
_EXPECTED_RE = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`")


def _key_path(raw: str) -> str:
    # msgspec writes "$.mqtt.port" or "$.cameras[0].url"; operators read "mqtt.port"
    return raw.lstrip(".")


def _lookup(data: Any, path: str) -> Any:
    cur = data
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        try:
            cur = cur[int(part[1:-1])] if part.startswith("[") else cur[part]
        except (KeyError, IndexError, TypeError, ValueError):
            return None
    return cur


def explain_validation(err: msgspec.ValidationError, data: dict[str, Any]) -> str:
    msg = str(err)
    m = _PATH_RE.search(msg)
    path = _key_path(m.group("path")) if m else ""
    text = msg[: m.start()] if m else msg
    if u := _UNKNOWN_RE.match(text):
        full = f"{path}.{u.group('field')}" if path else u.group("field")
        return f"{full}: unknown key"
    if e := _EXPECTED_RE.match(text):
        value = _lookup(data, path)
        shown = msgspec.json.encode(value).decode() if value is not None else e.group("got")
        return f"{path or '(top level)'}: expected {e.group('want')}, got {shown}"
    return f"{path or '(top level)'}: {text[0].lower() + text[1:] if text else 'invalid'}"


def _check_semantics(cfg: Config) -> list[str]:
    problems = []
    try:
        ZoneInfo(cfg.site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"site.timezone: unknown time zone {cfg.site.timezone!r}")
    for key in ("school", "room"):
        value = getattr(cfg.site, key)
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
            problems.append(
                f"site.{key}: {value!r} must be 1-64 letters, digits, '-', '_' or '.' "
                "(it is part of MQTT topics)"
            )
    if cfg.mqtt.url:
        from drivers.redact import redact  # problems are printed and logged

        u = urlsplit(cfg.mqtt.url)
        shown = redact(cfg.mqtt.url)
        if u.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            problems.append(f"mqtt.url: scheme must be mqtt:// or mqtts://, got {shown!r}")
        elif not u.hostname:
            problems.append(f"mqtt.url: no host in {shown!r}")
        else:
            try:
                u.port  # noqa: B018 - raises ValueError on a bad port
            except ValueError:
                problems.append(f"mqtt.url: bad port in {shown!r}")
    if not re.fullmatch(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*", cfg.mqtt.topic_prefix):
        problems.append(f"mqtt.topic_prefix: {cfg.mqtt.topic_prefix!r} is not a plain topic path")
    for key in ("password_file", "ca_file", "cert_file", "key_file"):
        value = getattr(cfg.mqtt, key)
        if value and not Path(value).is_file():
            problems.append(f"mqtt.{key}: file not found: {value}")
    if bool(cfg.mqtt.cert_file) != bool(cfg.mqtt.key_file):
        problems.append("mqtt.cert_file: cert_file and key_file must be given together")
    if cfg.health.interval_s <= 0:
        problems.append("health.interval_s: must be > 0")
    if cfg.outbox.max_bytes < 64 * 1024:
        problems.append("outbox.max_bytes: must be at least 65536")
    try:
        parse_listen(cfg.web.listen)
    except ValueError as e:
        problems.append(f"web.listen: {e}")
    if cfg.web.token_file and not Path(cfg.web.token_file).is_file():
        problems.append(f"web.token_file: file not found: {cfg.web.token_file}")
    for spec in SEMANTIC_CHECKS:
        problems.extend(_run_check(spec, cfg))
    return problems


# Checks that need more than types (files exist, ids unique ...), one per capability:
# "module:function" taking the Config and returning problems worded "key.path: ...".
# Imported lazily so loading a config does not import every capability's code.
SEMANTIC_CHECKS: list[str] = [
    "agent.lessons.timetable:check_config",
    "agent.web.credentials:listen_problems",  # off-loopback without credentials: refuse
    "agent.web.tls:check_config",
    "agent.tablets.roster:check_config",
    "agent.recording.config_check:check_config",
    "agent.live.config_check:check_config",
    "agent.engagement.config_check:check_config",
    "agent.panel.config_check:check_config",
]


def _run_check(spec: str, cfg: Config) -> list[str]:
    import importlib

    module, _, fn = spec.partition(":")
    return getattr(importlib.import_module(module), fn)(cfg)


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    # isdigit() accepts "²"; int() does not
    if not sep or not re.fullmatch(r"[0-9]{1,5}", port) or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {listen!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


C = TypeVar("C")


def convert_checked(data: dict[str, Any], type_: type[C],
                    check: Callable[[C], list[str]]) -> C:
    """Parsed TOML data as ``type_`` (a msgspec Struct), then ``check``'s semantic rules;
    raises ConfigError naming the key path (the agent's and the district's configs)."""
    try:
        cfg = msgspec.convert(data, type_, strict=True)
    except msgspec.ValidationError as err:
        raise ConfigError(explain_validation(err, data)) from None
    problems = check(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


def from_dict(data: dict[str, Any]) -> Config:
    """Build a Config from already-parsed TOML data; raises ConfigError."""
    return convert_checked(data, Config, _check_semantics)


def load(path: str | Path) -> Config:
    """Read and validate one TOML config file; raises ConfigError."""
    return from_dict(read_toml(path))


def read_toml(path: str | Path) -> dict[str, Any]:
    """One TOML file as data; unreadable, non-UTF-8 or bad TOML is a ConfigError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: TOML syntax error: {e}") from None
    return data


def read_secret(value: str | None, file: str | None) -> str | None:
    """A secret given inline or in a file (first line, stripped)."""
    if file:
        return Path(file).read_text(encoding="utf-8").strip()
    return value
