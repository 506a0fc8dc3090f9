"""The class roster: which students (OneRoster ``sourcedId``) are enrolled in which class.

Two file formats (``tablets.roster_file``), chosen by extension:

CSV (``.csv``) — a header row, then one enrolment per row. Column names follow OneRoster
``enrollments.csv``: ``classSourcedId`` and ``userSourcedId`` (``sourcedId`` is accepted
for the student column); an optional ``role`` column keeps only ``student`` rows. Extra
columns (names ...) are ignored: the agent never publishes names.

    classSourcedId,userSourcedId,role
    class-7a,stu-001,student
    class-7a,stu-002,student

JSON (``.json``)::

    {"classes": [{"sourcedId": "class-7a", "title": "7A",
                  "students": ["stu-001", {"sourcedId": "stu-002"}]}]}
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.config import Config


class RosterError(ValueError):
    pass


class Roster:
    def __init__(self, classes: dict[str, list[str]] | None = None) -> None:
        # class sourcedId -> students in file order (dict keeps order, drops repeats)
        self.classes: dict[str, dict[str, None]] = {
            c: dict.fromkeys(s) for c, s in (classes or {}).items()
        }
        self._all: set[str] = {s for m in self.classes.values() for s in m}

    def __bool__(self) -> bool:
        return bool(self.classes)

    def students(self, class_id: str) -> list[str]:
        return list(self.classes.get(class_id, {}))

    def has_class(self, class_id: str) -> bool:
        return class_id in self.classes

    def knows(self, student_id: str) -> bool:
        return student_id in self._all

    def enrolled(self, class_id: str, student_id: str) -> bool:
        return student_id in self.classes.get(class_id, {})

    @classmethod
    def load(cls, path: str | Path) -> Roster:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise RosterError(f"cannot read {p}: {e}") from None
        if p.suffix.lower() == ".json":
            return cls(_from_json(text))
        if p.suffix.lower() == ".csv":
            return cls(_from_csv(text.splitlines()))
        raise RosterError(f"{p}: roster must be .csv or .json")


def _from_csv(lines: Iterable[str]) -> dict[str, list[str]]:
    reader = csv.DictReader(lines)
    cols = {c.strip(): c for c in reader.fieldnames or []}
    class_col = cols.get("classSourcedId")
    user_col = cols.get("userSourcedId") or cols.get("sourcedId")
    if not class_col or not user_col:
        raise RosterError("CSV roster needs columns classSourcedId and userSourcedId")
    role_col = cols.get("role")
    out: dict[str, list[str]] = {}
    for n, row in enumerate(reader, start=2):
        if role_col and (row.get(role_col) or "").strip().lower() not in ("", "student"):
            continue
        c, u = (row.get(class_col) or "").strip(), (row.get(user_col) or "").strip()
        if not c or not u:
            raise RosterError(f"CSV roster line {n}: empty class or student id")
        out.setdefault(c, []).append(u)
    return out


def _from_json(text: str) -> dict[str, list[str]]:
    try:
        doc: Any = json.loads(text)
    except ValueError as e:
        raise RosterError(f"JSON roster: {e}") from None
    classes = doc.get("classes") if isinstance(doc, dict) else None
    if not isinstance(classes, list):
        raise RosterError('JSON roster needs {"classes": [...]}')
    out: dict[str, list[str]] = {}
    for i, c in enumerate(classes):
        cid = c.get("sourcedId") if isinstance(c, dict) else None
        studs = c.get("students", []) if isinstance(c, dict) else None
        if not isinstance(cid, str) or not cid or not isinstance(studs, list):
            raise RosterError(f"JSON roster classes[{i}]: needs sourcedId and students[]")
        ids = []
        for j, s in enumerate(studs):
            sid = s.get("sourcedId") if isinstance(s, dict) else s
            if not isinstance(sid, str) or not sid:
                raise RosterError(f"JSON roster classes[{i}].students[{j}]: no sourcedId")
            ids.append(sid)
        out.setdefault(cid, []).extend(ids)
    return out


def load_tokens(path: str | Path) -> dict[str, str]:
    """``tablets.device_tokens_file``: JSON object ``{"device_id": "token"}``; a value may
    also be ``{"token": "...", "role": "teacher"|"student"}`` (see ``load_roles``)."""
    return load_devices(path)[0]


def load_roles(path: str | Path) -> dict[str, str]:
    """device_id -> role for the entries of the tokens file that name one."""
    return load_devices(path)[1]


def load_devices(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RosterError(f"cannot read device tokens {path}: {e}") from None
    bad = RosterError(f"{path}: expected a JSON object of device_id -> token string or "
                      '{"token": "...", "role": "teacher"|"student"}')
    if not isinstance(doc, dict):
        raise bad
    tokens: dict[str, str] = {}
    roles: dict[str, str] = {}
    for k, v in doc.items():
        if isinstance(v, dict):
            token, role = v.get("token"), v.get("role", "student")
            if not isinstance(token, str) or not token or role not in ("teacher", "student"):
                raise bad
            tokens[k], roles[k] = token, role
        elif isinstance(v, str) and v:
            tokens[k] = v
        else:
            raise bad
    return tokens, roles


def check_config(cfg: Config) -> list[str]:
    """Semantic checks for the ``tablets`` section (registered in agent.config)."""
    t = cfg.tablets
    problems: list[str] = []
    if not t.enabled:
        return problems
    if not (t.join_code or t.join_code_file or t.device_tokens_file):
        problems.append("tablets.join_code: give join_code, join_code_file or "
                        "device_tokens_file (tablets must authenticate)")
    for key in ("join_code_file", "device_tokens_file", "roster_file"):
        value = getattr(t, key)
        if value and not Path(value).is_file():
            problems.append(f"tablets.{key}: file not found: {value}")
    if t.roster_file and Path(t.roster_file).is_file():
        try:
            Roster.load(t.roster_file)
        except RosterError as e:
            problems.append(f"tablets.roster_file: {e}")
    if t.device_tokens_file and Path(t.device_tokens_file).is_file():
        try:
            load_tokens(t.device_tokens_file)
        except RosterError as e:
            problems.append(f"tablets.device_tokens_file: {e}")
    positive = ("max_message_bytes", "rate_per_s", "rate_burst", "heartbeat_s",
                "heartbeat_timeout_s", "hello_timeout_s", "max_tablets", "send_queue_max",
                "dedupe_keep_days")
    for key in positive:
        if getattr(t, key) <= 0:
            problems.append(f"tablets.{key}: must be > 0")
    if t.max_message_bytes < 512:
        problems.append("tablets.max_message_bytes: must be at least 512")
    if t.heartbeat_timeout_s <= t.heartbeat_s:
        problems.append("tablets.heartbeat_timeout_s: must be longer than heartbeat_s")
    if t.late_after_min is not None and t.late_after_min < 0:
        problems.append("tablets.late_after_min: must be >= 0")
    x = t.xapi
    if x.enabled and x.endpoint and not x.endpoint.startswith(("http://", "https://")):
        problems.append(f"tablets.xapi.endpoint: must be an http(s) URL, got {x.endpoint!r}")
    if x.password_file and not Path(x.password_file).is_file():
        problems.append(f"tablets.xapi.password_file: file not found: {x.password_file}")
    return problems
