// The printable term report: the same document as `classroom-district report --format json`
// (GET /api/report), laid out for A4, with the csv and xlsx downloads.
"use strict";

(function () {
  const D = window.Dash;
  const { t, el, pct, num, table, fill } = D;
  const school = D.P.school || "";
  const dl = (fmt) => "/api/report?" + D.query({ format: fmt, school: school });
  document.getElementById("dl-csv").href = dl("csv");
  document.getElementById("dl-xlsx").href = dl("xlsx");
  document.getElementById("print").addEventListener("click", () => window.print());
  if (school) fill("school-title", " · " + school);
  const rate = (c, reasons, key) => (c === null || c === undefined ? D.nodata(reasons[key]) : pct(c));
  const below = (v) => (v !== null && v !== undefined && v < 1 ? "below" : null);

  function levelCols(d) {
    return [
      [t("rooms"), (s) => s.rooms],
      [t("smart_lessons"), (s) => s.smart_lessons],
      [t("smart_per_room"), (s) => num(s.smart_lessons_per_room, s.reasons.class_hour_rate, 1)],
      [t("class_hour_rate.short"), (s) => rate(s.class_hour_rate, s.reasons, "class_hour_rate"), (s) => "rate " + (below(s.class_hour_rate) || "")],
      [t("subject_rate.short"), (s) => rate(s.subject_rate, s.reasons, "subject_rate"), (s) => "rate " + (below(s.subject_rate) || "")],
      [t("recording_weekly"), (s) => rate(s.recording_room_weekly_rate, s.reasons, "recording_room_weekly_rate")],
      [t("live_lessons"), (s) => num(s.live_lessons, s.reasons.live_lessons)],
      [t("quality"), (s) => D.bySubject(s.quality_recordings_by_subject, s.reasons.quality_recordings_by_subject, d.targets.quality_recordings_per_subject)],
      [t("quality.met"), (s) => num(s.quality_subjects_meeting, s.reasons.quality_recordings_by_subject)],
      [t("homework.met_weekly"), (s) => D.homeworkMet(s, "homework_meeting_weekly")],
      [t("homework.met_term"), (s) => D.homeworkMet(s, "homework_meeting_term")],
    ];
  }

  function render(d) {
    const tg = d.targets;
    fill("targets", el("p", {},
      t("class_hour_rate") + " " + tg.required_smart_lessons + " · " + t("subject_rate") + " " + tg.required_subjects +
      " · " + t("quality") + " ≥ " + tg.quality_recordings_per_subject + " · " + t("live_lessons") + " ≥ " + tg.live_lessons),
      el("p", { class: "note" }, t("school_weeks") + ": " + d.term.school_weeks + " · " + d.term.start + " – " + d.term.end +
        " · " + t("as_of") + " " + d.term.as_of));
    fill("district", table(levelCols(d), [d.district]));
    fill("schools", table([[t("school"), (s) => s.school], ...levelCols(d)], d.schools, { key: (s) => s.school }));
    fill("rooms", table([
      [t("school"), (x) => x.school],
      [t("room"), (x) => x.room],
      [t("lessons"), (x) => x.lessons],
      [t("smart_lessons"), (x) => x.smart_lessons],
      [t("class_hour_rate.short"), (x) => rate(x.class_hour_rate, x.reasons, "class_hour_rate"), (x) => "rate " + (below(x.class_hour_rate) || "")],
      [t("subjects"), (x) => x.subjects_taught],
      [t("subject_rate.short"), (x) => rate(x.subject_rate, x.reasons, "subject_rate"), (x) => "rate " + (below(x.subject_rate) || "")],
      [t("recorded_weeks"), (x) => (x.recording_room ? x.recorded_weeks + " / " + x.school_weeks : "–")],
      [t("usage_lessons"), (x) => x.usage_lessons],
    ], d.rooms, { key: (x) => x.school + "/" + x.room }));
  }

  D.start("/api/report", render, { school: school });
})();
