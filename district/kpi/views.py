"""What the dashboard pages show, per district, school and room, for one term.

Built on the KPI engine (``term_report``, ``weekly_series``) so a page shows the very
numbers ``classroom-district report`` prints; the few things the engine does not expose
(a room's lessons, a school's subject x week matrix, the days a room reported) are read
here from the store's tables, for one school or one room at a time (never the whole
district's lessons).

A figure rooms do not send yet stays ``None`` with the engine's reason: the pages show
"no data yet" and the reason, never 0.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

import msgspec

from district.config import ConfigError, DistrictConfig
from district.kpi.engine import (
    WHY_QUALITY,
    school_weeks,
    term_report,
    today,
    weekly_series,
)
from district.store.store import Store

ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # what the config and topics allow for ids
WHY_QUALITY_NO_SUBJECT = "lessons without a subject do not count (the target is per subject)"
ROOMS_BELOW_MAX = 300  # the district page lists at most this many rooms below target


class NotFound(ConfigError):
    """An unknown school or room (the web layer answers 404)."""


def check_id(kind: str, value: str) -> str:
    if not ID_RE.fullmatch(value):
        raise ValueError(f"{kind}: 1-64 letters, digits, '-', '_' or '.'")
    return value


def _rows(store: Store, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    with store.db.reading() as c:
        cur = c.execute(sql, params)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _school_names(cfg: DistrictConfig) -> dict[str, str]:
    return {s.id: s.name for s in cfg.schools if s.name}


def _loss(store: Store, school: str | None = None,
          room: str | None = None) -> dict[tuple[str, str], dict[str, int]]:
    out: dict[tuple[str, str], dict[str, int]] = {}
    for r in store.seq_state(school, room):
        d = out.setdefault((r["school"], r["room"]), {"missing": 0, "gaps": 0})
        d["missing"] += int(r["missing"])
        d["gaps"] += int(r["gaps"])
    return out


def data_version(store: Store) -> int:
    """Grows with every stored batch (the counters are bumped in the batch's transaction,
    by any collector on the database): a cheap "has anything changed" for caches."""
    row = _rows(store, "SELECT coalesce(sum(value), 0) AS v, count(*) AS n FROM counters")[0]
    return int(row["v"]) * 1000 + int(row["n"])


def district_view(cfg: DistrictConfig, store: Store, term: str, *,
                  as_of: date | None = None) -> dict[str, Any]:
    """Per school against targets, the rooms below target, weekly trends, offline rooms and
    rooms with data-loss gaps."""
    as_of = as_of or today(cfg)
    rep = term_report(cfg, store, term, as_of=as_of)
    weeks = weekly_series(cfg, store, term, as_of=as_of)
    names = _school_names(cfg)
    b = msgspec.to_builtins(rep)
    below = [r for r in b["rooms"] if not r["silent"] and (
        (r["class_hour_rate"] or 0) < 1 or (r["subject_rate"] or 0) < 1)]
    below.sort(key=lambda r: (r["class_hour_rate"] or 0, r["school"], r["room"]))
    below_by_school: dict[str, int] = defaultdict(int)
    for r in below:
        below_by_school[r["school"]] += 1
    for s in b["schools"]:
        s["name"] = names.get(s["school"], "")
        s["rooms_below_target"] = below_by_school.get(s["school"], 0)
    loss = _loss(store)
    presence = store.rooms()
    offline = [{"school": r["school"], "room": r["room"], "last_seen": r["last_seen"],
                "status_ts": r["status_ts"], "version": r["version"]}
               for r in presence if r["state"] == "offline"]
    gaps = [{"school": k[0], "room": k[1], **v} for k, v in sorted(loss.items())
            if v["missing"] or v["gaps"]]
    rec_rooms = b["district"]["recording_rooms"]
    weekly = []
    for w in msgspec.to_builtins(weeks):
        if not w["school_week"]:
            continue
        w["recording_room_use"] = (round(w["rooms_recorded"] / rec_rooms, 6)
                                   if rec_rooms else None)
        weekly.append(w)
    return {
        "term": b["term"], "targets": b["targets"], "district": b["district"],
        "schools": b["schools"],
        "rooms_below_target": below[:ROOMS_BELOW_MAX],
        "rooms_below_target_total": len(below),
        "rooms_total": len(b["rooms"]),
        "weekly": weekly,
        "offline": offline,
        "online": sum(1 for r in presence if r["state"] == "online"),
        "data_loss": gaps,
        "generated_at": b["generated_at"],
    }


def school_view(cfg: DistrictConfig, store: Store, term: str, school: str, *,
                as_of: date | None = None) -> dict[str, Any]:
    """Per room and per subject, the subject x week heat map of smart lessons, recordings
    per subject against the 5-per-term target, tablet homework per class and subject."""
    check_id("school", school)
    t = cfg.term(term)
    as_of = as_of or today(cfg)
    rep = term_report(cfg, store, term, school=school, as_of=as_of)
    if not rep.rooms:
        raise NotFound(f"school {school!r}: no room known")
    b = msgspec.to_builtins(rep)
    loss = _loss(store, school)
    for r in b["rooms"]:
        r["data_loss"] = loss.get((r["school"], r["room"]), {"missing": 0, "gaps": 0})
    last = min(t.end, as_of).isoformat()
    weeks = school_weeks(t, as_of)
    subj: dict[str, dict[str, int]] = {}
    for r in store.term_subjects(term, school):
        s = subj.setdefault(r["subject"], {"lessons": 0, "smart_lessons": 0,
                                           "recorded_lessons": 0, "rooms": 0})
        for k in ("lessons", "smart_lessons", "recorded_lessons"):
            s[k] += int(r[k])
        s["rooms"] += r["smart_lessons"] > 0
    cells = _rows(store, "SELECT subject, week, count(*) AS n FROM lessons WHERE school = ? "
                  "AND smart = 1 AND date >= ? AND date <= ? GROUP BY subject, week",
                  [school, t.start.isoformat(), last])
    subjects = sorted(subj)
    wi = {w: i for i, w in enumerate(weeks)}
    si = {s: i for i, s in enumerate(subjects)}
    heat = [[wi[c["week"]], si[c["subject"]], int(c["n"])] for c in cells
            if c["week"] in wi and c["subject"] in si]
    classes = _rows(store, "SELECT class_id, subject, count(*) AS lessons FROM lessons "
                    "WHERE school = ? AND date >= ? AND date <= ? GROUP BY class_id, subject "
                    "ORDER BY class_id, subject", [school, t.start.isoformat(), last])
    sch = b["schools"][0]
    reasons = sch["reasons"]
    target = cfg.targets.quality_recordings_per_subject
    quality = sch["quality_recordings_by_subject"]
    recordings = []
    for subject in subjects:
        q = None if quality is None else quality.get(subject)
        why = None
        if q is None:
            why = reasons.get("quality_recordings_by_subject") or (
                WHY_QUALITY if subject else WHY_QUALITY_NO_SUBJECT)
        recordings.append({"subject": subject, "recorded_lessons": subj[subject][
            "recorded_lessons"], "target": target, "quality_recordings": q,
            "meets": None if q is None else q >= target, "reason": why})
    return {
        "term": b["term"], "targets": b["targets"],
        "school": {**sch, "name": _school_names(cfg).get(school, "")},
        "rooms": b["rooms"],
        "subjects": [{"subject": s, **subj[s]} for s in subjects],
        "heatmap": {"weeks": weeks, "subjects": subjects, "cells": heat},
        "recordings_by_subject": recordings,
        "homework": _homework_view(cfg, store, term, school, sch, weeks, classes),
        "generated_at": b["generated_at"],
    }


def _homework_view(cfg: DistrictConfig, store: Store, term: str, school: str,
                   sch: dict[str, Any], weeks: list[str],
                   classes: list[dict[str, Any]]) -> dict[str, Any]:
    """Per class and subject: lessons, the engine's homework figures and the homework of
    each school week (rows from the lessons and from the homework, both)."""
    t = cfg.targets
    by = sch["homework_by_class_subject"]
    reason = sch["reasons"].get("homework_by_class_subject")
    per_week: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    if by is not None:
        for r in store.term_homework_weeks(term, school):
            per_week[(r["class_id"], r["subject"])][r["week"]] = int(r["assignments"])
    tablet = {r["class_id"]: int(r["tablet_lessons"]) > 0
              for r in store.term_classes(term, school)}
    for class_id, subj in (by or {}).items():  # the engine's verdict (hand-ins count too)
        tablet[class_id] = any(f["tablet_class"] for f in subj.values())
    lessons = {(c["class_id"], c["subject"]): int(c["lessons"]) for c in classes}
    keys = set(lessons) | {(c, s) for c, subj in (by or {}).items() for s in subj}
    rows = []
    for class_id, subject in sorted(keys):
        f = (by or {}).get(class_id, {}).get(subject)
        wk = per_week.get((class_id, subject), {})
        in_weeks = sum(wk.get(w, 0) for w in weeks)
        is_tablet = tablet.get(class_id, False)
        rows.append({
            "class_id": class_id, "subject": subject,
            "lessons": lessons.get((class_id, subject), 0),
            "tablet_class": is_tablet,
            "week_target": t.homework_per_subject_week if is_tablet
            else t.homework_per_subject_week_no_tablets,
            "term_target": t.homework_per_subject_term if is_tablet
            else t.homework_per_subject_term_no_tablets,
            # mean assignments per school week (None while the rooms send no homework)
            "homework_per_week": None if by is None else (
                round(in_weeks / len(weeks), 3) if weeks else None),
            "homework_term": None if by is None else (f["assignments"] if f else 0),
            "weeks_meeting": None if by is None else (f["weeks_meeting"] if f else 0),
            "school_weeks": len(weeks),
            "submissions": f["submissions"] if f else None,
            "submission_rate": f["submission_rate"] if f else None,
            "meets_weekly": None if by is None else bool(f and f["meets_weekly"]),
            "meets_term": None if by is None else bool(f and f["meets_term"]),
            "weeks": {w: wk.get(w, 0) for w in weeks} if by is not None else None,
        })
    return {
        "by_class_subject": by, "reason": reason,
        "targets": {"week": t.homework_per_subject_week, "term": t.homework_per_subject_term,
                    "week_no_tablets": t.homework_per_subject_week_no_tablets,
                    "term_no_tablets": t.homework_per_subject_term_no_tablets},
        "classes": rows,
    }


def _lesson_row(r: dict[str, Any]) -> dict[str, Any]:
    try:
        d = json.loads(r["data"])
    except (TypeError, ValueError):
        d = {}
    if isinstance(d, dict) and isinstance(d.get("data"), dict):
        d = d["data"]  # stored as the whole envelope
    if not isinstance(d, dict):
        d = {}

    def part(name: str) -> dict[str, Any]:
        v = d.get(name)
        return v if isinstance(v, dict) else {}

    panel, tablets, att, eng = part("panel"), part("tablets"), part("attendance"), \
        part("engagement")
    return {
        "lesson_id": r["lesson_id"], "date": r["date"], "period": d.get("period", ""),
        "start": r["start_ts"], "subject": r["subject"], "class_id": r["class_id"],
        "teacher": r["teacher"], "kind": r["kind"], "minutes": r["minutes"],
        "smart": bool(r["smart"]), "recorded": bool(r["recorded"]),
        "live": None if r["live"] is None else bool(r["live"]),
        "panel_on_ratio": panel.get("on_ratio"), "panel_on_minutes": panel.get("on_minutes"),
        "recording_minutes": part("recording").get("minutes"),
        "tablets_active": tablets.get("active"), "tablet_answers": tablets.get("answers"),
        "present": att.get("present"), "roster_size": att.get("roster_size"),
        "late": att.get("late"), "head_up_rate": eng.get("mean_head_up_rate"),
    }


def _attendance_from_events(store: Store, school: str, room: str,
                            lessons: list[dict[str, Any]]) -> None:
    """Attendance of lessons whose summary has none, from the room's attendance events
    (the latest per lesson): older agents and the simulator send it only there."""
    want = {x["lesson_id"] for x in lessons if not x["present"] and x["roster_size"] is None}
    if not want:
        return
    latest: dict[str, dict[str, Any]] = {}
    for r in _rows(store, "SELECT lesson_id, ts, data FROM events WHERE school = ? AND "
                   "room = ? AND type = 'attendance' AND lesson_id IS NOT NULL ORDER BY ts",
                   [school, room]):
        if r["lesson_id"] in want:
            try:
                d = json.loads(r["data"])
            except ValueError:
                continue
            if isinstance(d, dict):
                latest[r["lesson_id"]] = d
    for x in lessons:
        d = latest.get(x["lesson_id"])
        if d:
            x["present"], x["late"] = d.get("present"), d.get("late")
            x["roster_size"] = d.get("enrolled")


def room_view(cfg: DistrictConfig, store: Store, term: str, school: str, room: str, *,
              as_of: date | None = None) -> dict[str, Any]:
    """One room: its figures, every lesson of the term, the days it reported, presence,
    data loss per topic, the latest health."""
    check_id("school", school)
    check_id("room", room)
    t = cfg.term(term)
    as_of = as_of or today(cfg)
    rep = term_report(cfg, store, term, school=school, room=room, as_of=as_of)
    if not rep.rooms:
        raise NotFound(f"room {school}/{room}: not known")
    b = msgspec.to_builtins(rep)
    last = min(t.end, as_of).isoformat()
    rows = _rows(store, "SELECT lesson_id, date, subject, class_id, teacher, kind, smart, "
                 "recorded, minutes, live, start_ts, data FROM lessons WHERE school = ? "
                 "AND room = ? AND date >= ? AND date <= ? ORDER BY date, start_ts",
                 [school, room, t.start.isoformat(), last])
    lessons = [_lesson_row(r) for r in rows]
    _attendance_from_events(store, school, room, lessons)
    days: dict[str, dict[str, int]] = {}
    for x in lessons:
        d = days.setdefault(x["date"], {"lessons": 0, "smart_lessons": 0, "recorded": 0})
        d["lessons"] += 1
        d["smart_lessons"] += x["smart"]
        d["recorded"] += x["recorded"]
    usage = _rows(store, "SELECT date, lessons, revision FROM usage_daily WHERE school = ? "
                  "AND room = ? AND date >= ? AND date <= ? ORDER BY date",
                  [school, room, t.start.isoformat(), last])
    for u in usage:
        days.setdefault(u["date"], {"lessons": 0, "smart_lessons": 0, "recorded": 0})
        days[u["date"]]["usage_lessons"] = int(u["lessons"])
    info = store.rooms(school, room)[0]
    health = store.health(school, room)
    return {
        "term": b["term"], "targets": b["targets"], "room": b["rooms"][0],
        "school_name": _school_names(cfg).get(school, ""),
        "presence": {k: info[k] for k in ("state", "version", "capabilities", "first_seen",
                                          "last_seen", "status_ts", "in_roster")},
        "history": [{"date": k, **v} for k, v in sorted(days.items())],
        "data_loss": store.seq_state(school, room),
        "health": ({"ts": health[0]["ts"], "samples": health[0]["samples"],
                    **health[0]["data"]} if health else None),
        "lessons": lessons,
        "generated_at": b["generated_at"],
    }
