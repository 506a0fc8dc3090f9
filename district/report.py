"""A term report as JSON, CSV or an xlsx workbook (XlsxWriter).

CSV and xlsx carry the same rows as the JSON, with a two-part header: Chinese and English
(``课时达标率 class_hour_rate``). The CSV holds the room rows, then the school rows, then
the district row, each block with its own header and a ``level`` column; the workbook has
one sheet per level, plus a homework sheet (one row per school, class and subject).
Rates are fractions; the workbook shows them as percentages.
A null figure is an empty cell; its reason is in the ``reasons`` column.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import msgspec

from district.kpi.engine import Report

HEADERS: dict[str, str] = {
    "school": "学校", "room": "教室", "state": "在线状态", "last_seen": "最近上报",
    "silent": "从未上报", "lessons": "开课节数", "smart_lessons": "智慧课堂课时",
    "class_hour_rate": "课时达标率", "subjects_taught": "开设学科数", "subject_rate": "学科达标率",
    "subjects": "学科", "recording_room": "录播教室", "recorded_lessons": "录播课时",
    "recorded_weeks": "录播使用周数", "school_weeks": "教学周数",
    "recording_room_weekly_rate": "录播教室周使用率", "quality_recordings": "精品课数",
    "live_lessons": "异地同步教学次数", "usage_lessons": "日报课时", "minutes": "授课分钟",
    "rooms": "教室数", "reporting_rooms": "上报教室数", "silent_rooms": "未上报教室数",
    "smart_lessons_per_room": "平均智慧课时", "rooms_meeting_class_hours": "课时达标教室数",
    "subjects_per_room": "平均学科数", "rooms_meeting_subjects": "学科达标教室数",
    "recording_rooms": "录播教室数", "recording_rooms_weekly": "每周使用录播教室数",
    "quality_recordings_by_subject": "各学科精品课数", "live_lessons_rate": "异地同步达标率",
    "homework_by_class_subject": "各班各科平板作业数", "schools": "学校数", "name": "名称",
    "reasons": "空值原因", "quality_target_met_by_subject": "各学科精品课达标",
    "quality_subjects_meeting": "精品课达标学科数", "homework_days": "作业日报天数",
    "homework_class_subjects": "布置平板作业的班级学科数",
    "homework_meeting_weekly": "每周作业达标班级学科数",
    "homework_meeting_term": "学期作业达标班级学科数",
}
# the workbook's homework sheet: one row per school, class and subject
HOMEWORK_HEADERS: dict[str, str] = {
    "school": "学校", "class_id": "班级", "subject": "学科", "tablet_class": "平板班",
    "assignments": "学期作业数", "submissions": "提交数", "submission_rate": "提交率",
    "week_target": "每周要求", "school_weeks": "教学周数", "weeks_meeting": "达标周数",
    "weekly_rate": "周达标率", "term_target": "学期要求", "term_rate": "学期达标率",
    "meets_weekly": "每周达标", "meets_term": "学期达标",
}
RATES = {"class_hour_rate", "subject_rate", "recording_room_weekly_rate", "live_lessons_rate",
         "submission_rate", "weekly_rate", "term_rate"}
LEVELS = (("rooms", "教室 rooms"), ("schools", "学校 schools"), ("district", "区县 district"))


def to_json(report: Report) -> bytes:
    return msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n"


def _rows(report: Report) -> dict[str, list[dict[str, Any]]]:
    b = msgspec.to_builtins(report)
    return {"rooms": b["rooms"], "schools": b["schools"], "district": [b["district"]]}


def _homework_rows(report: Report) -> list[dict[str, Any]]:
    return [{"school": s.school, "class_id": c, "subject": subj,
             **msgspec.to_builtins(f)}
            for s in report.schools for c, by in (s.homework_by_class_subject or {}).items()
            for subj, f in by.items()]


def _cell(value: Any, col: str = "") -> Any:
    if col == "homework_by_class_subject" and isinstance(value, dict):
        # class/subject: term assignments (school weeks meeting the weekly target)
        return "; ".join(f"{c}/{s}: {f['assignments']} ({f['weeks_meeting']}/"
                         f"{f['school_weeks']} wk)" for c, by in value.items()
                         for s, f in by.items())
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(map(str, value))
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return value


def header(col: str) -> str:
    return f"{HEADERS[col]} {col}" if col in HEADERS else col


def to_csv(report: Report) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["term", report.term.name, report.term.start, report.term.end,
                f"as_of {report.term.as_of}"])
    for level, rows in _rows(report).items():
        if not rows:
            continue
        cols = list(rows[0])
        w.writerow(["层级 level", *(header(c) for c in cols)])
        for r in rows:
            w.writerow([level, *(_cell(r[c], c) for c in cols)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel opens it as UTF-8


def to_xlsx(report: Report) -> bytes:
    # lazy: only the xlsx format needs XlsxWriter
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    bold = wb.add_format({"bold": True, "text_wrap": True, "valign": "top"})
    pct = wb.add_format({"num_format": "0.00%"})
    by_level = _rows(report)
    for level, title in LEVELS:
        rows = by_level[level]
        cols = list(rows[0]) if rows else list(HEADERS)
        _write_table(wb.add_worksheet(title), cols, [header(c) for c in cols],
                     [{c: _cell(r[c], c) for c in cols} for r in rows], bold, pct)
    cols = list(HOMEWORK_HEADERS)
    _write_table(wb.add_worksheet("作业 homework"), cols,
                 [f"{HOMEWORK_HEADERS[c]} {c}" for c in cols], _homework_rows(report), bold, pct)
    info = wb.add_worksheet("学期 term")
    t = msgspec.to_builtins(report.term)
    for i, (k, v) in enumerate([*t.items(),
                                *msgspec.to_builtins(report.targets).items()]):
        info.write(i, 0, k, bold)
        info.write(i, 1, _cell(v))
    wb.close()
    return buf.getvalue()


def _write_table(ws: Any, cols: list[str], titles: list[str], rows: list[dict[str, Any]],
                 bold: Any, pct: Any) -> None:
    """One sheet: a bold header row frozen at the top, rates as percentages, no value as
    an empty cell."""
    for j, (c, title) in enumerate(zip(cols, titles, strict=True)):
        ws.write(0, j, title, bold)
        ws.set_column(j, j, 14, pct if c in RATES else None)
    for i, r in enumerate(rows, start=1):
        for j, c in enumerate(cols):
            v = r[c]
            if v is None or v == "":
                ws.write_blank(i, j, None)
            elif c in RATES:
                ws.write_number(i, j, v, pct)
            else:
                ws.write(i, j, v)
    ws.freeze_panes(1, 0)


def render(report: Report, fmt: str) -> bytes:
    match fmt:
        case "json":
            return to_json(report)
        case "csv":
            return to_csv(report)
        case "xlsx":
            return to_xlsx(report)
    raise ValueError(f"unknown format {fmt!r}")


def as_dict(report: Report) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(msgspec.json.encode(report))
    return data
