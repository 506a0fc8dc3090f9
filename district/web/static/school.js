// The school page: per room and per subject, the subject x week heat map of smart lessons,
// recordings per subject against 5 per term, tablet homework per class and subject.
"use strict";

(function () {
  const D = window.Dash;
  const { t, el, pct, num, table, fill, card, chart, link } = D;
  const below = (v) => (v !== null && v !== undefined && v < 1 ? "below" : null);
  const roomPath = (s, r) => "/schools/" + encodeURIComponent(s) + "/rooms/" + encodeURIComponent(r);

  function render(d) {
    const s = d.school;
    const r = s.reasons || {};
    fill("school-name", s.name ? s.name + " (" + s.school + ")" : s.school);
    fill("kpis",
      card(t("class_hour_rate"), pct(s.class_hour_rate, r.class_hour_rate), below(s.class_hour_rate),
           t("smart_per_room") + " " + num(s.smart_lessons_per_room, null, 1) + " / " + d.targets.required_smart_lessons),
      card(t("subject_rate"), pct(s.subject_rate, r.subject_rate), below(s.subject_rate),
           num(s.subjects_per_room, null, 1) + " / " + d.targets.required_subjects),
      card(t("rooms"), String(s.rooms)),
      card(t("recording_weekly"), pct(s.recording_room_weekly_rate, r.recording_room_weekly_rate)),
      card(t("live_lessons"), num(s.live_lessons, r.live_lessons), null, t("target") + " ≥ " + d.targets.live_lessons),
      card(t("quality"), s.quality_recordings_by_subject === null ? D.nodata(r.quality_recordings_by_subject)
             : s.quality_subjects_meeting + " / " + Object.keys(s.quality_recordings_by_subject).length,
           null, s.quality_recordings_by_subject === null ? (D.why(r.quality_recordings_by_subject) || null)
             : t("quality.met") + " (≥ " + d.targets.quality_recordings_per_subject + ")"),
      card(t("homework.met_term"), D.homeworkMet(s, "homework_meeting_term"), null,
           s.homework_class_subjects === null ? (D.why(r.homework_by_class_subject) || null)
             : t("homework.met_weekly") + " " + s.homework_meeting_weekly + " / " + s.homework_class_subjects),
    );

    fill("rooms", table([
      [t("room"), (x) => link(roomPath(x.school, x.room), x.room)],
      [t("state"), (x) => (x.silent ? t("never") : x.state ? t(x.state) : "–"), (x) => (x.state === "offline" || x.silent ? "warn" : null)],
      [t("lessons"), (x) => x.lessons],
      [t("smart_lessons"), (x) => x.smart_lessons],
      [t("class_hour_rate.short"), (x) => pct(x.class_hour_rate, x.reasons.class_hour_rate), (x) => "rate " + (below(x.class_hour_rate) || "")],
      [t("subjects"), (x) => x.subjects_taught],
      [t("subject_rate.short"), (x) => pct(x.subject_rate, x.reasons.subject_rate), (x) => "rate " + (below(x.subject_rate) || "")],
      [t("recorded_weeks"), (x) => (x.recording_room ? x.recorded_weeks + " / " + x.school_weeks : "–")],
      [t("recording_weekly"), (x) => (x.recording_room ? pct(x.recording_room_weekly_rate, x.reasons.recording_room_weekly_rate) : "–")],
      [t("missing"), (x) => x.data_loss.missing, (x) => (x.data_loss.missing ? "warn" : null)],
    ], d.rooms, { key: (x) => x.room,
                  rowClass: (x) => ((x.class_hour_rate || 0) < 1 || (x.subject_rate || 0) < 1 ? "below-row" : null) }));

    const h = d.heatmap;
    const max = Math.max(1, ...h.cells.map((c) => c[2]));
    chart("chart-heatmap", {
      tooltip: { position: "top" },
      grid: { left: 90, right: 20, top: 10, bottom: 90 },
      xAxis: { type: "category", data: h.weeks, splitArea: { show: true } },
      yAxis: { type: "category", data: h.subjects.map(D.subject), splitArea: { show: true } },
      visualMap: { min: 0, max: max, calculable: true, orient: "horizontal", left: "center", bottom: 5,
                   inRange: { color: ["#eef5fb", "#3b82c4", "#12365a"] } },
      series: [{ name: t("smart_lessons"), type: "heatmap", data: h.cells, label: { show: h.weeks.length <= 12 } }],
    });

    fill("subjects", table([
      [t("subject"), (x) => D.subject(x.subject)],
      [t("lessons"), (x) => x.lessons],
      [t("smart_lessons"), (x) => x.smart_lessons],
      [t("recorded"), (x) => x.recorded_lessons],
      [t("rooms"), (x) => x.rooms],
    ], d.subjects));

    const rec = d.recordings_by_subject;
    chart("chart-recordings", {
      tooltip: { trigger: "axis" },
      grid: { left: 50, right: 20, top: 20, bottom: 40 },
      xAxis: { type: "category", data: rec.map((x) => D.subject(x.subject)) },
      yAxis: { type: "value" },
      legend: { top: 0 },
      series: [{ name: t("recorded"), type: "bar", data: rec.map((x) => x.recorded_lessons), itemStyle: { color: "#8e6cc4" } },
               { name: t("quality"), type: "bar", data: rec.map((x) => x.quality_recordings), itemStyle: { color: "#2e9d5b" },
                 markLine: { silent: true, symbol: "none", data: [{ yAxis: d.targets.quality_recordings_per_subject }],
                             lineStyle: { color: "#d9534f", type: "dashed" } } }],
    });
    fill("recordings", table([
      [t("subject"), (x) => D.subject(x.subject)],
      [t("recorded"), (x) => x.recorded_lessons],
      [t("quality"), (x) => num(x.quality_recordings, x.reason), (x) => (x.meets === false ? "below" : null)],
      [t("target"), (x) => "≥ " + x.target],
    ], rec), rec.some((x) => x.reason)
      ? el("p", { class: "reason" }, t("quality.reason") + ": " + [...new Set(rec.map((x) => x.reason).filter(Boolean))].map(D.why).join(" · "))
      : null);

    const hw = d.homework;
    const tg = hw.targets;
    const known = hw.by_class_subject !== null;
    fill("homework",
      known ? null : el("p", { class: "reason" }, t("nodata") + ": " + D.why(hw.reason)),
      el("p", { class: "note" }, t("homework.targets", { week: tg.week, term: tg.term, wnt: tg.week_no_tablets, tnt: tg.term_no_tablets })),
      table([
        [t("class"), (x) => x.class_id || "–"],
        [t("subject"), (x) => D.subject(x.subject)],
        [t("lessons"), (x) => x.lessons],
        [t("homework.tablet_class"), (x) => D.yn(x.tablet_class)],
        [t("homework.per_week"), (x) => num(x.homework_per_week, hw.reason, 1)],
        [t("homework.weeks_met"), (x) => (known ? x.weeks_meeting + " / " + x.school_weeks + " (≥ " + x.week_target + ")" : num(null, hw.reason)),
         (x) => (known && !x.meets_weekly ? "below" : null)],
        [t("homework.term"), (x) => (known ? x.homework_term + " / " + x.term_target : num(null, hw.reason)),
         (x) => (known && !x.meets_term ? "below" : null)],
        [t("homework.submission_rate"), (x) => (x.submission_rate === null ? "–" : pct(x.submission_rate))],
      ], hw.classes));
  }

  D.start(D.base + "/schools/" + encodeURIComponent(D.P.school), render);
})();
